"""WooCommerce's REST API (``/wp-json/wc/v3``): the calls Nudge's actions need.

- ``create_coupon``: a discount code as a WooCommerce coupon, single use (once in all, once
  per buyer), with its expiry and an optional minimum spend.
- ``add_customer_tags``: WooCommerce customers have no tags; Nudge keeps its own in the
  customer's meta ``nudge_tags`` (read back as tags from customer deliveries).
- ``find_customer_id`` and ``set_accepts_marketing``: marketing consent written back to the
  customer's meta ``_nudge_accepts_marketing`` (an unsubscribe, a confirmed signup).
- ``store_address``: the store's address (WooCommerce › Settings › General), which marketing
  email must show, read when the store connects.

Authentication is the store's REST API key pair (consumer key and secret, from
``/wc-auth/v1/authorize`` or made by hand under WooCommerce › Settings › Advanced › REST API),
sent as HTTP Basic over HTTPS, as WooCommerce accepts it. ``WooApiError.retryable`` says
whether a later try may work (network, 429, 5xx); the outbox retries those with backoff.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import requests

from connectors.woocommerce.order_meta import TAGS, meta_values, tag_list, tag_text
from connectors.woocommerce.stores import store_url
from rules.validation import postal_address_error

TIMEOUT = (5.0, 30.0)  # connect, read
CODE_TAKEN = "woocommerce_rest_coupon_code_already_exists"
CONSENT_META = "_nudge_accepts_marketing"


class WooApiError(Exception):
    """A request WooCommerce did not carry out."""

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


def split_credentials(token: str) -> tuple[str, str]:
    """A stored key pair (``ck_...:cs_...``) as (consumer key, consumer secret)."""
    key, _, secret = token.partition(":")
    if not key.startswith("ck_") or not secret.startswith("cs_"):
        raise ValueError("a WooCommerce key pair is 'ck_...:cs_...'")
    return key, secret


class RestClient:
    """Calls to one store's REST API with its key pair; ``store`` is its key (host, and path
    when the store is below the root of its host: ``connectors.woocommerce.stores``)."""

    def __init__(self, store: str, token: str, session: requests.Session | None = None):
        self.root = f"{store_url(store)}/wp-json"
        self.auth = split_credentials(token)
        self.http = session or requests.Session()

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        namespace: str = "wc/v3",
        params: dict[str, str] | None = None,
    ) -> Any:
        url = f"{self.root}/{namespace}{path}"
        try:
            response = self.http.request(
                method, url, json=body, params=params, auth=self.auth, timeout=TIMEOUT
            )
        except requests.RequestException as exc:
            raise WooApiError(f"{method} {path}: store unreachable: {exc}", retryable=True) from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            detail = data.get("message") if isinstance(data, dict) else response.text[:200]
            code = data.get("code") if isinstance(data, dict) else None
            error = WooApiError(
                f"{method} {path} answered {response.status_code}: {code or ''} {detail}".strip(),
                retryable=response.status_code == 429 or response.status_code >= 500,
                status=response.status_code,
            )
            error.code = code  # type: ignore[attr-defined]
            raise error
        return data


def coupon(params: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The coupon for a ``create_discount`` row's params: its code, percent or amount off,
    single use (once in all, once per buyer), expiring when the row says."""
    percent = _positive(params.get("percent"))
    amount = _positive(params.get("amount"))
    if percent:
        kind, value = "percent", percent
    elif amount:
        kind, value = "fixed_cart", amount
    else:
        raise ValueError("a discount needs a percent or an amount")
    body: dict[str, Any] = {
        "code": str(params["code"]),
        "discount_type": kind,
        "amount": f"{value.normalize():f}",
        "individual_use": True,
        "usage_limit": 1,
        "usage_limit_per_user": 1,
        "description": f"Nudge, created {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
    }
    expires = params.get("expires_at")
    if expires:
        # `date_expires` with its offset: WooCommerce writes a coupon's fields through their
        # setters, and `date_expires_gmt` has none (it is read-only in effect: a coupon sent
        # with it alone never expires); a time with an offset is taken as that moment, one
        # without it in the site's time zone.
        ends = datetime.fromisoformat(str(expires)).astimezone(UTC)
        body["date_expires"] = ends.isoformat(timespec="seconds")
    minimum = _positive(params.get("minimum") or params.get("minimum_subtotal"))
    if minimum:
        body["minimum_amount"] = f"{minimum:.2f}"
    return body


def create_coupon(client: RestClient, body: dict[str, Any]) -> str:
    """Create the coupon; return its id (or say the code exists: an earlier try made it)."""
    try:
        created = client.call("POST", "/coupons", body)
    except WooApiError as exc:
        # The code is fixed by the outbox row, so a repeat after a lost answer finds it taken.
        if getattr(exc, "code", None) == CODE_TAKEN:
            return f"code {body['code']} already exists"
        raise
    return str(created.get("id") or "") if isinstance(created, dict) else ""


def add_customer_tags(client: RestClient, customer_id: str, tags: list[str]) -> str:
    """Add tags to the customer's ``nudge_tags`` meta (read, then written whole)."""
    if not customer_id.isdigit():
        raise ValueError("a guest (known by email only) has no customer record to tag")
    current = client.call("GET", f"/customers/{customer_id}")
    meta = meta_values(current.get("meta_data") if isinstance(current, dict) else None)
    merged = list(tag_list(meta.get(TAGS))) + tags
    client.call(
        "PUT",
        f"/customers/{customer_id}",
        {"meta_data": [{"key": TAGS, "value": tag_text(merged)}]},
    )
    return customer_id


def find_customer_id(client: RestClient, email: str) -> str | None:
    """The id of the store's customer with exactly this address, if there is one."""
    found = client.call("GET", "/customers", params={"email": email})
    for customer in found if isinstance(found, list) else []:
        if isinstance(customer, dict) and str(customer.get("email") or "").lower() == email.lower():
            return str(customer["id"])
    return None


def set_accepts_marketing(client: RestClient, customer_id: str, accepts: bool) -> None:
    """Write the customer's marketing consent to their meta (``yes``/``no``)."""
    body = {"meta_data": [{"key": CONSENT_META, "value": "yes" if accepts else "no"}]}
    client.call("PUT", f"/customers/{int(customer_id)}", body)


def _positive(value: Any) -> Decimal | None:
    if value in (None, "", 0):
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return number if number.is_finite() and number > 0 else None


WEBHOOK_TOPICS = (
    "order.created",
    "order.updated",
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "product.created",
    "product.updated",
    "product.deleted",
    "product.restored",
)
"""The store's webhooks Nudge creates when it connects (its carts come from the plugin)."""


def _nudge_webhooks(client: RestClient, delivery_url: str) -> dict[str, dict[str, Any]]:
    """The store's webhooks that deliver to Nudge, by topic."""
    listed = client.call("GET", "/webhooks?per_page=100")
    found: dict[str, dict[str, Any]] = {}
    for hook in listed if isinstance(listed, list) else []:
        if isinstance(hook, dict) and hook.get("delivery_url") == delivery_url:
            found.setdefault(str(hook.get("topic")), hook)
    return found


def ensure_webhooks(client: RestClient, delivery_url: str, secret: str) -> list[str]:
    """Create (or renew, with this secret) one active webhook per topic, then read them back;
    return the topics still without an active webhook to Nudge (none: all is well)."""
    existing = _nudge_webhooks(client, delivery_url)
    for topic in WEBHOOK_TOPICS:
        hook = {"secret": secret, "status": "active"}
        if topic in existing:
            client.call("PUT", f"/webhooks/{existing[topic]['id']}", hook)
        else:
            hook.update(name=f"Nudge {topic}", topic=topic, delivery_url=delivery_url)
            client.call("POST", "/webhooks", hook)
    active = _nudge_webhooks(client, delivery_url)
    return [t for t in WEBHOOK_TOPICS if (active.get(t) or {}).get("status") != "active"]


def send_connection(client: RestClient, app_url: str, secret: str) -> None:
    """Give the store's Nudge plugin the app's address and the secret to sign carts with
    (its route ``wc-nudge/v1/connection``: WooCommerce authenticates the key pair there)."""
    client.call(
        "POST",
        "/connection",
        {"app_url": app_url, "webhook_secret": secret},
        namespace="wc-nudge/v1",
    )


def store_address(client: RestClient) -> str | None:
    """The store's address as WooCommerce › Settings › General holds it, on one line
    ("street, city, state postcode, country"); None when it lacks a street, a city or a
    country (a store whose setup was skipped), or would not pass the settings' own check."""
    listed = client.call("GET", "/settings/general")
    values = {
        str(item.get("id")): item.get("value")
        for item in (listed if isinstance(listed, list) else [])
        if isinstance(item, dict)
    }

    def part(key: str) -> str:
        value = values.get(key)
        return " ".join(value.split()) if isinstance(value, str) else ""

    # "US:CA": the country, then its state when it has states
    country, _, state = part("woocommerce_default_country").partition(":")
    street = ", ".join(
        p for p in (part("woocommerce_store_address"), part("woocommerce_store_address_2")) if p
    )
    city = part("woocommerce_store_city")
    region = " ".join(p for p in (state, part("woocommerce_store_postcode")) if p)
    if not (street and city and country):
        return None
    line = ", ".join(p for p in (street, city, region, country) if p)
    return line if postal_address_error(line) is None else None
