"""Shopify-shaped payloads for scenario tests (the shapes of tests/fixtures/shopify)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _iso(at: datetime) -> str:
    return at.isoformat()


def line_item(product_id: int = 111, price: str = "30.00", quantity: int = 1, **extra: Any) -> dict:
    return {
        "id": product_id * 10,
        "product_id": product_id,
        "variant_id": product_id * 100,
        "sku": f"SKU-{product_id}",
        "title": extra.pop("title", f"Product {product_id}"),
        "quantity": quantity,
        "price": price,
        "vendor": extra.pop("vendor", "Northwind"),
        "product_type": extra.pop("product_type", "Coffee"),
        **extra,
    }


def customer(customer_id: int = 501, email: str = "ada@example.com", **extra: Any) -> dict:
    return {
        "id": customer_id,
        "email": email,
        "first_name": extra.pop("first_name", "Ada"),
        "last_name": "Lovelace",
        "created_at": extra.pop("created_at", "2025-01-01T10:00:00+00:00"),
        "updated_at": extra.pop("updated_at", "2025-01-01T10:00:00+00:00"),
        "admin_graphql_api_id": f"gid://shopify/Customer/{customer_id}",
        **extra,
    }


def consent(
    customer_id: int = 501,
    email: str = "ada@example.com",
    subscribed: bool = True,
    at: str = "2026-01-01T10:00:00+00:00",
) -> dict:
    return {
        "customer_id": customer_id,
        "email_address": email,
        "email_marketing_consent": {
            "state": "subscribed" if subscribed else "unsubscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": at,
        },
    }


def checkout(
    token: str,
    at: datetime,
    *,
    price: str = "60.00",
    email: str | None = "ada@example.com",
    customer_id: int | None = 501,
    accepts_marketing: bool = True,
    completed_at: datetime | None = None,
    created_at: datetime | None = None,
) -> dict:
    return {
        "id": abs(hash(token)) % 10**9,
        "token": token,
        "cart_token": f"cart-{token}",
        "email": email,
        "created_at": _iso(created_at or at),
        "updated_at": _iso(at),
        "completed_at": _iso(completed_at) if completed_at else None,
        "currency": "USD",
        "total_price": price,
        "subtotal_price": price,
        "buyer_accepts_marketing": accepts_marketing,
        "abandoned_checkout_url": f"https://test-shop.myshopify.com/checkouts/{token}/recover",
        "line_items": [line_item(price=price)],
        "customer": customer(customer_id, email) if customer_id else None,
    }


def order(
    order_id: int,
    at: datetime,
    *,
    checkout_token: str | None = None,
    customer_id: int = 501,
    email: str = "ada@example.com",
    price: str = "60.00",
    financial_status: str = "paid",
    fulfilled_at: datetime | None = None,
    cancelled_at: datetime | None = None,
    items: list[dict] | None = None,
) -> dict:
    fulfillments = []
    if fulfilled_at is not None:
        fulfillments = [
            {
                "id": order_id * 7,
                "order_id": order_id,
                "status": "success",
                "created_at": _iso(fulfilled_at),
                "updated_at": _iso(fulfilled_at),
            }
        ]
    return {
        "id": order_id,
        "name": f"#{order_id % 10000}",
        "email": email,
        "checkout_token": checkout_token,
        "cart_token": f"cart-{checkout_token}" if checkout_token else None,
        "created_at": _iso(at),
        "updated_at": _iso(fulfilled_at or cancelled_at or at),
        "processed_at": _iso(at),
        "cancelled_at": _iso(cancelled_at) if cancelled_at else None,
        "currency": "USD",
        "total_price": price,
        "subtotal_price": price,
        "financial_status": financial_status,
        "fulfillment_status": "fulfilled" if fulfilled_at else None,
        "fulfillments": fulfillments,
        "buyer_accepts_marketing": True,
        "line_items": items or [line_item(price=price)],
        "refunds": [],
        "customer": customer(customer_id, email),
    }
