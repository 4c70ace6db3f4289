"""base64(HMAC-SHA256(raw body, secret)): how Shopify and WooCommerce sign webhooks."""

from __future__ import annotations

import base64
import binascii
import hmac


def sign(raw_body: bytes, secret: str) -> str:
    """The signature a platform sends for ``raw_body``."""
    return base64.b64encode(hmac.digest(secret.encode(), raw_body, "sha256")).decode()


def matches(given: str | None, raw_body: bytes, secret: str) -> bool:
    """Compare a received signature with the expected one in constant time; never raises."""
    if not given or not secret:
        return False
    try:
        given_bytes = base64.b64decode(given.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hmac.digest(secret.encode(), raw_body, "sha256")  # one call into OpenSSL
    return hmac.compare_digest(given_bytes, expected)
