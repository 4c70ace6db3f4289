"""the buyer's marketing opt-in on each order

Revision ID: 0012
Revises: 0006

A guest buyer has no customer record to hold consent; the order's own opt-in (Shopify's
``buyer_accepts_marketing``, the WooCommerce plugin's ``_nudge_accepts_marketing``) is
kept with the order so a step about that order can read it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("accepts_marketing", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("accepts_marketing")
