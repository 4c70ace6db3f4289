"""Shopify-shaped JSON bodies for the demo history (API 2025-01+ shapes).

Customer objects carry no consent, tags or order counts (those have their own topics);
money is a string with two decimals; ids are integers with an ``admin_graphql_api_id``;
times carry the shop's UTC offset, except the GraphQL-style topics' ``...Z`` instants.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from plugin.demo.catalog import CURRENCY, SHOP_ID, SHOP_TIMEZONE, Region, zone
from plugin.demo.shoppers import Basket, Shopper

FREE_SHIPPING_FROM = Decimal("50.00")
SHIPPING = Decimal("6.00")
_SHOP_ZONE = zone(SHOP_TIMEZONE)


def shop_time(at: datetime | None) -> str | None:
    """A Shopify REST timestamp: the shop's local time with its offset."""
    return at.astimezone(_SHOP_ZONE).isoformat(timespec="seconds") if at else None


def instant(at: datetime) -> str:
    """A GraphQL-style timestamp, UTC with milliseconds: 2026-09-01T14:00:00.000Z."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def subtotal(basket: Basket) -> Decimal:
    return sum((product.price * quantity for product, quantity in basket), Decimal("0"))


def shipping(basket: Basket) -> Decimal:
    return Decimal("0") if subtotal(basket) >= FREE_SHIPPING_FROM else SHIPPING


def address(s: Shopper, address_id: int | None = None) -> dict[str, Any]:
    r: Region = s.region
    return {
        "id": address_id,
        "customer_id": s.id,
        "first_name": s.first_name,
        "last_name": s.last_name,
        "company": None,
        "address1": f"{10 + s.id % 890} Market Street",
        "address2": None,
        "city": r.city,
        "province": r.province,
        "country": r.country,
        "zip": r.zip,
        "phone": s.phone,
        "name": f"{s.first_name} {s.last_name}",
        "province_code": r.province_code,
        "country_code": r.country_code,
        "country_name": r.country,
        "default": True,
    }


def customer_json(s: Shopper, with_addresses: bool = False) -> dict[str, Any]:
    """A customer as customers/* topics (and checkouts and orders, embedded) carry it."""
    body: dict[str, Any] = {
        "id": s.id,
        "email": s.email,
        "created_at": shop_time(s.created_at),
        "updated_at": shop_time(s.updated_at or s.created_at),
        "first_name": s.first_name,
        "last_name": s.last_name,
        "state": "enabled" if s.orders else "disabled",
        "note": None,
        "verified_email": True,
        "multipass_identifier": None,
        "tax_exempt": False,
        "phone": s.phone,
        "currency": CURRENCY,
        "tax_exemptions": [],
        "admin_graphql_api_id": gid("Customer", s.id),
        "default_address": address(s, s.id + 1),
    }
    if with_addresses:
        body["addresses"] = [address(s, s.id + 1)]
    return body


def checkout_lines(basket: Basket) -> list[dict[str, Any]]:
    return [
        {
            "key": f"{product.variant_id}",
            "product_id": product.id,
            "variant_id": product.variant_id,
            "sku": product.sku,
            "title": product.title,
            "presentment_title": product.title,
            "variant_title": "",
            "quantity": quantity,
            "price": money(product.price),
            "variant_price": money(product.price),
            "line_price": money(product.price * quantity),
            "compare_at_price": None,
            "vendor": product.vendor,
            "product_type": product.product_type,
            "grams": product.grams,
            "requires_shipping": True,
            "taxable": True,
            "gift_card": False,
            "fulfillment_service": "manual",
            "applied_discounts": [],
            "tax_lines": [],
            "properties": {},
        }
        for product, quantity in basket
    ]


def cart_json(token: str, basket: Basket, created: datetime, updated: datetime) -> dict[str, Any]:
    """An anonymous storefront cart as carts/create and carts/update send it."""
    lines: list[dict[str, Any]] = []
    for product, quantity in basket:
        price, line_price = money(product.price), money(product.price * quantity)
        lines.append(
            {
                "id": product.variant_id,
                "properties": None,
                "quantity": quantity,
                "variant_id": product.variant_id,
                "key": f"{product.variant_id}:{token[-32:].lower()}",
                "discounted_price": price,
                "discounts": [],
                "gift_card": False,
                "grams": product.grams,
                "line_price": line_price,
                "original_line_price": line_price,
                "original_price": price,
                "price": price,
                "product_id": product.id,
                "sku": product.sku,
                "taxable": True,
                "title": product.title,
                "total_discount": "0.00",
                "vendor": product.vendor,
            }
        )
    return {
        "id": token,
        "token": token,
        "line_items": lines,
        "note": "",
        "updated_at": instant(updated),
        "created_at": instant(created),
    }


def checkout_json(
    s: Shopper,
    checkout_id: int,
    token: str,
    cart_token: str,
    basket: Basket,
    created: datetime,
    updated: datetime,
    contact: bool,
    accepts_marketing: bool,
    shop_domain: str,
) -> dict[str, Any]:
    """A checkout; ``contact`` once the shopper typed an email (and picked shipping)."""
    items = subtotal(basket)
    delivery = shipping(basket) if contact else Decimal("0")
    return {
        "id": checkout_id,
        "token": token,
        "cart_token": cart_token,
        "email": s.email if contact else None,
        "gateway": None,
        "buyer_accepts_marketing": accepts_marketing if contact else False,
        "created_at": shop_time(created),
        "updated_at": shop_time(updated),
        "completed_at": None,
        "closed_at": None,
        "landing_site": "/",
        "note": "",
        "note_attributes": [],
        "referring_site": "",
        "shipping_lines": [{"title": "Standard", "price": money(delivery)}] if contact else [],
        "shipping_address": address(s) if contact else None,
        "taxes_included": False,
        "total_weight": sum(p.grams * q for p, q in basket),
        "currency": CURRENCY,
        "presentment_currency": CURRENCY,
        "customer_locale": "en-US",
        "phone": None,
        "name": f"#{checkout_id}",
        "source_name": "web",
        "line_items": checkout_lines(basket),
        "abandoned_checkout_url": (
            f"https://{shop_domain}/{SHOP_ID}/checkouts/ac/{cart_token}/recover"
            f"?key={token[::-1]}&locale=en-US"
        ),
        "discount_codes": [],
        "tax_lines": [],
        "total_line_items_price": money(items),
        "total_discounts": "0.00",
        "subtotal_price": money(items),
        "total_tax": "0.00",
        "total_duties": "0.00",
        "total_price": money(items + delivery),
        "customer": customer_json(s) if contact else None,
    }


def consent_json(s: Shopper, subscribed: bool, at: datetime) -> dict[str, Any]:
    """customers_email_marketing_consent/update: the customer's new consent state."""
    return {
        "customer_id": s.id,
        "email_address": s.email,
        "email_marketing_consent": {
            "state": "subscribed" if subscribed else "unsubscribed",
            "opt_in_level": "single_opt_in" if subscribed else None,
            "consent_updated_at": shop_time(at),
        },
    }


def tags_added_json(s: Shopper, tags: list[str], at: datetime) -> dict[str, Any]:
    return {"customerId": gid("Customer", s.id), "tags": tags, "occurredAt": instant(at)}


def purchasing_summary_json(s: Shopper, at: datetime) -> dict[str, Any]:
    return {
        "customerId": gid("Customer", s.id),
        "numberOfOrders": s.orders,
        "amountSpent": {"amount": money(s.spent), "currencyCode": CURRENCY},
        "lastOrderId": gid("Order", s.last_order_id) if s.last_order_id else None,
        "occurredAt": instant(at),
    }
