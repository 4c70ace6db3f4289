"""Who a storefront visitor is, and only as far as it can be proved.

A visitor's first-party id (kept by the storefront script) proves nothing. A customer is
named only by a token Nudge signed: ``nudge_t``, carried by the links in Nudge's emails, or
minted for the logged-in customer behind Shopify's app proxy, whose request Shopify signs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl

from itsdangerous import BadData, URLSafeTimedSerializer

TOKEN_SALT = "nudge-storefront-identity"
TOKEN_MAX_AGE = 90 * 86_400  # an email link keeps identifying its reader for 90 days


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=TOKEN_SALT)


def visitor_token(secret_key: str, shop_id: int, customer_key: str) -> str:
    """A signed token naming one customer of one shop (the ``nudge_t`` link parameter)."""
    return _serializer(secret_key).dumps({"s": shop_id, "c": customer_key})


def read_visitor_token(secret_key: str, token: object, shop_id: int) -> str | None:
    """The customer a valid, unexpired token of this shop names; None for anything else."""
    if not isinstance(token, str) or not 0 < len(token) <= 512:
        return None
    try:
        data = _serializer(secret_key).loads(token, max_age=TOKEN_MAX_AGE)
    except BadData:
        return None
    if not isinstance(data, dict) or data.get("s") != shop_id:
        return None
    customer = data.get("c")
    return customer if isinstance(customer, str) and 0 < len(customer) <= 64 else None


def app_proxy_customer(query_string: str, api_secret: str | None) -> tuple[str, str] | None:
    """(shop domain, logged-in customer id) from a request Shopify's app proxy signed.

    Shopify signs the query: every parameter but ``signature`` as ``key=value`` (repeated
    values joined by commas), sorted, concatenated without separators, HMAC-SHA256 hex.
    """
    if not api_secret:
        return None
    params: dict[str, list[str]] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        params.setdefault(key, []).append(value)
    signature = (params.pop("signature", None) or [""])[0]
    message = "".join(sorted(f"{key}={','.join(values)}" for key, values in params.items()))
    expected = hmac.new(api_secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(expected, signature):
        return None
    shop = _first(params, "shop")
    customer = _first(params, "logged_in_customer_id")
    if not shop or not customer or not customer.isdigit():
        return None
    return shop, customer


def _first(params: Mapping[str, list[str]], key: str) -> str:
    values = params.get(key) or [""]
    return values[0]
