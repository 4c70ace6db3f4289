"""encrypted shop credentials: access and refresh tokens with expiry, granted scopes, email

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plugin.storage.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = (
    ("access_token_encrypted", sa.Text),
    ("access_token_expires_at", UTCDateTime),
    ("refresh_token_encrypted", sa.Text),
    ("refresh_token_expires_at", UTCDateTime),
    ("scopes", sa.Text),
    ("email", lambda: sa.String(320)),
)


def upgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        for name, _type in reversed(COLUMNS):
            batch.drop_column(name)
