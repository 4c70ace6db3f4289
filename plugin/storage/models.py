"""The database schema: shops, the webhook inbox, facts, the catalog, episodes, steps and
the outbox.

One schema for SQLite (the embedded default) and PostgreSQL. Datetimes are stored as
naive UTC and come back timezone-aware, so rules always compare aware datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Store naive UTC, return aware UTC (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)

    # On SQLite, each conversion is one function, not this type's step composed with
    # SQLite's DATETIME step: every stored or compared datetime goes through these, and the
    # composed pair (with the DATETIME bind's %-formatting) showed in a replay's profile.
    # The text is the same as DATETIME's ("2026-03-02 12:00:00.000000"), which SQL
    # comparisons depend on; tests/test_models_datetime.py holds the two to it.
    def bind_processor(self, dialect: Any) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        bind = self.process_bind_param

        def to_sqlite_text(value: datetime | None) -> str | None:
            if value is not None and value.tzinfo is UTC:
                # most values: the offset ("+00:00") cut off, cheaper than converting
                return value.isoformat(" ", "microseconds")[:-6]
            naive = bind(value, dialect)
            return None if naive is None else naive.isoformat(" ", "microseconds")

        return to_sqlite_text

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def from_sqlite_text(value: str | None) -> datetime | None:
            if value is None:
                return None
            # parsed with its offset: replace(tzinfo=...) after the parse cost several times
            # the parse itself
            try:
                parsed = datetime.fromisoformat(value + "+00:00")
            except ValueError:
                parsed = None
            # text in another form reads as before: a date alone even parses, naive
            if parsed is None or parsed.tzinfo is not UTC:
                return datetime.fromisoformat(value).replace(tzinfo=UTC)
            return parsed

        return from_sqlite_text


def utcnow() -> datetime:
    return datetime.now(UTC)


Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only
Money = Numeric(14, 2, asdecimal=True)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), Decimal: Money, dict[str, Any]: JSON}


class Shop(Base):
    """A store that installed Nudge, with its credentials and shop-wide policies."""

    __tablename__ = "shops"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    platform: Mapped[str] = mapped_column(String(32), default="shopify")
    # Before 0004 a plaintext token lived here; it is never read for API calls any more.
    access_token: Mapped[str | None] = mapped_column(Text)
    # Admin API credentials, encrypted at rest (plugin.shopify_app.crypto, plugin.shopify_app.tokens); an expiring
    # offline token comes with a refresh token and both are rotated on refresh
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime | None]
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    refresh_token_expires_at: Mapped[datetime | None]
    scopes: Mapped[str | None] = mapped_column(Text)  # as granted, comma-separated
    # Shopify said the shop granted more scopes (app/scopes_update): renew the token pair so
    # that it carries them (plugin.shopify_app.tokens.renew_due)
    token_renewal_due: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    email: Mapped[str | None] = mapped_column(String(320))  # the shop's own contact address
    # A shop's own webhook secret (WooCommerce, a custom app): encrypted like the tokens.
    # Before migration 0006 it was kept in plaintext in ``webhook_secret``, read until it is moved.
    webhook_secret: Mapped[str | None] = mapped_column(Text)
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # A staff address set through the settings page and not yet confirmed by its link: no
    # test email or alert goes to it (plugin.web.staff_address)
    staff_email_unconfirmed: Mapped[str | None] = mapped_column(String(320))
    # send window, frequency cap, timezone, sender... see plugin.shop_settings.policies.DEFAULT_SETTINGS
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """A webhook delivery as received: the durable inbox. Raw bytes are kept as sent."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("shop_id", "source", "delivery_id", name="uq_delivery"),
        # NULLs never collide in a unique constraint, so shop-less batches need their own
        Index(
            "uq_delivery_unscoped",
            "source",
            "delivery_id",
            unique=True,
            sqlite_where=text("shop_id IS NULL"),
            postgresql_where=text("shop_id IS NULL"),
        ),
        Index("ix_deliveries_pending", "status", "id"),
        # what the retention purge reads: applied deliveries by age (plugin.pipeline.retention)
        Index("ix_deliveries_settled", "status", "received_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(32))  # shopify | woocommerce | sendgrid
    delivery_id: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(128))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # pending -> processed | ignored (unknown topic) | failed (error kept, retried by hand)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class CustomerRow(Base):
    """Merged facts about one customer of one shop."""

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("shop_id", "external_id", name="uq_customer"),
        Index("ix_customers_email", "shop_id", "email"),
        Index("ix_customers_last_activity", "shop_id", "last_activity_at"),
        Index("ix_customers_expected_reorder", "shop_id", "expected_reorder_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    accepts_marketing: Mapped[bool | None]
    consent_updated_at: Mapped[datetime | None]
    # None is SQL NULL (not JSON 'null'), however the row is written (plugin.storage.fact_rows)
    tags: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    orders_count: Mapped[int | None]
    total_spent: Mapped[Decimal | None]
    first_order_at: Mapped[datetime | None]
    last_order_at: Mapped[datetime | None]
    mean_days_between_orders: Mapped[float | None]
    # last_order_at + mean interval; what the purchase-cycle sweep scans
    expected_reorder_at: Mapped[datetime | None]
    last_engaged_at: Mapped[datetime | None]
    # max(last order, last engagement, created): what the re-engagement sweep scans
    last_activity_at: Mapped[datetime | None]
    timezone: Mapped[str | None] = mapped_column(String(64))
    unsubscribed_at: Mapped[datetime | None]
    created_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]


class CheckoutRow(Base):
    """A checkout or cart, keyed by its token."""

    __tablename__ = "checkouts"
    __table_args__ = (
        UniqueConstraint("shop_id", "token", name="uq_checkout"),
        Index("ix_checkouts_cart_token", "shop_id", "cart_token"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(String(255))
    cart_token: Mapped[str | None] = mapped_column(String(255))
    is_cart: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_external_id: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    value: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    currency: Mapped[str | None] = mapped_column(String(8))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    accepts_marketing: Mapped[bool | None]
    recovery_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    order_external_id: Mapped[str | None] = mapped_column(String(64))


class OrderRow(Base):
    """An order with its line items (kept as JSON: they are read whole, never queried)."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "external_id", name="uq_order"),
        Index("ix_orders_customer", "shop_id", "customer_external_id", "created_at"),
        Index("ix_orders_checkout", "shop_id", "checkout_token"),
        Index("ix_orders_cart", "shop_id", "cart_token"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(64))
    customer_external_id: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    checkout_token: Mapped[str | None] = mapped_column(String(255))
    cart_token: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    currency: Mapped[str | None] = mapped_column(String(8))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    financial_status: Mapped[str | None] = mapped_column(String(32))
    refunded: Mapped[bool] = mapped_column(Boolean, default=False)
    # the buyer's marketing opt-in on this order (Shopify's buyer_accepts_marketing, the
    # WooCommerce plugin's _nudge_accepts_marketing): a guest's only consent
    accepts_marketing: Mapped[bool | None]
    created_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]
    fulfilled_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]


class ProductRow(Base):
    """A product of a shop's catalog (rules.facts.Product), kept after its deletion.

    Variants are kept as JSON with the product (read whole, never queried: line items name
    their product). ``deleted_at`` set: deleted, never offered again; a row with no title
    is a product known only by its deletion. ``collections`` NULL: not known (webhooks do
    not carry them; the Admin API does).
    """

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("shop_id", "product_id", name="uq_product"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(Text)
    handle: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    product_type: Mapped[str | None] = mapped_column(Text)
    vendor: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    collections: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    image_url: Mapped[str | None] = mapped_column(Text)
    price: Mapped[Decimal | None]
    compare_at_price: Mapped[Decimal | None]
    available: Mapped[bool | None]
    status: Mapped[str | None] = mapped_column(String(16))
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class CatalogSync(Base):
    """A shop's catalog read whole from the Admin API: the latest one, asked for at install
    or by ``nudge catalog sync``.

    queued -> running (a bulk operation Shopify runs, polled by the worker) -> done |
    failed (``error``); a paginated read goes from queued to done in one pass.
    """

    __tablename__ = "catalog_syncs"
    __table_args__ = (UniqueConstraint("shop_id", name="uq_catalog_sync_shop"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    method: Mapped[str | None] = mapped_column(String(16))  # pages | bulk
    bulk_operation_id: Mapped[str | None] = mapped_column(String(255))
    requested_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    checked_at: Mapped[datetime | None]  # when a running bulk operation was last asked about
    finished_at: Mapped[datetime | None]
    products: Mapped[int] = mapped_column(Integer, default=0)  # recorded by the last read
    deleted: Mapped[int] = mapped_column(Integer, default=0)  # marked deleted by it
    error: Mapped[str | None] = mapped_column(Text)


class RecommendationModel(Base):
    """A shop's recommendation model (rules.recommend.Model) as JSON, where the worker that
    keeps it fresh and every process that serves it read it.

    ``orders_through``: the highest ``orders.id`` it has counted; the orders stored after it
    are counted next, each once (a redelivered order keeps its row, so never twice).
    ``rhythms_through``: the same for the customers' rhythms per product, which follow every
    new order at once (the model's count waits up to a quarter of an hour).
    ``revision`` changes with every save: a process keeps the model it parsed until then.
    """

    __tablename__ = "recommendation_models"
    __table_args__ = (UniqueConstraint("shop_id", name="uq_recommendation_model_shop"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    snapshot: Mapped[str] = mapped_column(Text)
    revision: Mapped[str] = mapped_column(String(32))
    orders_through: Mapped[int] = mapped_column(Id, default=0)
    rhythms_through: Mapped[int] = mapped_column(Id, default=0)
    built_at: Mapped[datetime]  # rebuilt from every stored order
    rescored_at: Mapped[datetime]
    saved_at: Mapped[datetime]


class ProductRhythmRow(Base):
    """How often one customer re-orders one product: the orders of it that stand, the
    first and the latest, and when the next is due at that pace (two orders at least).

    What the purchase-cycle sweep scans for a consumable re-ordered on its own rhythm;
    kept by the same worker stage as the recommendation model, from the same new orders.
    """

    __tablename__ = "product_rhythms"
    __table_args__ = (
        UniqueConstraint("shop_id", "customer_external_id", "product_id", name="uq_product_rhythm"),
        Index("ix_product_rhythms_due", "shop_id", "expected_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_external_id: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[str] = mapped_column(String(64))
    orders: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    last_order_external_id: Mapped[str] = mapped_column(String(64))  # the latest with it
    expected_at: Mapped[datetime]


class EngagementRow(Base):
    """An email event from SendGrid (open, click, bounce, unsubscribe...)."""

    __tablename__ = "engagements"
    __table_args__ = (
        UniqueConstraint("event_id", name="uq_engagement_event"),
        Index("ix_engagements_email", "shop_id", "email", "occurred_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(320))
    message_id: Mapped[int | None]
    occurred_at: Mapped[datetime]
    url: Mapped[str | None] = mapped_column(Text)


class Suppression(Base):
    """An address that must not get marketing (scope 'marketing') or any mail ('all')."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("shop_id", "email", "scope", name="uq_suppression"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    scope: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkflowConfig(Base):
    """A shop's saved version of a workflow definition (the shipped JSON when absent)."""

    __tablename__ = "workflow_configs"
    __table_args__ = (UniqueConstraint("shop_id", "name", "version", name="uq_workflow_version"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    # what the merchant confirmed with this version, such as relabelling it transactional
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Episode(Base):
    """One customer going through one workflow for one subject (checkout, order, customer)."""

    __tablename__ = "episodes"
    __table_args__ = (
        # subject first: exits and re-anchoring look episodes up by subject alone
        Index("ix_episodes_subject", "shop_id", "subject", "workflow", "enrolled_at"),
        Index("ix_episodes_customer", "shop_id", "customer_external_id", "state"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    workflow: Mapped[str] = mapped_column(String(64))
    workflow_version: Mapped[int] = mapped_column(Integer, default=0)
    subject: Mapped[str] = mapped_column(String(255))
    customer_external_id: Mapped[str] = mapped_column(String(64))
    # active -> completed (all steps ran) | exited (exit event) | cancelled
    state: Mapped[str] = mapped_column(String(16), default="active")
    holdout: Mapped[bool] = mapped_column(Boolean, default=False)
    enrolled_at: Mapped[datetime]
    anchor_at: Mapped[datetime]  # what step delays count from (last checkout activity, ...)
    ended_at: Mapped[datetime | None]
    exit_reason: Mapped[str | None] = mapped_column(String(128))
    converted_at: Mapped[datetime | None]


class Step(Base):
    """A scheduled step of an episode; ``due_at`` is when its conditions are next checked."""

    __tablename__ = "steps"
    __table_args__ = (
        UniqueConstraint("episode_id", "step_id", name="uq_step"),
        # Only pending steps are indexed by due time: the index stays the size of the queue,
        # and lookups by episode cannot mistake it for a better path than uq_step.
        Index(
            "ix_steps_pending_due",
            "due_at",
            "id",
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    step_id: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    # pending -> fired | skipped (reason) | cancelled (episode ended); deferrals stay pending
    state: Mapped[str] = mapped_column(String(16), default="pending")
    due_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    deferrals: Mapped[int] = mapped_column(Integer, default=0)


class OutboxMessage(Base):
    """A side effect to perform: an email, or a discount/tag/staff alert to record or apply.

    ``idempotency_key`` (shop, workflow, customer, episode, step, action) makes writing it
    twice impossible; delivery claims rows atomically and retries with backoff.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_outbox_key"),
        Index("ix_outbox_ready", "state", "next_attempt_at"),
        Index("ix_outbox_customer", "shop_id", "customer_external_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(
        String(32)
    )  # email | create_discount | tag_customer | notify_staff | sendgrid_unsubscribe | consent
    workflow: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32), default="marketing")
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episodes.id", ondelete="SET NULL"))
    step_id: Mapped[str | None] = mapped_column(String(64))
    customer_external_id: Mapped[str | None] = mapped_column(String(64))
    to_email: Mapped[str | None] = mapped_column(String(320))
    template: Mapped[str | None] = mapped_column(String(128))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    subject: Mapped[str | None] = mapped_column(Text)
    preview_html: Mapped[str | None] = mapped_column(Text)
    # pending -> sending -> sent | kept (no API key: preview only) | failed (parked) | suppressed
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class ComplianceRecord(Base):
    """A privacy or lifecycle request Shopify sent, what was done, and any data export."""

    __tablename__ = "compliance_records"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    topic: Mapped[str] = mapped_column(String(64))
    customer_external_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(Text)
    export: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]


class OAuthState(Base):
    """The nonce of an install started with the authorization code grant: used once."""

    __tablename__ = "oauth_states"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Visitor(Base):
    """A storefront visitor, known by the first-party id the storefront script keeps.

    The id alone proves nothing; ``customer_external_id`` is set only through a verified
    channel (a signed email-link or app-proxy token), never by a form it submitted.
    """

    __tablename__ = "visitors"
    __table_args__ = (UniqueConstraint("shop_id", "visitor_id", name="uq_visitor"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    visitor_id: Mapped[str] = mapped_column(String(64))
    customer_external_id: Mapped[str | None] = mapped_column(String(64))
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    overlay_shown_at: Mapped[datetime | None]
    signed_up_at: Mapped[datetime | None]


class PageView(Base):
    """A page or product view sent by the storefront script."""

    __tablename__ = "page_views"
    __table_args__ = (
        Index("ix_page_views_customer", "shop_id", "customer_external_id", "viewed_at"),
        Index("ix_page_views_visitor", "shop_id", "visitor_id", "viewed_at"),
        Index("ix_page_views_viewed_at", "viewed_at"),  # the retention purge, by age
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    visitor_id: Mapped[str] = mapped_column(String(64))
    customer_external_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # page | product
    path: Mapped[str] = mapped_column(String(512))
    product_id: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(255))
    viewed_at: Mapped[datetime]


class TopicSignup(Base):
    """A storefront signup for a topic; it enrolls nobody until its address is confirmed."""

    __tablename__ = "topic_signups"
    __table_args__ = (
        UniqueConstraint("token", name="uq_topic_signup_token"),
        Index("ix_topic_signups_email", "shop_id", "email"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    topic: Mapped[str] = mapped_column(String(64))
    first_name: Mapped[str | None] = mapped_column(String(255))
    visitor_id: Mapped[str | None] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(64))
    # pending -> confirmed
    state: Mapped[str] = mapped_column(String(16), default="pending")
    customer_external_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]


class RefusalCount(Base):
    """How often a workflow's trigger came and enrolled nobody, per reason (workflow off,
    event older than the trigger's window, re-enrollment window...)."""

    __tablename__ = "refusal_counts"
    __table_args__ = (UniqueConstraint("shop_id", "workflow", "reason", name="uq_refusal_count"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    workflow: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[datetime]


class CustomerRefusal(Base):
    """The latest refusal to enroll one customer in one workflow: one row per customer and
    workflow at most, so what is kept stays bounded by the number of workflows."""

    __tablename__ = "customer_refusals"
    __table_args__ = (
        UniqueConstraint("shop_id", "customer_external_id", "workflow", name="uq_customer_refusal"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_external_id: Mapped[str] = mapped_column(String(64))
    workflow: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str | None] = mapped_column(String(255))
    event: Mapped[str | None] = mapped_column(String(32))  # the trigger's event kind
    event_at: Mapped[datetime | None]  # when what triggered happened
    refused_at: Mapped[datetime]
