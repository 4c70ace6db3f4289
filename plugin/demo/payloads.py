"""Shopify-shaped JSON bodies for the demo history (API 2025-01+ shapes)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from plugin.demo.catalog import Product

if TYPE_CHECKING:
    from plugin.demo.history import History, Shopper


def with_offset(at: datetime, offset_hours: int) -> str:
    """Shopify timestamps carry an offset, e.g. 2026-09-01T10:00:00-05:00."""
    return at.astimezone(timezone(timedelta(hours=offset_hours))).isoformat(timespec="seconds")


def money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def customer_json(s: Shopper) -> dict[str, Any]:
    return {
        "id": s.id,
        "email": s.email,
        "created_at": with_offset(s.created_at, s.tz_offset),
        "updated_at": with_offset(s.created_at, s.tz_offset),
        "first_name": s.first_name,
        "last_name": s.last_name,
        "state": "enabled",
        "note": None,
        "verified_email": True,
        "multipass_identifier": None,
        "tax_exempt": False,
        "phone": None,
        "currency": "USD",
        "tax_exemptions": [],
        "admin_graphql_api_id": f"gid://shopify/Customer/{s.id}",
    }


def line_items(h: History, products: Iterable[Product]) -> list[dict[str, Any]]:
    items = []
    for product in products:
        quantity = h.rng.choice((1, 1, 1, 2))
        items.append(
            {
                "id": h.new_id(),
                "product_id": product.id,
                "variant_id": product.id + 40_000_000_000,
                "sku": f"NW-{product.id % 100_000}",
                "title": product.title,
                "quantity": quantity,
                "price": money(product.price),
                "vendor": product.vendor,
                "product_type": product.product_type,
                "requires_shipping": product.product_type != "Accessories",
                "taxable": True,
            }
        )
    return items


def total_price(items: list[dict[str, Any]]) -> str:
    return money(sum((Decimal(i["price"]) * i["quantity"] for i in items), Decimal("0")))


def checkout_json(
    h: History,
    s: Shopper,
    token: str,
    cart_token: str,
    items: list[dict[str, Any]],
    created: datetime,
    updated: datetime,
    email: bool,
    completed: datetime | None,
) -> dict[str, Any]:
    total = total_price(items)
    return {
        "id": h.new_id(),
        "token": token,
        "cart_token": cart_token,
        "email": s.email if email else None,
        "buyer_accepts_marketing": s.subscribed,
        "created_at": with_offset(created, s.tz_offset),
        "updated_at": with_offset(updated, s.tz_offset),
        "completed_at": with_offset(completed, s.tz_offset) if completed else None,
        "abandoned_checkout_url": f"https://{h.shop_domain}/checkouts/{token}/recover?key={token[:12]}",
        "currency": "USD",
        "presentment_currency": "USD",
        "subtotal_price": total,
        "total_price": total,
        "total_tax": "0.00",
        "line_items": items,
        "customer": customer_json(s) if email else None,
    }


def order_json(
    h: History,
    s: Shopper,
    order_id: int,
    number: int,
    items: list[dict[str, Any]],
    created: datetime,
    updated: datetime,
    checkout_token: str | None,
    cart_token: str | None,
    financial: str = "paid",
    fulfilled: datetime | None = None,
    cancelled: datetime | None = None,
) -> dict[str, Any]:
    total = total_price(items)
    fulfillments = []
    if fulfilled is not None:
        fulfillments = [
            {
                "id": order_id + 7,
                "order_id": order_id,
                "status": "success",
                "created_at": with_offset(fulfilled, s.tz_offset),
                "updated_at": with_offset(fulfilled, s.tz_offset),
                "tracking_company": "USPS",
                "tracking_number": f"9400{order_id % 10**12:012d}",
                "line_items": items,
            }
        ]
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{number}",
        "order_number": number,
        "email": s.email,
        "contact_email": s.email,
        "checkout_token": checkout_token,
        "cart_token": cart_token,
        "buyer_accepts_marketing": s.subscribed,
        "created_at": with_offset(created, s.tz_offset),
        "processed_at": with_offset(created, s.tz_offset),
        "updated_at": with_offset(updated, s.tz_offset),
        "cancelled_at": with_offset(cancelled, s.tz_offset) if cancelled else None,
        "cancel_reason": "customer" if cancelled else None,
        "currency": "USD",
        "subtotal_price": total,
        "total_price": total,
        "financial_status": financial,
        "fulfillment_status": "fulfilled" if fulfilled else None,
        "fulfillments": fulfillments,
        "line_items": items,
        "refunds": [],
        "customer": customer_json(s),
        "test": False,
    }


def consent_json(s: Shopper, subscribed: bool, at: datetime) -> dict[str, Any]:
    return {
        "customer_id": s.id,
        "email_address": s.email,
        "email_marketing_consent": {
            "state": "subscribed" if subscribed else "unsubscribed",
            "opt_in_level": "single_opt_in" if subscribed else None,
            "consent_updated_at": with_offset(at, s.tz_offset),
        },
    }
