"""each shop's recommendation model, and each customer's rhythm per product

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plugin.storage.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _shop_id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("shop_id", Id, sa.ForeignKey("shops.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "recommendation_models",
        sa.Column("id", Id, primary_key=True),
        _shop_id(),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("revision", sa.String(32), nullable=False),
        sa.Column("orders_through", Id, nullable=False),
        sa.Column("rhythms_through", Id, nullable=False),
        sa.Column("built_at", UTCDateTime(), nullable=False),
        sa.Column("rescored_at", UTCDateTime(), nullable=False),
        sa.Column("saved_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("shop_id", name="uq_recommendation_model_shop"),
    )
    op.create_table(
        "product_rhythms",
        sa.Column("id", Id, primary_key=True),
        _shop_id(),
        sa.Column("customer_external_id", sa.String(64), nullable=False),
        sa.Column("product_id", sa.String(64), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("first_at", UTCDateTime(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
        sa.Column("last_order_external_id", sa.String(64), nullable=False),
        sa.Column("expected_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint(
            "shop_id", "customer_external_id", "product_id", name="uq_product_rhythm"
        ),
    )
    op.create_index("ix_product_rhythms_due", "product_rhythms", ["shop_id", "expected_at"])


def downgrade() -> None:
    op.drop_index("ix_product_rhythms_due", table_name="product_rhythms")
    op.drop_table("product_rhythms")
    op.drop_table("recommendation_models")
