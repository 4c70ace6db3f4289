"""The fact model: what Nudge knows about a shop's customers, checkouts, orders and products.

Connectors fill these from platform payloads; platform field names never leak past them.
Facts from one delivery are often partial (since Shopify API 2025-01 a customer payload
carries no consent or order counts), so every field a payload may omit is Optional and
``None`` means "this delivery did not say", never "false" or "zero". The facts store
merges partial facts; rules see the merged result.

All datetimes are timezone-aware UTC. Money is ``Decimal`` in the shop's currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from rules.reorder import ProductRhythm


@dataclass(frozen=True, slots=True)
class LineItem:
    """One product line of a checkout or order, as its payload says it.

    Real Shopify line items name the product and variant but carry no product type or
    tags: those are the catalog's (``Product``), joined by product id when rules read them.
    """

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
class ProductVariant:
    """One variant of a product: what a line item's ``variant_id`` names."""

    id: str
    title: str | None = None
    sku: str | None = None
    price: Decimal | None = None
    compare_at_price: Decimal | None = None
    available: bool | None = None


@dataclass(frozen=True, slots=True)
class Product:
    """A product of the shop's catalog.

    Product deliveries and Admin API reads describe the whole product, so an empty field is
    a statement ("no type", no tags); ``None`` still means "not said": ``collections`` and
    ``url`` only come from the Admin API, never from webhooks. ``price`` and
    ``compare_at_price`` are those of the cheapest variant; ``available``: some variant
    can be bought. ``image_url`` is https or absent. ``status`` is ``active``, ``draft`` or
    ``archived``. A deleted product keeps what was known of it (old orders still name it);
    one known only by its deletion has no title (``described`` is False).
    """

    id: str
    variants: tuple[ProductVariant, ...] = ()
    title: str | None = None
    handle: str | None = None
    url: str | None = None
    product_type: str | None = None
    vendor: str | None = None
    tags: tuple[str, ...] | None = None
    collections: tuple[str, ...] | None = None
    image_url: str | None = None
    price: Decimal | None = None
    compare_at_price: Decimal | None = None
    available: bool | None = None
    status: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted: bool = False

    @property
    def described(self) -> bool:
        """Whether the catalog knows the product itself, not only that it was deleted."""
        return self.title is not None


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

    ``catalog`` holds the catalog's products that these facts name, by product id, and
    ``ordered_items`` the line items of the history's orders that stand (one per product):
    both are loaded only for workflows whose conditions read product attributes (the
    history's items only for those that read the customer's history of them). A product
    id the catalog lacks is one it does not know yet.
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
    catalog: Mapping[str, Product] = field(default_factory=dict)
    ordered_items: tuple[LineItem, ...] = ()
    # the customer's rhythm per product (rules.reorder), for workflows that read it
    product_rhythms: tuple[ProductRhythm, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)
