"""The demo shop's catalog as Shopify's ``products/create`` deliveries: most products on
sale long before the demo starts, a few launched while it runs (what re-engagement shows
as new)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from plugin.demo.catalog import PRODUCTS, Product, handle
from plugin.demo.history import SimulatedDelivery
from plugin.demo.payloads import gid, shop_time

IMAGES = "https://cdn.shopify.com/s/files/1/0614/8209/3517/products"
ESTABLISHED = timedelta(days=400)  # on sale this long before the demo starts
LAUNCH_EVERY = 9  # one product in this many is launched during the demo, a week apart


def catalog_deliveries(start: datetime, first: datetime, days: int) -> list[SimulatedDelivery]:
    """Each product's ``products/create``: at ``first`` (the history's first delivery) for
    those on sale already, at its launch for the others."""
    found = []
    launches = 0
    for n, product in enumerate(PRODUCTS):
        at, created = first, start - ESTABLISHED
        if n % LAUNCH_EVERY == LAUNCH_EVERY // 2 and launches * 7 < days:
            at = created = start + timedelta(days=7 * launches, hours=10)
            launches += 1
        body = product_json(product, created)
        found.append(SimulatedDelivery(at, "products/create", body, f"product-{product.id}", None))
    return found


def product_json(product: Product, created: datetime) -> dict[str, Any]:
    """A product as ``products/create`` sends it (the REST shape), one variant, in stock."""
    stamp = shop_time(created)
    return {
        "id": product.id,
        "admin_graphql_api_id": gid("Product", product.id),
        "title": product.title,
        "handle": handle(product),
        "body_html": f"<p>{product.title}</p>",
        "product_type": product.product_type,
        "vendor": product.vendor,
        "status": "active",
        "published_scope": "global",
        "tags": product.product_type.lower(),
        "created_at": stamp,
        "updated_at": stamp,
        "published_at": stamp,
        "variants": [
            {
                "id": product.variant_id,
                "product_id": product.id,
                "title": "Default Title",
                "sku": product.sku,
                "price": str(product.price),
                "compare_at_price": None,
                "inventory_policy": "deny",
                "inventory_management": "shopify",
                "inventory_quantity": 250,
                "grams": product.grams,
                "created_at": stamp,
                "updated_at": stamp,
            }
        ],
        "image": {"src": f"{IMAGES}/{handle(product)}.jpg", "product_id": product.id},
    }
