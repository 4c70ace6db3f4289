"""Count what a generated store history contains, so reports and tests can compare."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from plugin.demo.catalog import HIGH_INTENT_PAGES
from plugin.demo.store import PAGE_VIEW, SimulatedDelivery
from rules.recommend import OrderLines

CONSENT_TOPIC = "customers_email_marketing_consent/update"
ABANDONED_AFTER = timedelta(hours=1)  # idle this long after the last checkout activity
LAPSED_AFTER = timedelta(days=90)
INTENT_VIEWS, INTENT_WINDOW = 3, timedelta(hours=72)  # the sales-rep alert's page threshold


_HIGH_INTENT_PATHS = tuple(path for path, _title in HIGH_INTENT_PAGES)


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _intent(views: list[datetime]) -> bool:
    """Whether some ``INTENT_VIEWS`` of these (sorted) views lie within ``INTENT_WINDOW``."""
    n = INTENT_VIEWS - 1
    return any(views[i + n] - views[i] < INTENT_WINDOW for i in range(len(views) - n))


def describe(deliveries: Iterable[SimulatedDelivery]) -> dict[str, int]:
    """Count deliveries, shoppers, checkouts (abandoned, recovered), orders and their fates.

    ``abandoned``: checkouts with an email left idle for an hour or more (whether or not
    an order came later); ``recovered``: those of them completed by a later order;
    ``lapsed``: customers with orders whose newest is over 90 days before the last delivery;
    ``intent_customers``: logged-in shoppers who viewed high-intent pages 3 times in 72 hours.
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
    topic_signups = 0
    intent_views: dict[int, list[datetime]] = {}
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
        elif d.topic == "customer.tags_added":
            topic_signups += any(tag.startswith("topic:") for tag in p["tags"])
        elif d.topic == PAGE_VIEW and d.signed_in_as is not None:
            if p["path"].startswith(_HIGH_INTENT_PATHS):
                intent_views.setdefault(d.signed_in_as, []).append(d.at)
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
        "topic_signups": topic_signups,
        "page_views": topics[PAGE_VIEW],
        "high_intent_views": sum(len(views) for views in intent_views.values()),
        "intent_customers": sum(1 for views in intent_views.values() if _intent(views)),
        **{f"topic:{k}": v for k, v in sorted(topics.items())},
    }


def purchases(deliveries: Iterable[SimulatedDelivery]) -> list[OrderLines]:
    """Every order the history created, once (deliveries repeat), oldest first."""
    orders: dict[int, OrderLines] = {}
    for d in deliveries:
        if d.topic == "orders/create" and d.payload["id"] not in orders:
            orders[d.payload["id"]] = OrderLines(
                customer_id=str(d.payload["customer"]["id"]),
                placed_at=_moment(d.payload["created_at"]).astimezone(UTC),
                product_ids=tuple(str(line["product_id"]) for line in d.payload["line_items"]),
            )
    return sorted(orders.values(), key=lambda o: (o.placed_at, o.customer_id or ""))
