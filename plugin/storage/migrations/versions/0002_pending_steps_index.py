"""index only pending steps by due time

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table("steps") as batch:
        batch.drop_index("ix_steps_due")
        batch.create_index(
            "ix_steps_pending_due",
            ["due_at", "id"],
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        )


def downgrade() -> None:
    with op.batch_alter_table("steps") as batch:
        batch.drop_index("ix_steps_pending_due")
        batch.create_index("ix_steps_due", ["state", "due_at"])
