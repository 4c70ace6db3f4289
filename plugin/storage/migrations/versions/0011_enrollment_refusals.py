"""enrollment refusals: per-workflow counters and the latest per customer and workflow

Revision ID: 0011
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plugin.storage.models import UTCDateTime

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "refusal_counts",
        sa.Column("id", ID, primary_key=True),
        sa.Column("shop_id", ID, sa.ForeignKey("shops.id", ondelete="CASCADE"), nullable=False),
        sa.Column("workflow", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("shop_id", "workflow", "reason", name="uq_refusal_count"),
    )
    op.create_table(
        "customer_refusals",
        sa.Column("id", ID, primary_key=True),
        sa.Column("shop_id", ID, sa.ForeignKey("shops.id", ondelete="CASCADE"), nullable=False),
        sa.Column("customer_external_id", sa.String(64), nullable=False),
        sa.Column("workflow", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(255), nullable=True),
        sa.Column("event", sa.String(32), nullable=True),
        sa.Column("event_at", UTCDateTime(), nullable=True),
        sa.Column("refused_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint(
            "shop_id", "customer_external_id", "workflow", name="uq_customer_refusal"
        ),
    )


def downgrade() -> None:
    op.drop_table("customer_refusals")
    op.drop_table("refusal_counts")
