"""A stand-in for one shop's Admin GraphQL API and token endpoint, on `responses`.

It keeps the state the tests look at (webhook subscriptions, discounts, tags, the catalog)
and answers the operations Nudge sends; ``queue`` puts canned answers (throttling, errors)
first. The catalog is a list of product nodes as the Admin API returns them
(``product_node``); a bulk operation completes after ``bulk_polls`` looks at it, and its
JSONL result lists every variant and collection on a line of its own, before the products
they belong to (Shopify promises no order).
"""

from __future__ import annotations

import json
from collections import deque
from itertools import count
from typing import Any

import responses

from plugin.shopify_app.manifest import load

API_VERSION = load().api_version


def throttled(requested: float = 112, available: float = 12, rate: float = 50) -> dict[str, Any]:
    """Shopify's answer to a query the cost bucket cannot pay for yet."""
    return {
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": None,
                "throttleStatus": {
                    "maximumAvailable": 2000.0,
                    "currentlyAvailable": available,
                    "restoreRate": rate,
                },
            }
        },
    }


class FakeAdmin:
    """One shop's Admin GraphQL endpoint."""

    def __init__(self, rsps: Any, shop: str):
        self.shop = shop
        self.url = f"https://{shop}/admin/api/{API_VERSION}/graphql.json"
        self.subscriptions: list[dict[str, str]] = []
        self.discounts: list[dict[str, Any]] = []
        self.tags: dict[str, list[str]] = {}
        # customer id -> the emailMarketingConsent last written; address -> customer id
        self.consents: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []
        self.tokens_seen: list[str] = []
        self.queued: deque[tuple[int, dict[str, Any] | None, dict[str, str]]] = deque()
        self.shop_email = "owner@" + shop.split(".")[0] + ".example"
        # the shop profile's address, as the Admin API's ShopAddress gives it
        self.shop_address: dict[str, Any] | None = {
            "address1": "77 Mill Road",
            "address2": "Unit 4",
            "city": "Burlington",
            "province": "Vermont",
            "zip": "05401",
            "country": "United States",
        }
        self.products: list[dict[str, Any]] = []
        self.bulk_polls = 2  # looks at a bulk operation before it completes
        self.bulk_error: str | None = None  # set: the bulk operation fails with this code
        self.bulk_operations: dict[str, dict[str, Any]] = {}
        self.result_url = f"https://storage.example/{shop}/catalog.jsonl"
        self.downloads = 0
        self._ids = count(1)
        rsps.add_callback(responses.POST, self.url, callback=self._answer)
        rsps.add_callback(responses.GET, self.result_url, callback=self._bulk_result)

    def queue(self, status: int, body: dict[str, Any] | None = None, **headers: str) -> None:
        self.queued.append((status, body, headers))

    def operations(self) -> list[str]:
        return [r["operation"] for r in self.requests]

    def _answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        query, variables = body["query"], body.get("variables") or {}
        operation = next(
            op
            for op in (
                "customerEmailMarketingConsentUpdate",
                "customers(",
                "bulkOperationRunQuery",
                "productsCount",
                "products(",
                "product(",
                "node(",
                "webhookSubscriptionCreate",
                "webhookSubscriptions",
                "discountCodeBasicCreate",
                "tagsAdd",
                "shop",
            )
            if op in query
        )
        self.requests.append({"operation": operation, "variables": variables})
        self.tokens_seen.append(request.headers.get("X-Shopify-Access-Token"))
        if self.queued:
            status, canned, headers = self.queued.popleft()
            return status, headers, json.dumps(canned) if canned is not None else ""
        handler = getattr(self, "_" + operation.rstrip("("))
        return 200, {}, json.dumps({"data": handler(variables)})

    def _webhookSubscriptions(self, variables: dict[str, Any]) -> dict[str, Any]:
        edges = [{"node": s} for s in self.subscriptions]
        page = {"edges": edges, "pageInfo": {"hasNextPage": False, "endCursor": None}}
        return {"webhookSubscriptions": page}

    def _webhookSubscriptionCreate(self, variables: dict[str, Any]) -> dict[str, Any]:
        node = {
            "id": f"gid://shopify/WebhookSubscription/{len(self.subscriptions) + 1}",
            "topic": variables["topic"],
            "uri": variables["webhookSubscription"]["uri"],
        }
        self.subscriptions.append(node)
        return {"webhookSubscriptionCreate": {"webhookSubscription": node, "userErrors": []}}

    def _discountCodeBasicCreate(self, variables: dict[str, Any]) -> dict[str, Any]:
        data = variables["basicCodeDiscount"]
        if any(d["code"] == data["code"] for d in self.discounts):
            errors = [{"field": ["basicCodeDiscount", "code"], "code": "TAKEN", "message": "taken"}]
            return {"discountCodeBasicCreate": {"codeDiscountNode": None, "userErrors": errors}}
        self.discounts.append(data)
        node = {"id": f"gid://shopify/DiscountCodeNode/{len(self.discounts)}"}
        return {"discountCodeBasicCreate": {"codeDiscountNode": node, "userErrors": []}}

    def _tagsAdd(self, variables: dict[str, Any]) -> dict[str, Any]:
        self.tags.setdefault(variables["id"], []).extend(variables["tags"])
        return {"tagsAdd": {"node": {"id": variables["id"]}, "userErrors": []}}

    def _customerEmailMarketingConsentUpdate(self, variables: dict[str, Any]) -> dict[str, Any]:
        data = variables["input"]
        self.consents[data["customerId"]] = data["emailMarketingConsent"]
        customer = {"id": data["customerId"]}
        return {"customerEmailMarketingConsentUpdate": {"customer": customer, "userErrors": []}}

    def _customers(self, variables: dict[str, Any]) -> dict[str, Any]:
        # only the search Nudge sends: email:"<address>"
        email = variables["query"].removeprefix('email:"').removesuffix('"')
        gid = self.customers.get(email)
        return {"customers": {"nodes": [{"id": gid, "email": email}] if gid else []}}

    def _shop(self, variables: dict[str, Any]) -> dict[str, Any]:
        return {
            "shop": {
                "email": self.shop_email,
                "contactEmail": self.shop_email,
                "shopAddress": self.shop_address,
            }
        }

    # --- the catalog ---------------------------------------------------------------------

    def _productsCount(self, variables: dict[str, Any]) -> dict[str, Any]:
        return {"productsCount": {"count": len(self.products)}}

    def _products(self, variables: dict[str, Any]) -> dict[str, Any]:
        start = int(variables.get("after") or 0)
        page = self.products[start : start + 20]
        more = start + 20 < len(self.products)
        info = {"hasNextPage": more, "endCursor": str(start + 20) if more else None}
        return {"products": {"nodes": [_connected(p) for p in page], "pageInfo": info}}

    def _product(self, variables: dict[str, Any]) -> dict[str, Any]:
        found = next((p for p in self.products if p["id"] == variables["id"]), None)
        return {"product": _connected(found) if found else None}

    def _bulkOperationRunQuery(self, variables: dict[str, Any]) -> dict[str, Any]:
        gid = f"gid://shopify/BulkOperation/{next(self._ids)}"
        self.bulk_operations[gid] = {"id": gid, "status": "CREATED", "looks": 0}
        return {
            "bulkOperationRunQuery": {
                "bulkOperation": {"id": gid, "status": "CREATED"},
                "userErrors": [],
            }
        }

    def _node(self, variables: dict[str, Any]) -> dict[str, Any]:
        operation = self.bulk_operations.get(variables["id"])
        if operation is None:
            return {"node": None}
        operation["looks"] += 1
        done = operation["looks"] >= self.bulk_polls
        status = "COMPLETED" if done else "RUNNING"
        if self.bulk_error is not None:
            status, done = "FAILED", False
        node = {
            "id": operation["id"],
            "status": status,
            "errorCode": self.bulk_error,
            "objectCount": str(len(self.products)),
            "url": self.result_url if done and self.products else None,
            "partialDataUrl": None,
        }
        return {"node": node}

    def _bulk_result(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.downloads += 1
        children, parents = [], []
        for product in self.products:
            bare = {k: v for k, v in product.items() if k not in ("variants", "collections")}
            parents.append(json.dumps(bare))
            for variant in product.get("variants", []):
                children.append(json.dumps({**variant, "__parentId": product["id"]}))
            for collection in product.get("collections", []):
                children.append(json.dumps({**collection, "__parentId": product["id"]}))
        return 200, {}, "\n".join(children + parents) + "\n"


def _connected(product: dict[str, Any]) -> dict[str, Any]:
    """A stored product node with its variants and collections as connections (`nodes`)."""
    return {
        **product,
        "variants": {"nodes": product.get("variants", [])},
        "collections": {"nodes": product.get("collections", [])},
    }


def product_node(
    product_id: int,
    title: str = "A product",
    *,
    product_type: str = "",
    vendor: str = "",
    tags: tuple[str, ...] = (),
    collections: tuple[str, ...] = (),
    prices: tuple[str, ...] = ("10.00",),
    available: bool = True,
    status: str = "ACTIVE",
    updated_at: str = "2026-01-01T10:00:00Z",
    image_url: str | None = None,
) -> dict[str, Any]:
    """A product as the Admin GraphQL API returns it (variants and collections as lists,
    made connections or JSONL lines by FakeAdmin)."""
    return {
        "id": f"gid://shopify/Product/{product_id}",
        "title": title,
        "handle": f"product-{product_id}",
        "productType": product_type,
        "vendor": vendor,
        "tags": list(tags),
        "status": status,
        "createdAt": "2025-06-01T10:00:00Z",
        "updatedAt": updated_at,
        "onlineStoreUrl": f"https://shop.example/products/product-{product_id}",
        "featuredMedia": {"preview": {"image": {"url": image_url}}} if image_url else None,
        "variants": [
            {
                "id": f"gid://shopify/ProductVariant/{product_id * 100 + n}",
                "title": f"Variant {n}",
                "sku": None,
                "price": price,
                "compareAtPrice": None,
                "availableForSale": available,
            }
            for n, price in enumerate(prices)
        ],
        "collections": [
            {"id": f"gid://shopify/Collection/{n}", "title": name}
            for n, name in enumerate(collections, start=1)
        ],
    }


def token_endpoint(shop: str) -> str:
    return f"https://{shop}/admin/oauth/access_token"


def grant(
    access: str = "shpat_new",
    refresh: str | None = "shprt_new",
    expires_in: int = 3600,
    scope: str = "read_customers,write_discounts",
):
    """A token endpoint answer for an expiring offline token."""
    body: dict[str, Any] = {"access_token": access, "scope": scope}
    if refresh:
        body.update(expires_in=expires_in, refresh_token=refresh, refresh_token_expires_in=7776000)
    return body
