"""single-use OAuth states, encrypted shop webhook secrets, the unconfirmed staff address

Revision ID: 0006
Revises: 0005

Existing plaintext webhook secrets stay where they are: the key that encrypts them is the
app's, which a migration does not have. They are read as they are, and moved to the
encrypted column the first time a webhook of that shop is verified with one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plugin.storage.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = (
    ("webhook_secret_encrypted", sa.Text),
    ("staff_email_unconfirmed", lambda: sa.String(320)),
)


def upgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_(), nullable=True))
    op.create_table(
        "oauth_states",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("shop_domain", sa.String(255), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_oauth_states_expires_at", "oauth_states", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oauth_states_expires_at", table_name="oauth_states")
    op.drop_table("oauth_states")
    with op.batch_alter_table("shops") as batch:
        for name, _type in reversed(COLUMNS):
            batch.drop_column(name)
