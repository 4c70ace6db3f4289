"""WooCommerce deliveries as a store sends them (REST v3 shapes, signed), and the carts
Nudge's WordPress plugin posts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from connectors import woocommerce
from plugin.shopify_app import webhook_secrets
from plugin.shopify_app.crypto import TokenCipher
from plugin.storage.models import Shop
from tests.support.shop import SHOP_ADDRESS

WOO_SHOP = "woo.example.com"
WOO_SECRET = "woo-webhook-secret"


def woo_store(secret_key: str, domain: str = WOO_SHOP, secret: str = WOO_SECRET) -> Shop:
    """The test WooCommerce store, as `nudge shop add` keeps one: its webhook secret
    encrypted with the app's key, and a postal address (else its marketing mail is held)."""
    row = Shop(domain=domain, platform="woocommerce", settings={"postal_address": SHOP_ADDRESS})
    webhook_secrets.store(row, secret, TokenCipher(secret_key))
    return row


def _gmt(at: datetime) -> str:
    """WooCommerce's ``*_gmt`` fields: naive UTC, seconds."""
    return at.replace(tzinfo=None).isoformat(timespec="seconds")


class WooSender:
    """Post deliveries the way WooCommerce (and the plugin) does: raw JSON, signed headers."""

    def __init__(self, client: Any, shop: str = WOO_SHOP, secret: str = WOO_SECRET):
        self.client, self.shop, self.secret = client, shop, secret
        self.count = 0

    def __call__(self, topic: str, payload: Any, *, secret: str | None = None):  # type: ignore[no-untyped-def]
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.count += 1
        resource, _, event = topic.partition(".")
        headers = {
            "X-WC-Webhook-Source": f"https://{self.shop}/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": woocommerce.sign(body, secret or self.secret),
            "X-WC-Webhook-ID": "7",
            "X-WC-Webhook-Delivery-ID": str(self.count),
            "Content-Type": "application/json",
        }
        return self.client.post(f"/webhooks/woocommerce/{self.shop}", data=body, headers=headers)


def cart(
    cart_key: str,
    at: datetime,
    *,
    email: str | None = "ada@example.com",
    customer_id: int = 0,
    accepts_marketing: bool = True,
    total: str = "60.00",
    items: list[dict[str, Any]] | None = None,
    completed: bool = False,
) -> dict[str, Any]:
    """A ``nudge.cart_updated`` body, as the plugin builds it."""
    return {
        "cart_key": cart_key,
        "email": email,
        "accepts_marketing": accepts_marketing,
        "customer_id": customer_id,
        "first_name": "Ada",
        "currency": "USD",
        "total": total,
        "items": items
        if items is not None
        else [
            {"product_id": 111, "variation_id": 0, "name": "Beans", "quantity": 1, "price": total}
        ],
        "checkout_url": f"https://{WOO_SHOP}/?nudge_cart={cart_key}",
        "updated_at": at.isoformat(),
        "completed": completed,
    }


def customer(customer_id: int, at: datetime, email: str = "ada@example.com", **extra: Any) -> dict:
    """A customer as ``customer.created`` / ``customer.updated`` deliver it."""
    return {
        "id": customer_id,
        "date_created_gmt": _gmt(at),
        "date_modified_gmt": _gmt(at),
        "email": email,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "role": "customer",
        "username": email.split("@")[0],
        "billing": {"first_name": "Ada", "email": email},
        "meta_data": extra.pop("meta_data", []),
        **extra,
    }


def order(
    order_id: int,
    at: datetime,
    *,
    customer_id: int = 0,
    email: str = "ada@example.com",
    total: str = "60.00",
    accepts_marketing: bool | None = True,
    cart_key: str | None = None,
    status: str = "processing",
    completed_at: datetime | None = None,
    product_id: int = 111,
) -> dict[str, Any]:
    """An order as ``order.created`` / ``order.updated`` deliver it, with the plugin's meta."""
    meta: list[dict[str, Any]] = [{"id": 1, "key": "is_vat_exempt", "value": "no"}]
    if accepts_marketing is not None:
        meta.append(
            {
                "id": 2,
                "key": "_nudge_accepts_marketing",
                "value": "yes" if accepts_marketing else "no",
            }
        )
    if cart_key is not None:
        meta.append({"id": 3, "key": "_nudge_cart_key", "value": cart_key})
    return {
        "id": order_id,
        "number": str(order_id),
        "status": status,
        "currency": "USD",
        "date_created_gmt": _gmt(at),
        "date_modified_gmt": _gmt(completed_at or at),
        "date_completed_gmt": _gmt(completed_at) if completed_at else None,
        "total": total,
        "customer_id": customer_id,
        "billing": {"first_name": "Ada", "last_name": "Lovelace", "email": email},
        "meta_data": meta,
        "line_items": [
            {
                "id": order_id * 10,
                "name": "Beans",
                "product_id": product_id,
                "variation_id": 0,
                "quantity": 1,
                "price": float(total),
                "sku": f"SKU-{product_id}",
            }
        ],
    }
