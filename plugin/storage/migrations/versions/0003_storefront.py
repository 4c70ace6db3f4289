"""storefront visitors, page views and topic signups

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plugin.storage.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _shop_id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("shop_id", Id, sa.ForeignKey("shops.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "visitors",
        sa.Column("id", Id, primary_key=True),
        _shop_id(),
        sa.Column("visitor_id", sa.String(64), nullable=False),
        sa.Column("customer_external_id", sa.String(64)),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("overlay_shown_at", UTCDateTime()),
        sa.Column("signed_up_at", UTCDateTime()),
        sa.UniqueConstraint("shop_id", "visitor_id", name="uq_visitor"),
    )
    op.create_table(
        "page_views",
        sa.Column("id", Id, primary_key=True),
        _shop_id(),
        sa.Column("visitor_id", sa.String(64), nullable=False),
        sa.Column("customer_external_id", sa.String(64)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("product_id", sa.String(64)),
        sa.Column("title", sa.String(255)),
        sa.Column("viewed_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_page_views_customer", "page_views", ["shop_id", "customer_external_id", "viewed_at"]
    )
    op.create_index("ix_page_views_visitor", "page_views", ["shop_id", "visitor_id", "viewed_at"])
    op.create_table(
        "topic_signups",
        sa.Column("id", Id, primary_key=True),
        _shop_id(),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("first_name", sa.String(255)),
        sa.Column("visitor_id", sa.String(64)),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("customer_external_id", sa.String(64)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime()),
        sa.UniqueConstraint("token", name="uq_topic_signup_token"),
    )
    op.create_index("ix_topic_signups_email", "topic_signups", ["shop_id", "email"])


def downgrade() -> None:
    op.drop_table("topic_signups")
    op.drop_table("page_views")
    op.drop_table("visitors")
