"""The fact model: what Nudge knows about a shop's customers, checkouts and orders.

Connectors fill these from platform payloads; platform field names never leak past them.
Facts from one delivery are often partial (since Shopify API 2025-01 a customer payload
carries no consent or order counts), so every field a payload may omit is Optional and
``None`` means "this delivery did not say", never "false" or "zero". The facts store
merges partial facts; rules see the merged result.

All datetimes are timezone-aware UTC. Money is ``Decimal`` in the shop's currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class LineItem:
    """One product line of a checkout or order."""

    product_id: str | None = None
    variant_id: str | None = None
    sku: str | None = None
    title: str = ""
    quantity: int = 1
    price: Decimal = Decimal("0")
    vendor: str | None = None
    product_type: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Customer:
    """A shopper known by id (and usually email)."""

    id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    accepts_marketing: bool | None = None
    consent_updated_at: datetime | None = None
    tags: tuple[str, ...] | None = None
    orders_count: int | None = None
    total_spent: Decimal | None = None
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    mean_days_between_orders: float | None = None
    last_engaged_at: datetime | None = None
    timezone: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Checkout:
    """A cart or checkout; abandonment means an email, no completion, and idleness."""

    token: str
    customer_id: str | None = None
    email: str | None = None
    value: Decimal = Decimal("0")
    currency: str | None = None
    items: tuple[LineItem, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    recovery_url: str | None = None
    cart_token: str | None = None
    accepts_marketing: bool | None = None
    is_cart: bool = False


@dataclass(frozen=True, slots=True)
class Order:
    """A placed order; ``checkout_token`` ties it to the checkout it converted."""

    id: str
    customer_id: str | None = None
    email: str | None = None
    checkout_token: str | None = None
    cart_token: str | None = None
    name: str | None = None
    value: Decimal = Decimal("0")
    currency: str | None = None
    items: tuple[LineItem, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    fulfilled_at: datetime | None = None
    cancelled_at: datetime | None = None
    refunded: bool = False
    financial_status: str | None = None
    accepts_marketing: bool | None = None


@dataclass(frozen=True, slots=True)
class Engagement:
    """An email engagement (open, click) or suppression signal for a customer."""

    kind: str
    email: str
    occurred_at: datetime
    message_id: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class PageVisit:
    """A storefront page or product a known customer viewed (recorded by the storefront script)."""

    path: str
    viewed_at: datetime
    title: str | None = None
    product_id: str | None = None


@dataclass(frozen=True, slots=True)
class Browsing:
    """What a customer did on the storefront within a workflow's window, newest first.

    ``high_intent`` holds the visits to pages the merchant marked as high-intent;
    ``abandoned_cart_value`` is the largest cart left open (idle, not completed) in the window.
    """

    high_intent: tuple[PageVisit, ...] = ()
    recent: tuple[PageVisit, ...] = ()
    abandoned_cart_value: Decimal = Decimal("0")


@dataclass(frozen=True, slots=True)
class FactSet:
    """Everything a step's conditions may look at, as it is at evaluation time.

    ``orders`` is the customer's order history, newest first, without the orders' line
    items: no variable reads them of a history (a property test holds every variable to
    that), so they are not loaded. ``order`` and ``checkout`` are the episode's subject
    when it has one, with their items.
    """

    now: datetime
    customer: Customer
    checkout: Checkout | None = None
    order: Order | None = None
    orders: tuple[Order, ...] = ()
    anchor_at: datetime | None = None
    last_marketing_email_at: datetime | None = None
    last_abandonment_email_at: datetime | None = None
    suppressed: bool = False
    browsing: Browsing | None = None  # loaded only for workflows that look at browsing
    extra: dict[str, object] = field(default_factory=dict)
