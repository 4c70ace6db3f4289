"""WooCommerce: webhook signature check and payload mapping to normalized events.

WooCommerce signs each delivery with base64(HMAC-SHA256(raw body, webhook secret)) in
``X-WC-Webhook-Signature``. When a webhook is created it sends an unsigned form-encoded
ping (``webhook_id=<id>``) that must get a 200. It does not retry failed deliveries.
Order, customer and product payloads are the REST v3 resources (GET /wc/v3/orders/<id>).
The REST API is called only to write a customer's marketing consent back (customer meta
``_nudge_accepts_marketing``, which Nudge's companion plugin reads), with the store's REST
API keys (consumer key and secret) over HTTPS.
A product's categories stand for both Shopify's collections and its product type (the
first category); its brand, when the store has WooCommerce's brands, is the vendor.

WooCommerce has no cart webhooks and no marketing consent: Nudge's companion WordPress
plugin (``wordpress/nudge/`` beside this file) adds both. It writes order meta
``_nudge_accepts_marketing`` (``yes``/``no``, the checkout's opt-in box) and
``_nudge_cart_key`` (the cart the order came from), and posts carts as topic
``nudge.cart_updated``, signed like a webhook (``connectors.woocommerce.carts``). Tags Nudge
adds to a customer are kept in their meta ``nudge_tags`` (``connectors.woocommerce.rest_api``),
which customer deliveries carry back as the customer's tags.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from connectors import signing
from connectors.errors import MalformedPayload, UnknownTopic
from connectors.headers import header
from connectors.woocommerce import carts
from connectors.woocommerce.order_meta import (
    CART_KEY,
    CONSENT,
    TAGS,
    consent,
    meta_values,
    tag_list,
)
from connectors.woocommerce.stores import store_key
from rules import events as ev
from rules.events import Event
from rules.facts import Customer, LineItem, Order, Product, ProductVariant

log = logging.getLogger(__name__)

PRODUCT_TOPICS = frozenset({"product.created", "product.updated", "product.restored"})
TOPICS = frozenset(
    {
        "order.created",
        "order.updated",
        "customer.created",
        "customer.updated",
        *PRODUCT_TOPICS,
        "product.deleted",
        carts.TOPIC,
    }
)
"""Every topic that becomes facts."""

PRIVACY_TOPICS = frozenset({"customer.deleted"})
"""Topics the app carries out itself: a deleted customer is erased like Shopify's
``customers/redact`` (plugin.shopify_app.compliance)."""

__all__ = [
    "CART_KEY",
    "CONSENT",
    "MalformedPayload",
    "PRIVACY_TOPICS",
    "TAGS",
    "TOPICS",
    "UnknownTopic",
    "delivery_id_from_headers",
    "erased_customer",
    "is_ping",
    "sign",
    "source_from_headers",
    "to_events",
    "topic_from_headers",
    "verify",
]
# WooCommerce's post statuses, as Nudge's product statuses
PRODUCT_STATUS = {"publish": "active", "trash": "archived"}  # any other: not live, a draft
AVAILABLE = frozenset({"instock", "onbackorder"})


def topic_from_headers(headers: Mapping[str, str]) -> str | None:
    return header(headers, "X-WC-Webhook-Topic")


def delivery_id_from_headers(headers: Mapping[str, str]) -> str | None:
    return header(headers, "X-WC-Webhook-Delivery-ID")


def source_from_headers(headers: Mapping[str, str]) -> str | None:
    """The store that sent a delivery, by its ``X-WC-Webhook-Source``: WooCommerce's
    ``home_url('/')`` (class-wc-webhook.php, since 2.6), the site's home URL with its path,
    as a store key (``connectors.woocommerce.stores``); the header as given when it is not a
    store's address, None without the header."""
    raw = header(headers, "X-WC-Webhook-Source")
    if raw is None:
        return None
    return store_key(raw) or raw


sign = signing.sign


def verify(headers: Mapping[str, str], raw_body: bytes, secret: str) -> bool:
    """Check X-WC-Webhook-Signature over the raw bytes, in constant time."""
    return signing.matches(header(headers, "X-WC-Webhook-Signature"), raw_body, secret)


def is_ping(headers: Mapping[str, str], raw_body: bytes) -> bool:
    """The creation ping: no topic header, a form body naming the webhook id."""
    if topic_from_headers(headers):
        return False
    try:
        fields = parse_qs(raw_body.decode("ascii"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return False
    return set(fields) == {"webhook_id"}


def to_events(topic: str, payload: Any) -> list[Event]:
    """Map one delivery to normalized events."""
    if topic not in TOPICS:
        raise UnknownTopic(topic)
    if topic == carts.TOPIC:
        return carts.to_events(payload)
    if not isinstance(payload, dict) or not isinstance(payload.get("id"), int):
        raise MalformedPayload(f"{topic}: expected an object with an integer id")
    if topic == "product.deleted":
        product = Product(id=str(payload["id"]), deleted=True)
        return [Event(ev.PRODUCT_DELETED, product=product)]
    if topic in PRODUCT_TOPICS:
        product = _product(payload)
        return [Event(ev.PRODUCT_UPSERTED, occurred_at=product.updated_at, product=product)]
    if topic.startswith("customer."):
        customer = _customer(payload)
        kinds = [ev.CUSTOMER_UPSERTED] + (
            [ev.CUSTOMER_CREATED] if topic == "customer.created" else []
        )
        return [Event(kind, occurred_at=customer.updated_at, customer=customer) for kind in kinds]
    return _order_events(topic, payload)


def erased_customer(payload: Any) -> tuple[str, str | None]:
    """The customer a ``customer.deleted`` delivery names: their id, and their address when
    the delivery carries it (WooCommerce sends the id, sometimes the whole customer)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("id"), int):
        raise MalformedPayload("customer.deleted: expected an object with an integer id")
    return str(payload["id"]), _text(payload.get("email"))


def _order_events(topic: str, payload: dict[str, Any]) -> list[Event]:
    order = _order(payload)
    billing = _mapping(payload.get("billing"))
    result = []
    if order.customer_id:
        customer = Customer(
            id=order.customer_id,
            email=order.email,
            first_name=_text(billing.get("first_name")),
            last_name=_text(billing.get("last_name")),
        )
        result.append(Event(ev.CUSTOMER_UPSERTED, occurred_at=order.updated_at, customer=customer))
        if order.accepts_marketing is not None:
            # The opt-in box is the buyer's statement as of the order: dated by its creation,
            # so a repeat delivery of an older order never overrides a newer statement.
            said = Customer(
                id=order.customer_id,
                email=order.email,
                accepts_marketing=order.accepts_marketing,
                consent_updated_at=order.created_at,
            )
            result.append(Event(ev.CONSENT_CHANGED, occurred_at=order.created_at, customer=said))
    kind = ev.ORDER_PLACED if topic == "order.created" else ev.ORDER_UPDATED
    result.append(Event(kind, occurred_at=order.updated_at, order=order))
    if order.fulfilled_at is not None:
        result.append(Event(ev.ORDER_FULFILLED, occurred_at=order.fulfilled_at, order=order))
    if order.cancelled_at is not None:
        result.append(Event(ev.ORDER_CANCELLED, occurred_at=order.cancelled_at, order=order))
    return result


def _order(payload: dict[str, Any]) -> Order:
    status = _text(payload.get("status")) or ""
    billing = _mapping(payload.get("billing"))
    customer_id = payload.get("customer_id")
    modified = _gmt(payload, "date_modified")
    items = payload.get("line_items") or []
    if not isinstance(items, list):
        raise MalformedPayload("line_items is not a list")
    meta = meta_values(payload.get("meta_data"))
    cart_key = _text(meta.get(CART_KEY))
    return Order(
        id=str(payload["id"]),
        customer_id=str(customer_id) if isinstance(customer_id, int) and customer_id > 0 else None,
        email=_text(billing.get("email")),
        name="#" + str(payload.get("number") or payload["id"]),
        value=_money(payload.get("total")),
        currency=_text(payload.get("currency")),
        items=tuple(_line_item(item) for item in items if isinstance(item, dict)),
        created_at=_gmt(payload, "date_created"),
        updated_at=modified,
        fulfilled_at=_gmt(payload, "date_completed") if status == "completed" else None,
        cancelled_at=modified if status == "cancelled" else None,
        refunded=status == "refunded",
        financial_status=status or None,
        cart_token=cart_key[:255] if cart_key else None,
        accepts_marketing=consent(meta.get(CONSENT)),
    )


def _customer(payload: dict[str, Any]) -> Customer:
    meta = meta_values(payload.get("meta_data"))
    return Customer(
        id=str(payload["id"]),
        email=_text(payload.get("email")),
        first_name=_text(payload.get("first_name")),
        last_name=_text(payload.get("last_name")),
        tags=tag_list(meta[TAGS]) if TAGS in meta else None,
        created_at=_gmt(payload, "date_created"),
        updated_at=_gmt(payload, "date_modified"),
    )


def _line_item(item: dict[str, Any]) -> LineItem:
    quantity = item.get("quantity")
    product_id = item.get("product_id")
    variation_id = item.get("variation_id")
    return LineItem(
        product_id=str(product_id) if product_id else None,
        variant_id=str(variation_id) if variation_id else None,
        sku=_text(item.get("sku")) or None,
        title=_text(item.get("name")) or "",
        quantity=quantity if isinstance(quantity, int) else 1,
        price=_money(item.get("price")),
    )


def _product(payload: dict[str, Any]) -> Product:
    product_id = str(payload["id"])
    categories = _names(payload.get("categories"))
    brands = _names(payload.get("brands"))
    variations = payload.get("variations") or []
    if not isinstance(variations, list):
        raise MalformedPayload("variations is not a list")
    price = _optional_money(payload.get("price"))
    regular = _optional_money(payload.get("regular_price"))
    stock = _text(payload.get("stock_status"))
    images = payload.get("images")
    first_image = images[0] if isinstance(images, list) and images else None
    image = _text(first_image.get("src")) if isinstance(first_image, dict) else None
    if image is not None and not image.lower().startswith("https://"):
        log.warning("product %s: image URL dropped, not an https URL: %.80r", product_id, image)
        image = None
    permalink = _text(payload.get("permalink"))
    return Product(
        id=product_id,
        # a variation's own price arrives with its own deliveries; here only its id
        variants=tuple(
            ProductVariant(id=str(v)) for v in variations if isinstance(v, int) and v > 0
        ),
        title=_text(payload.get("name")) or "",
        handle=_text(payload.get("slug")),
        url=permalink if permalink and permalink.lower().startswith("https://") else None,
        product_type=categories[0] if categories else "",
        vendor=brands[0] if brands else "",
        tags=tuple(_names(payload.get("tags"))),
        collections=tuple(categories),
        image_url=image,
        price=price,
        compare_at_price=regular
        if regular is not None and price is not None and regular > price
        else None,
        available=stock in AVAILABLE if stock is not None else None,
        status=PRODUCT_STATUS.get(_text(payload.get("status")) or "", "draft"),
        created_at=_gmt(payload, "date_created"),
        updated_at=_gmt(payload, "date_modified"),
    )


def _names(value: Any) -> list[str]:
    """The names of a list of terms (categories, tags, brands): [{"id", "name", "slug"}]."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedPayload("expected a list of terms")
    return [term["name"] for term in value if isinstance(term, dict) and _text(term.get("name"))]


def _optional_money(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    amount = _money(value)
    if not amount.is_finite():
        raise MalformedPayload(f"not a finite amount: {value!r}")
    return amount


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _money(value: Any) -> Decimal:
    if value is None or isinstance(value, bool):
        return Decimal("0")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise MalformedPayload(f"not an amount: {value!r}") from exc


def _gmt(payload: dict[str, Any], field: str) -> datetime | None:
    """WooCommerce's ``<field>_gmt`` is naive UTC; fall back to the local field as UTC."""
    raw = payload.get(f"{field}_gmt") or payload.get(field)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise MalformedPayload(f"{field} is not a date string")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise MalformedPayload(f"{field}: not an ISO date: {raw!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
