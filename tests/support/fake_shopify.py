"""A stand-in for one shop's Admin GraphQL API and token endpoint, on `responses`.

It keeps the state the tests look at (webhook subscriptions, discounts, tags) and answers
the operations Nudge sends; ``queue`` puts canned answers (throttling, errors) first.
"""

from __future__ import annotations

import json
from collections import deque
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
        self.requests: list[dict[str, Any]] = []
        self.tokens_seen: list[str] = []
        self.queued: deque[tuple[int, dict[str, Any] | None, dict[str, str]]] = deque()
        self.shop_email = "owner@" + shop.split(".")[0] + ".example"
        rsps.add_callback(responses.POST, self.url, callback=self._answer)

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
        return 200, {}, json.dumps({"data": getattr(self, "_" + operation)(variables)})

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

    def _shop(self, variables: dict[str, Any]) -> dict[str, Any]:
        return {"shop": {"email": self.shop_email, "contactEmail": self.shop_email}}


def token_endpoint(shop: str) -> str:
    return f"https://{shop}/admin/oauth/access_token"


def grant(access: str = "shpat_new", refresh: str | None = "shprt_new", expires_in: int = 3600):
    """A token endpoint answer for an expiring offline token."""
    body: dict[str, Any] = {"access_token": access, "scope": "read_customers,write_discounts"}
    if refresh:
        body.update(expires_in=expires_in, refresh_token=refresh, refresh_token_expires_in=7776000)
    return body
