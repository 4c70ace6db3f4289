"""Normalized events: the one vocabulary between connectors and the rest of Nudge.

A connector turns a platform delivery into a list of ``Event``; the facts store applies
them and the engine reacts to their ``kind``. Every kind is listed here, each with its
contract right under it. Workflow definitions name these kinds in ``trigger.event`` and
``exit_on``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rules.facts import Checkout, Customer, Engagement, Order, Product

CUSTOMER_UPSERTED = "customer_upserted"
"""A customer was created or changed; ``customer`` holds what the delivery said (partial)."""

CUSTOMER_CREATED = "customer_created"
"""A customer account was created; ``customer`` is set. Always follows a CUSTOMER_UPSERTED."""

CONSENT_CHANGED = "consent_changed"
"""Marketing consent changed; ``customer`` carries ``accepts_marketing`` and ``consent_updated_at``."""

TAGS_ADDED = "tags_added"
"""Tags were added to a customer; ``customer.id`` and ``data['tags']`` (list of str)."""

TAGS_REMOVED = "tags_removed"
"""Tags were removed from a customer; ``customer.id`` and ``data['tags']`` (list of str)."""

PURCHASING_SUMMARY = "purchasing_summary"
"""Shopify's order count and total spent for a customer; ``customer`` carries them."""

CHECKOUT_UPDATED = "checkout_updated"
"""A checkout or cart was created or changed; ``checkout`` is set, ``customer`` when known."""

ORDER_PLACED = "order_placed"
"""A new order; ``order`` is set, ``customer`` when known. Exits abandonment for its checkout."""

ORDER_UPDATED = "order_updated"
"""An existing order changed (paid, edited, refunded); ``order`` is set."""

ORDER_FULFILLED = "order_fulfilled"
"""An order (or part of it) was fulfilled; ``order`` carries ``fulfilled_at``."""

ORDER_CANCELLED = "order_cancelled"
"""An order was cancelled; ``order`` carries ``cancelled_at``."""

EMAIL_ENGAGED = "email_engaged"
"""A customer opened or clicked a Nudge email; ``engagement`` is set."""

EMAIL_DELIVERED = "email_delivered"
"""SendGrid handed a Nudge email to the recipient's mail server; ``engagement`` is set (kind
'delivered'). Not engagement: it exits nothing and keeps nobody active. Attribution reads it."""

EMAIL_SUPPRESSED = "email_suppressed"
"""An address bounced, was dropped, reported spam or unsubscribed; ``engagement`` is set."""

CUSTOMER_INACTIVE = "customer_inactive"
"""Synthetic, from the re-engagement sweep: no order and no engagement for N days."""

REORDER_APPROACHING = "reorder_approaching"
"""Synthetic, from the purchase-cycle sweep: a customer's expected re-order date is near."""

CUSTOMER_SUBSCRIBED = "customer_subscribed"
"""Synthetic, from enrollment: a customer newly holds marketing consent (created with it, or
consent granted); ``customer`` is the merged customer. Not sent again for an unchanged consent."""

TOPIC_SIGNUP = "topic_signup"
"""A contact asked for a topic's emails: a confirmed storefront signup, or a ``topic:<name>``
customer tag; ``customer`` is set and ``data['topic']`` (str, lowercase) names the topic."""

PRODUCT_UPSERTED = "product_upserted"
"""A product was created or changed; ``product`` describes it whole (as of its ``updated_at``).
From product webhooks and from the Admin API (a catalog sync, or a product looked up)."""

PRODUCT_DELETED = "product_deleted"
"""A product was deleted; ``product.id`` names it and ``product.deleted`` is set. Orders
that name it keep their meaning (the catalog keeps what it knew); it is never offered again."""

CATALOG_KINDS = frozenset({PRODUCT_UPSERTED, PRODUCT_DELETED})
"""The kinds about the shop's catalog: they concern no customer, so they enroll no one."""

KINDS = frozenset(
    {
        CUSTOMER_UPSERTED,
        CUSTOMER_CREATED,
        CONSENT_CHANGED,
        TAGS_ADDED,
        TAGS_REMOVED,
        PURCHASING_SUMMARY,
        CHECKOUT_UPDATED,
        ORDER_PLACED,
        ORDER_UPDATED,
        ORDER_FULFILLED,
        ORDER_CANCELLED,
        EMAIL_ENGAGED,
        EMAIL_DELIVERED,
        EMAIL_SUPPRESSED,
        CUSTOMER_INACTIVE,
        REORDER_APPROACHING,
        CUSTOMER_SUBSCRIBED,
        TOPIC_SIGNUP,
        PRODUCT_UPSERTED,
        PRODUCT_DELETED,
    }
)


@dataclass(frozen=True)
class Event:
    """One normalized thing that happened in a shop."""

    kind: str
    occurred_at: datetime | None = None
    customer: Customer | None = None
    checkout: Checkout | None = None
    order: Order | None = None
    engagement: Engagement | None = None
    data: dict[str, object] | None = None
    product: Product | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}")
