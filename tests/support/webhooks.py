"""Shopify webhook deliveries as Shopify sends them: raw JSON bytes and signed headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from tests.support.shop import SHOP, SHOP_SECRET


def shopify_signature(body: bytes, secret: str = SHOP_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class WebhookSender:
    """Post Shopify deliveries the way Shopify does: raw JSON bytes, signed headers."""

    def __init__(self, client: Any):
        self.client = client
        self.count = 0

    def __call__(
        self,
        topic: str,
        payload: Any,
        *,
        webhook_id: str | None = None,
        secret: str = SHOP_SECRET,
        shop: str = SHOP,
        headers: dict[str, str] | None = None,
    ):  # type: ignore[no-untyped-def]
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.count += 1
        sent = {
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-Webhook-Id": webhook_id or f"delivery-{self.count}",
            "X-Shopify-Hmac-Sha256": shopify_signature(body, secret),
            "Content-Type": "application/json",
        }
        sent.update(headers or {})
        return self.client.post("/webhooks/shopify", data=body, headers=sent)
