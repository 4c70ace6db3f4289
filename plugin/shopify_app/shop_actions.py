"""Actions carried out in the shop through the Admin API: discount codes and customer tags.

The outbox already holds each action as a row (plugin.pipeline.outbox); the discount's code was
chosen when the row was written (unique, derived from its idempotency key) and is in the
email after it. Delivery (plugin.pipeline.delivery) hands these rows here:

- ``create_discount`` -> ``discountCodeBasicCreate``: a single-use code (``usageLimit`` 1,
  once per customer) with an expiry, a percentage or an amount off, an optional minimum
  subtotal, for that customer when Shopify knows them.
- ``tag_customer`` -> ``tagsAdd`` on the customer.
- An email that carries a discount code waits until the code exists in the shop; any
  other email never waits for an action.

On a WooCommerce shop the same actions go through its REST API
(``connectors.woocommerce.rest_api``): the code becomes a single-use coupon with its expiry,
and tags go into the customer's ``nudge_tags`` meta.

Failures are retried with the outbox's backoff; refused input is parked with the platform's
words. A shop without an Admin API token (the demo, `shop add` without --token) keeps the
local behaviour: the row is recorded, nothing is called.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select

from connectors.shopify.admin_api import AdminApiError, AdminClient, UserErrors
from connectors.woocommerce import rest_api as woo
from plugin.services import Services
from plugin.shopify_app import manifest, tokens
from plugin.storage.models import OutboxMessage, Shop

KINDS = frozenset({"create_discount", "tag_customer"})
DONE = ("recorded", "sent", "kept")  # settled states that count as "the code exists"
MAX_ATTEMPTS = 8

DISCOUNT_MUTATION = """
mutation NudgeDiscount($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}
"""

TAGS_MUTATION = """
mutation NudgeTags($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) {
    node { id }
    userErrors { field message }
  }
}
"""

Settle = Callable[..., bool]  # plugin.pipeline.delivery._settle(services, message_id, **values)


def customer_gid(customer_external_id: str | None) -> str | None:
    """The Admin API id of a Shopify customer; None for guests known by email only."""
    if customer_external_id and customer_external_id.isdigit():
        return f"gid://shopify/Customer/{customer_external_id}"
    return None


def discount_input(
    params: dict[str, Any], customer_external_id: str | None, now: datetime
) -> dict[str, Any]:
    """The ``DiscountCodeBasicInput`` for a create_discount row's params."""
    code = str(params["code"])
    ends = params.get("expires_at")
    percent = _decimal(params.get("percent"))
    amount = _decimal(params.get("amount"))
    if percent:
        value: dict[str, Any] = {"percentage": float(percent / 100)}
        title = f"Nudge {percent.normalize():f}% {code}"
    elif amount:
        value = {"discountAmount": {"amount": f"{amount:.2f}", "appliesOnEachItem": False}}
        title = f"Nudge {amount:.2f} off {code}"
    else:
        raise ValueError("a discount needs a percent or an amount")
    gid = customer_gid(customer_external_id)
    data: dict[str, Any] = {
        "title": title,
        "code": code,
        "startsAt": now.isoformat(),
        "endsAt": ends,
        "usageLimit": 1,
        "appliesOncePerCustomer": True,
        "context": {"customers": {"add": [gid]}} if gid else {"all": "ALL"},
        "customerGets": {"value": value, "items": {"all": True}},
    }
    minimum = _decimal(params.get("minimum") or params.get("minimum_subtotal"))
    if minimum:
        data["minimumRequirement"] = {
            "subtotal": {"greaterThanOrEqualToSubtotal": f"{minimum:.2f}"}
        }
    return data


def _decimal(value: Any) -> Decimal | None:
    if value in (None, "", 0):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number > 0 else None


def create_discount(client: AdminClient, message: OutboxMessage, now: datetime) -> str:
    """Create the row's code in the shop; return the discount's id."""
    variables = {
        "basicCodeDiscount": discount_input(message.params, message.customer_external_id, now)
    }
    try:
        payload = client.mutate(DISCOUNT_MUTATION, variables, "discountCodeBasicCreate")
    except UserErrors as exc:
        # The code is fixed by the row, so a repeat after a lost answer finds it taken:
        # that code is ours, created by the earlier attempt.
        if any(e.get("code") == "TAKEN" for e in exc.errors):
            return f"code {message.params['code']} already exists"
        raise
    return str((payload.get("codeDiscountNode") or {}).get("id") or "")


def tag_customer(client: AdminClient, message: OutboxMessage) -> str:
    """Add the row's tag(s) to the customer; return the customer's id."""
    gid = customer_gid(message.customer_external_id)
    if gid is None:
        raise ValueError("a guest (known by email only) has no customer record to tag")
    client.mutate(TAGS_MUTATION, {"id": gid, "tags": _tags(message)}, "tagsAdd")
    return gid


def _apply_on_woocommerce(client: woo.RestClient, message: OutboxMessage, now: datetime) -> str:
    if message.kind == "create_discount":
        return woo.create_coupon(client, woo.coupon(message.params, now))
    return woo.add_customer_tags(client, message.customer_external_id or "", _tags(message))


def _tags(message: OutboxMessage) -> list[str]:
    raw = message.params.get("tags") or message.params.get("tag") or []
    tags = [raw] if isinstance(raw, str) else [str(t) for t in raw]
    if not tags:
        raise ValueError("no tag to add")
    return tags


def deliver(
    services: Services,
    message: OutboxMessage,
    shop: Shop,
    now: datetime,
    stats: Any,
    settle: Settle,
    sleep: Callable[[float], None] | None = None,
) -> bool:
    """Carry out a claimed row if it is this module's; False hands it back to delivery.

    Handles: Admin API actions of shops with a token, and emails whose discount code does
    not exist yet (they are put back to wait for it).
    """
    if message.kind in KINDS:
        if not tokens.has_credentials(shop):
            return False
        _apply(services, message, shop, now, stats, settle, sleep)
        return True
    if message.kind == "email" and (message.params.get("context") or {}).get("discount_code"):
        return _wait_for_discount(services, message, now, stats, settle)
    return False


def settle_failure(
    services: Services,
    message: OutboxMessage,
    exc: Exception,
    now: datetime,
    stats: Any,
    settle: Settle,
    max_attempts: int,
) -> None:
    """A row the platform did not carry out: pending again after a backoff (30 s doubling,
    at most an hour) when the failure may pass and attempts remain, else failed (parked)
    with the platform's words."""
    if getattr(exc, "retryable", False) and message.attempts < max_attempts:
        delay = timedelta(seconds=min(3600, 30 * 2 ** max(0, message.attempts - 1)))
        settle(
            services,
            message.id,
            state="pending",
            next_attempt_at=now + delay,
            last_error=str(exc)[:2000],
        )
        stats.retried += 1
    else:
        settle(services, message.id, state="failed", last_error=str(exc)[:2000])
        stats.failed += 1


def _apply(
    services: Services,
    message: OutboxMessage,
    shop: Shop,
    now: datetime,
    stats: Any,
    settle: Settle,
    sleep: Callable[[float], None] | None,
) -> None:
    try:
        token = tokens.access_token(services, shop.id, now)
        if shop.platform == "woocommerce":
            result = _apply_on_woocommerce(woo.RestClient(shop.domain, token), message, now)
        else:
            client = AdminClient(
                shop.domain,
                token,
                manifest.load().api_version,
                sleep=sleep,
            )
            if message.kind == "create_discount":
                result = create_discount(client, message, now)
            else:
                result = tag_customer(client, message)
    # a ValueError: the action's own params cannot work
    except (AdminApiError, woo.WooApiError, tokens.TokenError, ValueError) as exc:
        settle_failure(services, message, exc, now, stats, settle, MAX_ATTEMPTS)
        return
    settle(services, message.id, state="recorded", provider_message_id=result[:255] or None)
    stats.recorded += 1


def _wait_for_discount(
    services: Services, message: OutboxMessage, now: datetime, stats: Any, settle: Settle
) -> bool:
    """Put an email back while its discount code is not created yet; False: send it."""
    with services.sessions() as session:
        discount = session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.episode_id == message.episode_id,
                OutboxMessage.step_id == message.step_id,
                OutboxMessage.kind == "create_discount",
                OutboxMessage.shop_id == message.shop_id,
            )
        )
    if discount is None or discount.state in DONE:
        return False
    if discount.state in ("failed", "cancelled"):
        settle(
            services,
            message.id,
            state="failed",
            last_error=(
                f"its discount code could not be created (outbox #{discount.id}: "
                f"{discount.last_error}); retry that one first"
            )[:2000],
        )
        stats.failed += 1
        return True
    # still to be created: try again once the discount's next attempt is due; waiting
    # does not count as an attempt of the email's own
    settle(
        services,
        message.id,
        state="pending",
        attempts=max(0, message.attempts - 1),
        next_attempt_at=max(discount.next_attempt_at or now, now) + timedelta(seconds=5),
        last_error=f"waiting for its discount code (outbox #{discount.id})",
    )
    stats.retried += 1
    return True
