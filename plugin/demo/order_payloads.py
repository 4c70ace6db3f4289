"""Shopify-shaped order bodies: the order as orders/* topics send it at each stage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from plugin.demo.catalog import CURRENCY, SHOP_ID
from plugin.demo.payloads import (
    address,
    customer_json,
    gid,
    money,
    shipping,
    shop_time,
    subtotal,
)
from plugin.demo.shoppers import Basket, Shopper

LOCATION_ID = 71_204_552_881


@dataclass(frozen=True)
class PlacedOrder:
    """What an order is at creation; its later bodies add payment, shipping, refunds."""

    id: int
    token: str
    basket: Basket
    line_ids: tuple[int, ...]
    created: datetime
    checkout_id: int | None
    checkout_token: str | None
    cart_token: str | None
    accepts_marketing: bool


def _lines(o: PlacedOrder, fulfilled: bool) -> list[dict[str, Any]]:
    return [
        {
            "id": line_id,
            "admin_graphql_api_id": gid("LineItem", line_id),
            "product_id": product.id,
            "variant_id": product.variant_id,
            "sku": product.sku,
            "title": product.title,
            "name": product.title,
            "variant_title": None,
            "quantity": quantity,
            "current_quantity": quantity,
            "fulfillable_quantity": 0 if fulfilled else quantity,
            "fulfillment_status": "fulfilled" if fulfilled else None,
            "fulfillment_service": "manual",
            "price": money(product.price),
            "total_discount": "0.00",
            "vendor": product.vendor,
            "product_type": product.product_type,
            "product_exists": True,
            "grams": product.grams,
            "requires_shipping": True,
            "taxable": True,
            "gift_card": False,
            "properties": [],
            "tax_lines": [],
            "discount_allocations": [],
            "duties": [],
        }
        for line_id, (product, quantity) in zip(o.line_ids, o.basket, strict=True)
    ]


def fulfillment_json(o: PlacedOrder, fulfillment_id: int, at: datetime) -> dict[str, Any]:
    """One successful shipment of the whole order, as orders/fulfilled lists it."""
    tracking = f"1Z999AA1{o.id % 10**10:010d}"
    return {
        "id": fulfillment_id,
        "admin_graphql_api_id": gid("Fulfillment", fulfillment_id),
        "order_id": o.id,
        "name": None,  # the order's name + ".1", set with the order's number
        "status": "success",
        "service": "manual",
        "shipment_status": None,
        "location_id": LOCATION_ID,
        "origin_address": None,
        "receipt": {},
        "created_at": shop_time(at),
        "updated_at": shop_time(at),
        "tracking_company": "UPS",
        "tracking_number": tracking,
        "tracking_numbers": [tracking],
        "tracking_url": f"https://www.ups.com/WebTracking?tracknum={tracking}",
        "tracking_urls": [f"https://www.ups.com/WebTracking?tracknum={tracking}"],
        "line_items": _lines(o, fulfilled=True),
    }


def refund_json(o: PlacedOrder, refund_id: int, at: datetime, note: str) -> dict[str, Any]:
    """A full refund of the order's lines, paid back through the original gateway."""
    total = subtotal(o.basket)
    return {
        "id": refund_id,
        "admin_graphql_api_id": gid("Refund", refund_id),
        "order_id": o.id,
        "created_at": shop_time(at),
        "processed_at": shop_time(at),
        "note": note,
        "restock": False,
        "user_id": None,
        "order_adjustments": [],
        "refund_line_items": [
            {
                "id": line_id + 3,
                "line_item_id": line_id,
                "quantity": quantity,
                "restock_type": "no_restock",
                "location_id": None,
                "subtotal": money(product.price * quantity),
                "total_tax": "0.00",
            }
            for line_id, (product, quantity) in zip(o.line_ids, o.basket, strict=True)
        ],
        "transactions": [
            {
                "id": refund_id + 5,
                "order_id": o.id,
                "kind": "refund",
                "gateway": "shopify_payments",
                "status": "success",
                "amount": money(total),
                "currency": CURRENCY,
                "created_at": shop_time(at),
            }
        ],
    }


def order_json(
    s: Shopper,
    o: PlacedOrder,
    updated: datetime,
    shop_domain: str,
    financial: str = "paid",
    fulfillment: dict[str, Any] | None = None,
    cancelled: datetime | None = None,
    refund: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The order as Shopify sends it at ``updated``."""
    items = subtotal(o.basket)
    delivery = shipping(o.basket)
    total = items + delivery
    home = address(s)
    return {
        "id": o.id,
        "admin_graphql_api_id": gid("Order", o.id),
        # Numbered once the whole history is known, so numbers follow creation time.
        "name": None,
        "number": None,
        "order_number": None,
        "token": o.token,
        "confirmed": True,
        "test": False,
        "email": s.email,
        "contact_email": s.email,
        "phone": None,
        "checkout_id": o.checkout_id,
        "checkout_token": o.checkout_token,
        "cart_token": o.cart_token,
        "buyer_accepts_marketing": o.accepts_marketing,
        "created_at": shop_time(o.created),
        "processed_at": shop_time(o.created),
        "updated_at": shop_time(updated),
        "closed_at": shop_time(updated) if fulfillment and not cancelled else None,
        "cancelled_at": shop_time(cancelled),
        "cancel_reason": "customer" if cancelled else None,
        "currency": CURRENCY,
        "presentment_currency": CURRENCY,
        "subtotal_price": money(items),
        "total_line_items_price": money(items),
        "total_discounts": "0.00",
        "total_tax": "0.00",
        "taxes_included": False,
        "total_price": money(total),
        "current_total_price": money(delivery if refund else total),
        "total_outstanding": "0.00",
        "total_weight": sum(p.grams * q for p, q in o.basket),
        "financial_status": financial,
        "fulfillment_status": "fulfilled" if fulfillment else None,
        "gateway": "shopify_payments",
        "payment_gateway_names": ["shopify_payments"],
        "source_name": "web",
        "customer_locale": "en-US",
        "tags": "",
        "note": None,
        "note_attributes": [],
        "discount_codes": [],
        "discount_applications": [],
        "tax_lines": [],
        "shipping_lines": [
            {"id": o.id + 11, "title": "Standard", "code": "Standard", "price": money(delivery)}
        ],
        "order_status_url": (
            f"https://{shop_domain}/{SHOP_ID}/orders/{o.token}/authenticate?key={o.token[::-1]}"
        ),
        "line_items": _lines(o, fulfilled=fulfillment is not None),
        "fulfillments": [fulfillment] if fulfillment else [],
        "refunds": [refund] if refund else [],
        "shipping_address": home,
        "billing_address": home,
        "customer": customer_json(s),
    }
