"""Count what a generated store history contains, so reports and tests can compare."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from plugin.demo.history import SimulatedDelivery

CONSENT_TOPIC = "customers_email_marketing_consent/update"
ABANDONED_AFTER = timedelta(hours=1)  # idle this long after the last checkout activity
LAPSED_AFTER = timedelta(days=90)


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def describe(deliveries: Iterable[SimulatedDelivery]) -> dict[str, int]:
    """Count deliveries, shoppers, checkouts (abandoned, recovered), orders and their fates.

    ``abandoned``: checkouts with an email left idle for an hour or more (whether or not
    an order came later); ``recovered``: those of them completed by a later order;
    ``lapsed``: customers with orders whose newest is over 90 days before the last delivery.
    """
    topics: Counter[str] = Counter()
    seen: set[str] = set()
    duplicates = out_of_order = 0
    checkout_activity: dict[str, datetime] = {}
    created_checkouts: set[str] = set()
    ordered_at: dict[str, datetime] = {}
    orders_by_customer: Counter[int] = Counter()
    last_order: dict[int, datetime] = {}
    backfilled = 0
    consent: Counter[str] = Counter()
    end = None
    for d in deliveries:
        end = d.at
        if d.webhook_id in seen:
            duplicates += 1
            continue
        seen.add(d.webhook_id)
        topics[d.topic] += 1
        p = d.payload
        if d.topic == "checkouts/create":
            created_checkouts.add(p["token"])
        elif d.topic == "checkouts/update":
            out_of_order += p["token"] not in created_checkouts
        if d.topic.startswith("checkouts/") and p.get("email"):
            checkout_activity[p["token"]] = max(
                _moment(p["updated_at"]),
                checkout_activity.get(p["token"], _moment(p["updated_at"])),
            )
        elif d.topic == "orders/create":
            created = _moment(p["created_at"])
            backfilled += created < d.at - timedelta(days=1)
            customer = p["customer"]["id"]
            orders_by_customer[customer] += 1
            last_order[customer] = max(created, last_order.get(customer, created))
            if p.get("checkout_token"):
                ordered_at[p["checkout_token"]] = created
        elif d.topic == CONSENT_TOPIC:
            consent[p["email_marketing_consent"]["state"]] += 1
    abandoned = {
        token
        for token, active in checkout_activity.items()
        if token not in ordered_at or ordered_at[token] - active >= ABANDONED_AFTER
    }
    return {
        "deliveries": sum(topics.values()) + duplicates,
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "customers": topics["customers/create"],
        "anonymous_carts": topics["carts/create"],
        "checkouts": topics["checkouts/create"],
        "checkouts_with_email": len(checkout_activity),
        "abandoned": len(abandoned),
        "recovered": sum(1 for token in abandoned if token in ordered_at),
        "orders": topics["orders/create"],
        "backfilled_orders": backfilled,
        "repeat_buyers": sum(1 for n in orders_by_customer.values() if n >= 3),
        "lapsed": sum(1 for at in last_order.values() if end and end - at > LAPSED_AFTER),
        "fulfilments": topics["orders/fulfilled"],
        "cancelled": topics["orders/cancelled"],
        "refunded": topics["orders/updated"],
        "consent_subscribed": consent["subscribed"],
        "consent_unsubscribed": consent["unsubscribed"],
        **{f"topic:{k}": v for k, v in sorted(topics.items())},
    }
