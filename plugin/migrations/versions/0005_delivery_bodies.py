"""delivery bodies in a table of their own, so marking a delivery processed is a small write

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "delivery_bodies",
        sa.Column(
            "delivery_id",
            Id,
            sa.ForeignKey("deliveries.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("body", sa.LargeBinary(), nullable=False),
    )
    op.execute("INSERT INTO delivery_bodies (delivery_id, body) SELECT id, body FROM deliveries")
    # SQLite drops a column in place (3.35+): a batch's copy-and-rename of the table would
    # delete it first, and with foreign keys on that deletes the bodies just copied
    op.drop_column("deliveries", "body")


def downgrade() -> None:
    op.add_column("deliveries", sa.Column("body", sa.LargeBinary(), nullable=True))
    op.execute(
        "UPDATE deliveries SET body = (SELECT body FROM delivery_bodies"
        " WHERE delivery_bodies.delivery_id = deliveries.id)"
    )
    op.drop_table("delivery_bodies")
