"""the product catalog per shop, and its syncs from the Admin API

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plugin.storage.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
Money = sa.Numeric(14, 2, asdecimal=True)


def _shop_id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("shop_id", Id, sa.ForeignKey("shops.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", Id, primary_key=True),
        _shop_id(),
        sa.Column("product_id", sa.String(64), nullable=False),
        sa.Column("title", sa.Text()),
        sa.Column("handle", sa.Text()),
        sa.Column("url", sa.Text()),
        sa.Column("product_type", sa.Text()),
        sa.Column("vendor", sa.Text()),
        sa.Column("tags", sa.JSON(none_as_null=True)),
        sa.Column("collections", sa.JSON(none_as_null=True)),
        sa.Column("image_url", sa.Text()),
        sa.Column("price", Money),
        sa.Column("compare_at_price", Money),
        sa.Column("available", sa.Boolean()),
        sa.Column("status", sa.String(16)),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime()),
        sa.Column("updated_at", UTCDateTime()),
        sa.Column("deleted_at", UTCDateTime()),
        sa.UniqueConstraint("shop_id", "product_id", name="uq_product"),
    )
    op.create_table(
        "catalog_syncs",
        sa.Column("id", Id, primary_key=True),
        _shop_id(),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("method", sa.String(16)),
        sa.Column("bulk_operation_id", sa.String(255)),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime()),
        sa.Column("checked_at", UTCDateTime()),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("products", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.UniqueConstraint("shop_id", name="uq_catalog_sync_shop"),
    )


def downgrade() -> None:
    op.drop_table("catalog_syncs")
    op.drop_table("products")
