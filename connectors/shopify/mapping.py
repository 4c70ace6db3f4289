"""Shopify payload fields -> Nudge facts. Shopify's names stop here.

Both API shapes are handled: before 2025-01 customer objects carried ``accepts_marketing``,
``email_marketing_consent``, ``tags``, ``orders_count`` and ``total_spent``; since then
they carry none of these (they arrive on their own topics), and the facts keep ``None``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dateutil.parser import isoparse

from connectors.errors import MalformedPayload
from rules.facts import Checkout, Customer, LineItem, Order, Product, ProductVariant

log = logging.getLogger(__name__)

REFUNDED = frozenset({"refunded", "partially_refunded"})
PRODUCT_STATUSES = frozenset({"active", "draft", "archived", "unlisted"})


def object_id(value: Any, what: str) -> str:
    """An id as a string; GraphQL ids (gid://shopify/Customer/1) become their number."""
    if isinstance(value, bool) or value is None:
        raise MalformedPayload(f"{what}: missing id")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.rsplit("/", 1)[-1] if value.startswith("gid://") else value
    raise MalformedPayload(f"{what}: id must be a number or string, got {type(value).__name__}")


def optional_id(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | str):
        return object_id(value, "id")
    return None


def moment(value: Any, what: str = "timestamp") -> datetime | None:
    """An ISO-8601 timestamp as aware UTC; None stays None.

    A garbled timestamp string becomes None (unknown) instead of costing the whole
    delivery: real payloads carry them (tests/fixtures/shopify/checkouts_update.json).
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedPayload(f"{what}: expected an ISO-8601 string")
    try:
        # the standard library's parser is several times faster and reads what platforms
        # send; dateutil's stricter reading of the rest of ISO 8601 is the fallback
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = isoparse(value)
        except (ValueError, OverflowError):
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def money(value: Any, what: str = "amount") -> Decimal:
    if value is None or value == "":
        return Decimal("0")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedPayload(f"{what}: not an amount")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise MalformedPayload(f"{what}: not an amount: {str(value)[:40]!r}") from exc
    if not amount.is_finite():
        raise MalformedPayload(f"{what}: not a finite amount")
    return amount


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def obj(payload: Any, what: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise MalformedPayload(f"{what}: expected a JSON object")
    return payload


def tag_list(value: Any) -> tuple[str, ...] | None:
    """Tags arrive as 'a, b' (REST) or ['a', 'b'] (GraphQL-shaped topics)."""
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    if isinstance(value, list):
        return tuple(str(t).strip() for t in value if isinstance(t, str) and t.strip())
    raise MalformedPayload("tags: expected a string or a list")


def consent(payload: dict[str, Any]) -> tuple[bool | None, datetime | None]:
    """Marketing consent from either shape; only 'subscribed' counts as consent."""
    block = payload.get("email_marketing_consent")
    if isinstance(block, dict) and block.get("state") is not None:
        return block.get("state") == "subscribed", moment(block.get("consent_updated_at"))
    if isinstance(payload.get("accepts_marketing"), bool):
        return payload["accepts_marketing"], moment(payload.get("accepts_marketing_updated_at"))
    return None, None


def customer(payload: Any, what: str = "customer") -> Customer:
    data = obj(payload, what)
    accepts, consent_at = consent(data)
    orders_count = data.get("orders_count")
    return Customer(
        id=object_id(data.get("id"), what),
        email=text(data.get("email")),
        first_name=text(data.get("first_name")),
        last_name=text(data.get("last_name")),
        accepts_marketing=accepts,
        consent_updated_at=consent_at,
        tags=tag_list(data.get("tags")),
        orders_count=orders_count
        if isinstance(orders_count, int) and not isinstance(orders_count, bool)
        else None,
        total_spent=money(data["total_spent"], "total_spent")
        if data.get("total_spent") is not None
        else None,
        created_at=moment(data.get("created_at"), "created_at"),
        updated_at=moment(data.get("updated_at"), "updated_at"),
    )


def embedded_customer(payload: dict[str, Any]) -> Customer | None:
    """The customer inside a checkout or order, when it has an id."""
    data = payload.get("customer")
    if not isinstance(data, dict) or data.get("id") is None:
        return None
    return customer(data)


def line_items(value: Any) -> tuple[LineItem, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MalformedPayload("line_items: expected a list")
    items = []
    for index, raw in enumerate(value):
        item = obj(raw, f"line_items[{index}]")
        quantity = item.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise MalformedPayload(f"line_items[{index}].quantity: expected a whole number")
        items.append(
            LineItem(
                product_id=optional_id(item.get("product_id")),
                variant_id=optional_id(item.get("variant_id")),
                sku=text(item.get("sku")),
                title=text(item.get("title")) or text(item.get("name")) or "",
                quantity=quantity,
                price=money(item.get("price"), f"line_items[{index}].price"),
                vendor=text(item.get("vendor")),
                product_type=text(item.get("product_type")),
            )
        )
    return tuple(items)


def checkout(payload: Any, is_cart: bool = False) -> Checkout:
    data = obj(payload, "cart" if is_cart else "checkout")
    token = data.get("token") if data.get("token") else data.get("id")
    items = line_items(data.get("line_items"))
    # Checkouts carry totals; carts usually only lines (unit price x quantity).
    total = data.get("total_price")
    if total is None:
        total = data.get("subtotal_price")
    value = (
        money(total, "total_price")
        if total is not None
        else sum((item.price * item.quantity for item in items), Decimal("0"))
    )
    embedded = embedded_customer(data)
    accepts = data.get("buyer_accepts_marketing")
    return Checkout(
        token=object_id(token, "checkout token"),
        customer_id=embedded.id if embedded else None,
        email=text(data.get("email")) or (embedded.email if embedded else None),
        value=value,
        currency=text(data.get("currency")) or text(data.get("presentment_currency")),
        items=items,
        created_at=moment(data.get("created_at"), "created_at"),
        updated_at=moment(data.get("updated_at"), "updated_at"),
        completed_at=moment(data.get("completed_at"), "completed_at"),
        recovery_url=text(data.get("abandoned_checkout_url")),
        cart_token=text(data.get("cart_token")) or (object_id(token, "cart") if is_cart else None),
        accepts_marketing=accepts if isinstance(accepts, bool) else None,
        is_cart=is_cart,
    )


def order(payload: Any, fulfilled: bool = False) -> Order:
    """An order; ``fulfilled`` when the topic itself says so (orders/fulfilled)."""
    data = obj(payload, "order")
    embedded = embedded_customer(data)
    financial = text(data.get("financial_status"))
    accepts = data.get("buyer_accepts_marketing")
    return Order(
        id=object_id(data.get("id"), "order"),
        customer_id=embedded.id if embedded else None,
        email=text(data.get("email")) or text(data.get("contact_email")),
        checkout_token=text(data.get("checkout_token")),
        cart_token=text(data.get("cart_token")),
        name=text(data.get("name")),
        value=money(data.get("total_price"), "total_price"),
        currency=text(data.get("currency")),
        items=line_items(data.get("line_items")),
        created_at=moment(data.get("created_at"), "created_at"),
        updated_at=moment(data.get("updated_at"), "updated_at"),
        fulfilled_at=fulfilled_at(data, fulfilled),
        cancelled_at=moment(data.get("cancelled_at"), "cancelled_at"),
        refunded=financial in REFUNDED,
        financial_status=financial,
        accepts_marketing=accepts if isinstance(accepts, bool) else None,
    )


def fulfilled_at(data: dict[str, Any], fulfilled: bool = False) -> datetime | None:
    """The newest successful fulfilment's time, else the order's own time if it is fulfilled.

    ``fulfilled`` says the topic itself announced a fulfilment even though the payload
    lists none (Shopify's own sample for orders/partially_fulfilled does that).
    """
    fulfillments = data.get("fulfillments")
    moments = []
    if isinstance(fulfillments, list):
        for entry in fulfillments:
            if isinstance(entry, dict) and entry.get("status") in (None, "success"):
                at = moment(entry.get("created_at"), "fulfillments.created_at") or moment(
                    entry.get("updated_at"), "fulfillments.updated_at"
                )
                if at is not None:
                    moments.append(at)
    if moments:
        return max(moments)
    if fulfilled or data.get("fulfillment_status") in ("fulfilled", "partial"):
        return moment(data.get("updated_at"), "updated_at")
    return None


# --- products ---------------------------------------------------------------------------


def product_id(value: Any, what: str = "product") -> str:
    """A product's (or variant's) id: a number, or a GraphQL id of one."""
    found = object_id(value, what)
    if not found.isdigit() or len(found) > 64:
        raise MalformedPayload(f"{what}: id must be a number, got {found[:40]!r}")
    return found


def https_url(value: Any, what: str, product: str) -> str | None:
    """An image or page URL when it is https; any other is dropped, with a note in the log
    (an email must not load from a plain-http or odd URL)."""
    url = text(value)
    if url is None:
        return None
    if url.lower().startswith("https://") and len(url) > len("https://"):
        return url
    log.warning("product %s: %s dropped, not an https URL: %.80r", product, what, url)
    return None


def product_status(value: Any) -> str | None:
    """``active``, ``draft``, ``archived`` (or ``unlisted``), from either API's spelling."""
    status = text(value)
    return status.lower() if status is not None and status.lower() in PRODUCT_STATUSES else None


def cheapest(
    variants: tuple[ProductVariant, ...],
) -> tuple[Decimal | None, Decimal | None, bool | None]:
    """A product's price and compare-at price (its cheapest variant's), and whether some
    variant can be bought (None when no variant says)."""
    priced = [v for v in variants if v.price is not None]
    best = min(priced, key=lambda v: v.price or Decimal("0")) if priced else None
    said = [v.available for v in variants if v.available is not None]
    return (
        best.price if best else None,
        best.compare_at_price if best else None,
        any(said) if said else None,
    )


def _optional_money(value: Any, what: str) -> Decimal | None:
    return None if value is None or value == "" else money(value, what)


def _rest_variant(raw: Any, index: int, product: str) -> ProductVariant:
    item = obj(raw, f"variants[{index}]")
    policy = text(item.get("inventory_policy"))
    quantity = item.get("inventory_quantity")
    available: bool | None = None
    if policy == "continue" or (
        "inventory_management" in item and not item["inventory_management"]
    ):
        available = True  # sold when out of stock, or stock not tracked
    elif isinstance(quantity, int) and not isinstance(quantity, bool):
        available = quantity > 0
    return ProductVariant(
        id=product_id(item.get("id"), f"product {product} variants[{index}]"),
        title=text(item.get("title")),
        sku=text(item.get("sku")),
        price=_optional_money(item.get("price"), f"variants[{index}].price"),
        compare_at_price=_optional_money(
            item.get("compare_at_price"), f"variants[{index}].compare_at_price"
        ),
        available=available,
    )


def product(payload: Any) -> Product:
    """A product as ``products/create`` and ``products/update`` deliver it (the REST shape):
    the whole product, so an empty type or tag list is a statement. Collections and the
    storefront URL are not in it (the Admin API gives them: connectors.shopify.catalog)."""
    data = obj(payload, "product")
    pid = product_id(data.get("id"))
    raw_variants = data.get("variants")
    if raw_variants is not None and not isinstance(raw_variants, list):
        raise MalformedPayload("variants: expected a list")
    variants = tuple(_rest_variant(v, i, pid) for i, v in enumerate(raw_variants or ()))
    price, compare_at, available = cheapest(variants)
    image = data.get("image")
    return Product(
        id=pid,
        variants=variants,
        title=text(data.get("title")) or "",
        handle=text(data.get("handle")),
        product_type=data["product_type"] if isinstance(data.get("product_type"), str) else "",
        vendor=data["vendor"] if isinstance(data.get("vendor"), str) else "",
        tags=tag_list(data.get("tags")) or (),
        image_url=https_url(image.get("src"), "image URL", pid)
        if isinstance(image, dict)
        else None,
        price=price,
        compare_at_price=compare_at,
        available=available,
        status=product_status(data.get("status")),
        created_at=moment(data.get("created_at"), "created_at"),
        updated_at=moment(data.get("updated_at"), "updated_at"),
    )


def deleted_product(payload: Any) -> Product:
    """What ``products/delete`` says: which product (its id alone)."""
    return Product(id=product_id(obj(payload, "product").get("id")), deleted=True)
