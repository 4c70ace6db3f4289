"""Shopify: webhook verification and payload -> normalized events.

Shopify signs every delivery with base64(HMAC-SHA256(raw body, app secret)) in
``X-Shopify-Hmac-Sha256``; topic, shop and delivery id come in the standard headers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from connectors import signing
from connectors.errors import MalformedPayload, UnknownTopic
from connectors.headers import header
from connectors.shopify import mapping
from rules import events as ev
from rules.events import Event
from rules.facts import Customer, Order

__all__ = [
    "ACCEPTED_TOPICS",
    "COMPLIANCE_TOPICS",
    "MalformedPayload",
    "TOPICS",
    "TOPIC_ALIASES",
    "UnknownTopic",
    "canonical_topic",
    "delivery_id_from_headers",
    "shop_from_headers",
    "sign",
    "to_events",
    "topic_from_headers",
    "verify",
]

COMPLIANCE_TOPICS = frozenset(
    {
        "customers/data_request",
        "customers/redact",
        "shop/redact",
        "app/uninstalled",
        "app/scopes_update",
    }
)
"""Lifecycle and privacy topics; the app handles them itself (they carry no facts)."""

sign = signing.sign


def verify(headers: Mapping[str, str], raw_body: bytes, secret: str) -> bool:
    """Check X-Shopify-Hmac-Sha256 over the raw bytes, in constant time; never raises."""
    return signing.matches(header(headers, "X-Shopify-Hmac-Sha256"), raw_body, secret)


def topic_from_headers(headers: Mapping[str, str]) -> str | None:
    """Return the delivery's topic (X-Shopify-Topic), or None."""
    return header(headers, "X-Shopify-Topic")


def shop_from_headers(headers: Mapping[str, str]) -> str | None:
    """Return the sending shop's myshopify domain (X-Shopify-Shop-Domain), or None."""
    return header(headers, "X-Shopify-Shop-Domain")


def delivery_id_from_headers(headers: Mapping[str, str]) -> str | None:
    """Return the delivery's dedup key (X-Shopify-Webhook-Id), or None."""
    return header(headers, "X-Shopify-Webhook-Id")


def _checkout_events(payload: Any, is_cart: bool) -> list[Event]:
    checkout = mapping.checkout(payload, is_cart=is_cart)
    customer = mapping.embedded_customer(payload)
    at = checkout.updated_at or checkout.created_at
    result = [Event(ev.CUSTOMER_UPSERTED, occurred_at=at, customer=customer)] if customer else []
    return result + [
        Event(ev.CHECKOUT_UPDATED, occurred_at=at, checkout=checkout, customer=customer)
    ]


def _order_events(kind: str) -> Callable[[Any], list[Event]]:
    # An order delivery that already says "fulfilled" or "cancelled" also yields that
    # event: deliveries arrive out of order, and the topic-specific one may never come.
    def events(payload: Any) -> list[Event]:
        order = mapping.order(payload, fulfilled=kind == ev.ORDER_FULFILLED)
        customer = mapping.embedded_customer(payload)
        at = order.updated_at or order.created_at
        result = (
            [Event(ev.CUSTOMER_UPSERTED, occurred_at=at, customer=customer)] if customer else []
        )
        result.append(Event(kind, occurred_at=at, order=order, customer=customer))
        if kind != ev.ORDER_FULFILLED and order.fulfilled_at is not None:
            result.append(Event(ev.ORDER_FULFILLED, occurred_at=order.fulfilled_at, order=order))
        if kind != ev.ORDER_CANCELLED and order.cancelled_at is not None:
            result.append(Event(ev.ORDER_CANCELLED, occurred_at=order.cancelled_at, order=order))
        return result

    return events


def _fulfillment_events(payload: Any) -> list[Event]:
    data = mapping.obj(payload, "fulfillment")
    order_id = mapping.object_id(data.get("order_id"), "fulfillment order_id")
    if data.get("status") != "success":
        return []  # pending, open, cancelled, error, failure: nothing went out yet
    at = mapping.moment(data.get("created_at"), "created_at") or mapping.moment(
        data.get("updated_at"), "updated_at"
    )
    # Only what a fulfilment knows: the order's own updated_at stays the order topics' to set.
    order = Order(id=order_id, fulfilled_at=at)
    return [Event(ev.ORDER_FULFILLED, occurred_at=at, order=order)]


def _customer_events(created: bool) -> Callable[[Any], list[Event]]:
    def events(payload: Any) -> list[Event]:
        customer = mapping.customer(payload)
        at = customer.updated_at or customer.created_at
        result = [Event(ev.CUSTOMER_UPSERTED, occurred_at=at, customer=customer)]
        return result + (
            [Event(ev.CUSTOMER_CREATED, occurred_at=at, customer=customer)] if created else []
        )

    return events


def _consent_events(payload: Any) -> list[Event]:
    data = mapping.obj(payload, "consent update")
    accepts, at = mapping.consent(data)
    if accepts is None:
        raise MalformedPayload("email_marketing_consent: missing state")
    customer = Customer(
        id=mapping.object_id(data.get("customer_id"), "customer_id"),
        email=mapping.text(data.get("email_address")),
        accepts_marketing=accepts,
        consent_updated_at=at,
    )
    return [Event(ev.CONSENT_CHANGED, occurred_at=at, customer=customer)]


def _summary_events(payload: Any) -> list[Event]:
    data = mapping.obj(payload, "purchasing summary")
    count = data.get("numberOfOrders")
    spent = data.get("amountSpent")
    customer = Customer(
        id=mapping.object_id(data.get("customerId"), "customerId"),
        orders_count=count if isinstance(count, int) and not isinstance(count, bool) else None,
        total_spent=mapping.money(spent.get("amount"), "amountSpent")
        if isinstance(spent, dict)
        else None,
    )
    at = mapping.moment(data.get("occurredAt"), "occurredAt")
    return [Event(ev.PURCHASING_SUMMARY, occurred_at=at, customer=customer)]


def _tag_events(kind: str) -> Callable[[Any], list[Event]]:
    def events(payload: Any) -> list[Event]:
        data = mapping.obj(payload, "tags change")
        tags = mapping.tag_list(data.get("tags"))
        if tags is None:
            raise MalformedPayload("tags: missing")
        customer = Customer(id=mapping.object_id(data.get("customerId"), "customerId"))
        at = mapping.moment(data.get("occurredAt"), "occurredAt")
        return [Event(kind, occurred_at=at, customer=customer, data={"tags": list(tags)})]

    return events


def _product_events(payload: Any) -> list[Event]:
    product = mapping.product(payload)
    return [Event(ev.PRODUCT_UPSERTED, occurred_at=product.updated_at, product=product)]


def _product_deleted(payload: Any) -> list[Event]:
    # no time in the payload: the inbox dates it by the delivery's arrival
    return [Event(ev.PRODUCT_DELETED, product=mapping.deleted_product(payload))]


_HANDLERS: dict[str, Callable[[Any], list[Event]]] = {
    "checkouts/create": lambda p: _checkout_events(p, is_cart=False),
    "checkouts/update": lambda p: _checkout_events(p, is_cart=False),
    "carts/create": lambda p: _checkout_events(p, is_cart=True),
    "carts/update": lambda p: _checkout_events(p, is_cart=True),
    "orders/create": _order_events(ev.ORDER_PLACED),
    "orders/paid": _order_events(ev.ORDER_UPDATED),
    "orders/updated": _order_events(ev.ORDER_UPDATED),
    "orders/fulfilled": _order_events(ev.ORDER_FULFILLED),
    "orders/partially_fulfilled": _order_events(ev.ORDER_FULFILLED),
    "orders/cancelled": _order_events(ev.ORDER_CANCELLED),
    "fulfillments/create": _fulfillment_events,
    "fulfillments/update": _fulfillment_events,
    "customers/create": _customer_events(created=True),
    "customers/update": _customer_events(created=False),
    "customers_email_marketing_consent/update": _consent_events,
    "customers/purchasing_summary": _summary_events,
    "customer.tags_added": _tag_events(ev.TAGS_ADDED),
    "customer.tags_removed": _tag_events(ev.TAGS_REMOVED),
    "products/create": _product_events,
    "products/update": _product_events,
    "products/delete": _product_deleted,
}

TOPICS = frozenset(_HANDLERS)
"""Every topic that becomes facts, as the manifest subscribes to them."""

TOPIC_ALIASES: Mapping[str, str] = {
    # How the consent topic is often written (Shopify's changelog among them); Shopify
    # sends and subscribes to customers_email_marketing_consent/update.
    "customers/email_marketing_consent_update": "customers_email_marketing_consent/update",
    # Spelled like the REST topics by some clients; Shopify's name has the dot.
    "customers/tags_added": "customer.tags_added",
    "customers/tags_removed": "customer.tags_removed",
}
"""Other spellings of handled topics, each mapped to its name in ``TOPICS``."""

ACCEPTED_TOPICS = TOPICS | frozenset(TOPIC_ALIASES)
"""Every topic string ``to_events`` accepts."""


def canonical_topic(topic: str) -> str:
    """Return the ``TOPICS`` name for ``topic`` (unchanged when it has no alias)."""
    return TOPIC_ALIASES.get(topic, topic)


def to_events(topic: str, payload: Any) -> list[Event]:
    """Map one delivery to normalized events; UnknownTopic or MalformedPayload otherwise."""
    handler = _HANDLERS.get(canonical_topic(topic))
    if handler is None:
        raise UnknownTopic(topic)
    try:
        return handler(payload)
    except MalformedPayload:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        # A shape no mapping rule foresaw is still the payload's fault, not a crash.
        raise MalformedPayload(f"{topic}: {type(exc).__name__}: {exc}") from exc
