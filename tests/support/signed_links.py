"""Query strings Shopify signs: install and callback links, and app-proxy requests."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

from tests.support.shop import APP_SECRET


def signed(params: dict[str, str], secret: str = APP_SECRET) -> dict[str, str]:
    """Sign query parameters the way Shopify signs its install and callback links."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return {**params, "hmac": digest}


def proxy_query(secret: str = APP_SECRET, **params: str) -> str:
    """A query string as Shopify's app proxy signs it (sorted, concatenated, hex HMAC)."""
    message = "".join(sorted(f"{k}={v}" for k, v in params.items()))
    signature = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode({**params, "signature": signature})
