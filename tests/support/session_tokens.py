"""Shopify session tokens, as App Bridge makes them for the embedded page."""

from __future__ import annotations

import time

import jwt

from tests.support.shop import API_KEY, APP_SECRET, SHOP


def session_token(
    shop: str = SHOP,
    *,
    secret: str = APP_SECRET,
    audience: str = API_KEY,
    expires_in: int = 60,
    not_before_in: int = -5,
) -> str:
    """A Shopify session token as App Bridge makes it (HS256, signed with the app secret)."""
    now = int(time.time())
    claims = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": audience,
        "sub": "42",
        "exp": now + expires_in,
        "nbf": now + not_before_in,
        "iat": now,
        "jti": f"jti-{now}",
        "sid": "session-1",
    }
    return jwt.encode(claims, secret, algorithm="HS256")
