"""``nudge.cart_updated``: a WooCommerce cart, as Nudge's WordPress plugin posts it.

WooCommerce sends no cart webhooks, so the plugin posts the cart of every shopper it has an
address for (signed in, or typed at checkout) whenever the cart changes, signed exactly like
a WooCommerce webhook. The body::

    {"cart_key", "email", "accepts_marketing", "customer_id", "first_name", "currency",
     "total", "items": [{"product_id", "variation_id", "name", "quantity", "price"}],
     "checkout_url", "updated_at", "completed"}

It becomes the same facts as a Shopify checkout (a ``checkout_updated`` event), so the cart
abandonment workflow runs unchanged: ``cart_key`` is the checkout's token and cart token
(the order placed from it carries it as meta ``_nudge_cart_key``), ``checkout_url`` (which
restores that cart) its recovery URL. Unlike the platforms' own deliveries, a cart that
cannot be read is refused when it arrives (``to_events`` raises MalformedPayload, the route
answers 422): the plugin is the sender, and it is told why.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.errors import MalformedPayload
from rules import events as ev
from rules.events import Event
from rules.facts import Checkout, Customer, LineItem

TOPIC = "nudge.cart_updated"
MAX_ITEMS = 250  # lines of one cart; far more than a shopper's, far fewer than an attack's
MAX_TEXT = 255


def to_events(payload: Any) -> list[Event]:
    """The cart's facts: its checkout, and its customer when they are signed in."""
    if not isinstance(payload, dict):
        raise MalformedPayload(f"{TOPIC}: expected a JSON object")
    cart_key = _required_text(payload, "cart_key")
    email = _required_text(payload, "email", limit=320)
    if "@" not in email:
        raise MalformedPayload(f"{TOPIC}: email is not an address")
    accepts = payload.get("accepts_marketing")
    if not isinstance(accepts, bool):
        raise MalformedPayload(f"{TOPIC}: accepts_marketing must be true or false")
    completed = payload.get("completed", False)
    if not isinstance(completed, bool):
        raise MalformedPayload(f"{TOPIC}: completed must be true or false")
    updated_at = _moment(payload.get("updated_at"))
    customer_id = _customer_id(payload.get("customer_id"))
    checkout = Checkout(
        token=cart_key,
        cart_token=cart_key,
        is_cart=True,
        customer_id=customer_id,
        email=email,
        value=_amount(payload.get("total"), "total"),
        currency=_optional_text(payload, "currency", limit=8),
        items=_items(payload.get("items")),
        updated_at=updated_at,
        completed_at=updated_at if completed else None,
        recovery_url=_url(payload.get("checkout_url")),
        accepts_marketing=accepts,
    )
    customer = None
    if customer_id is not None:
        customer = Customer(
            id=customer_id, email=email, first_name=_optional_text(payload, "first_name")
        )
    result = (
        [Event(ev.CUSTOMER_UPSERTED, occurred_at=updated_at, customer=customer)] if customer else []
    )
    return result + [
        Event(ev.CHECKOUT_UPDATED, occurred_at=updated_at, checkout=checkout, customer=customer)
    ]


def _required_text(payload: dict[str, Any], name: str, limit: int = MAX_TEXT) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip():
        raise MalformedPayload(f"{TOPIC}: {name} is missing")
    if len(value) > limit:
        raise MalformedPayload(f"{TOPIC}: {name} is longer than {limit} characters")
    return value.strip()


def _optional_text(payload: dict[str, Any], name: str, limit: int = MAX_TEXT) -> str | None:
    value = payload.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedPayload(f"{TOPIC}: {name} must be text")
    return value.strip()[:limit] or None


def _customer_id(value: Any) -> str | None:
    """A signed-in shopper's user id; 0 or null: a guest."""
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedPayload(f"{TOPIC}: customer_id must be a user id, 0 or null")
    return str(value)


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedPayload(f"{TOPIC}: {name} must be a whole number")
    return value


def _amount(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedPayload(f"{TOPIC}: {name} is not an amount")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise MalformedPayload(f"{TOPIC}: {name} is not an amount") from exc
    if not amount.is_finite() or amount < 0:
        raise MalformedPayload(f"{TOPIC}: {name} is not an amount")
    return amount


def _items(value: Any) -> tuple[LineItem, ...]:
    if not isinstance(value, list):
        raise MalformedPayload(f"{TOPIC}: items must be a list")
    if len(value) > MAX_ITEMS:
        raise MalformedPayload(f"{TOPIC}: {len(value)} items; a cart has at most {MAX_ITEMS}")
    items = []
    for index, raw in enumerate(value):
        if not isinstance(raw, dict):
            raise MalformedPayload(f"{TOPIC}: items[{index}] is not an object")
        product_id = _whole(raw.get("product_id"), f"items[{index}].product_id")
        variation_id = _whole(raw.get("variation_id", 0), f"items[{index}].variation_id")
        name = raw.get("name")
        items.append(
            LineItem(
                product_id=str(product_id) if product_id else None,
                variant_id=str(variation_id) if variation_id else None,
                title=name.strip()[:MAX_TEXT] if isinstance(name, str) else "",
                quantity=_whole(raw.get("quantity"), f"items[{index}].quantity"),
                price=_amount(raw.get("price"), f"items[{index}].price"),
            )
        )
    return tuple(items)


def _url(value: Any) -> str | None:
    """The link that restores the cart; only an http(s) one is put in an email."""
    if not isinstance(value, str) or not value.lower().startswith(("https://", "http://")):
        raise MalformedPayload(f"{TOPIC}: checkout_url must be an http(s) URL")
    if len(value) > 2000:
        raise MalformedPayload(f"{TOPIC}: checkout_url is too long")
    return value


def _moment(value: Any) -> datetime:
    if not isinstance(value, str):
        raise MalformedPayload(f"{TOPIC}: updated_at must be an ISO-8601 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise MalformedPayload(f"{TOPIC}: updated_at is not an ISO-8601 time") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
