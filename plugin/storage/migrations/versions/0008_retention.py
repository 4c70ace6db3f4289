"""retention indexes (settled deliveries and page views by age); a shop's token renewal flag

Revision ID: 0008
Revises: 0006

The purge (plugin.pipeline.retention) deletes applied webhook bodies and storefront page
views older than their retention periods, a batch at a time; without these it would scan
both tables whole on every pass. ``shops.token_renewal_due`` is set when Shopify says the
shop granted more scopes (app/scopes_update): the token pair is renewed to carry them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.add_column(
            sa.Column("token_renewal_due", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index("ix_deliveries_settled", "deliveries", ["status", "received_at"])
    op.create_index("ix_page_views_viewed_at", "page_views", ["viewed_at"])


def downgrade() -> None:
    op.drop_index("ix_page_views_viewed_at", table_name="page_views")
    op.drop_index("ix_deliveries_settled", table_name="deliveries")
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("token_renewal_due")
