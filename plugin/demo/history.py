"""A seeded, realistic store history, as the Shopify webhook deliveries it would produce.

Shoppers of four kinds: loyal repeat buyers with their own re-order rhythm, one-off buyers,
browsers who fill carts and abandon checkouts (some come back), and lapsed customers whose
last order is months old. Payloads have Shopify's 2025-01+ shapes: customer objects carry
no consent or order counts; consent arrives on its own topic. About 2 % of deliveries are
repeated and about 1 % arrive out of order, as Shopify's do.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from plugin.demo import payloads
from plugin.demo.catalog import (
    CONSUMABLES,
    DURABLES,
    FIRST_NAMES,
    LAST_NAMES,
    PRODUCTS,
    TIMEZONES,
    Product,
)

MIX = {"loyal": 0.25, "occasional": 0.25, "browser": 0.33, "lapsed": 0.17}
CONSENT_RATE = 0.6
UNSUBSCRIBE_RATE = 0.04
BROWSE_ONLY_RATE = 0.35  # carts that never reach checkout
PAY_LATER_RATE = 0.2  # orders created pending, paid a little later (orders/paid)
CHECKOUT_EMAIL_RATE = 0.8  # checkouts where the shopper typed an email
IMMEDIATE_PURCHASE = 0.4  # checkouts completed on the spot
RECOVERY_RATE = 0.2  # abandoned checkouts completed later without any nudge
CANCEL_RATE, REFUND_RATE = 0.02, 0.03
DUPLICATE_RATE, OUT_OF_ORDER_RATE = 0.02, 0.01
ACTIVE_HOURS = (8, 9, 10, 11, 12, 12, 13, 13, 14, 15, 17, 19, 20, 20, 21, 21, 22)


@dataclass(frozen=True)
class SimulatedDelivery:
    """One webhook as Shopify would send it, at simulated time ``at``."""

    at: datetime
    topic: str
    payload: dict[str, Any]
    webhook_id: str


@dataclass
class Shopper:
    id: int
    first_name: str
    last_name: str
    email: str
    tz_offset: int
    kind: str
    subscribed: bool
    created_at: datetime
    cycle_days: float = 30.0
    favourites: tuple[Product, ...] = ()


@dataclass
class History:
    rng: random.Random
    start: datetime
    end: datetime
    shop_domain: str
    seed: int
    pending: list[tuple[datetime, int, str, dict[str, Any]]] = field(default_factory=list)
    order_number: int = 1000
    next_id: int = 5_000_000_000_000

    def emit(self, at: datetime, topic: str, payload: dict[str, Any]) -> None:
        self.pending.append((at, len(self.pending), topic, payload))

    def new_id(self) -> int:
        self.next_id += self.rng.randint(1, 999)
        return self.next_id


def _daytime(h: History, day: datetime, shopper: Shopper) -> datetime:
    """A moment on ``day`` when people shop, in the shopper's local time."""
    local_hour = h.rng.choice(ACTIVE_HOURS)
    moment = day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
        hours=local_hour - shopper.tz_offset,
        minutes=h.rng.randint(0, 59),
        seconds=h.rng.randint(0, 59),
    )
    return moment


def _place_order(
    h: History,
    s: Shopper,
    at: datetime,
    products: list[Product],
    checkout_token: str | None = None,
    cart_token: str | None = None,
    items: list[dict[str, Any]] | None = None,
    backfill: bool = False,
) -> None:
    """An order and what follows it: payment, fulfilment, sometimes a cancel or a refund."""
    order_id = h.new_id()
    h.order_number += 1
    number = h.order_number
    lines = items or payloads.line_items(h, products)

    def body(updated: datetime, financial: str = "paid", **changes: Any) -> dict[str, Any]:
        """The order as Shopify sends it at ``updated``."""
        return payloads.order_json(
            h,
            s,
            order_id,
            number,
            lines,
            at,
            updated,
            checkout_token,
            cart_token,
            financial,
            **changes,
        )

    if backfill:  # an order from before the window, delivered when the app is installed
        shipped = at + timedelta(days=2)
        h.emit(h.start, "orders/create", body(shipped, fulfilled=shipped))
        return
    pay_later = h.rng.random() < PAY_LATER_RATE
    h.emit(at, "orders/create", body(at, "pending" if pay_later else "paid"))
    if pay_later:
        paid = at + timedelta(minutes=h.rng.randint(1, 90))
        h.emit(paid, "orders/paid", body(paid))
    roll = h.rng.random()
    if roll < CANCEL_RATE:
        cancelled = at + timedelta(hours=h.rng.randint(1, 20))
        h.emit(cancelled, "orders/cancelled", body(cancelled, "voided", cancelled=cancelled))
        return
    fulfilled = at + timedelta(days=h.rng.uniform(0.5, 4))
    h.emit(fulfilled, "orders/fulfilled", body(fulfilled, fulfilled=fulfilled))
    if roll < CANCEL_RATE + REFUND_RATE:
        refunded = fulfilled + timedelta(days=h.rng.uniform(2, 6))
        h.emit(refunded, "orders/updated", body(refunded, "refunded", fulfilled=fulfilled))


def _shop_session(
    h: History, s: Shopper, at: datetime, products: list[Product], will_buy: bool
) -> None:
    """Browse, cart, checkout; buy now, later, or never."""
    cart_token = uuid.UUID(int=h.rng.getrandbits(128)).hex
    items = payloads.line_items(h, products)
    cart = {
        "id": cart_token,
        "token": cart_token,
        "line_items": items,
        "note": "",
        "created_at": payloads.with_offset(at, 0),
        "updated_at": payloads.with_offset(at, 0),
    }
    if not will_buy and h.rng.random() < BROWSE_ONLY_RATE:
        h.emit(at, "carts/create", cart)
        return  # a browsing cart that never reaches checkout
    token = uuid.UUID(int=h.rng.getrandbits(128)).hex
    opened = at + timedelta(minutes=h.rng.randint(2, 15))
    with_email = will_buy or h.rng.random() < CHECKOUT_EMAIL_RATE
    h.emit(
        opened,
        "checkouts/create",
        payloads.checkout_json(h, s, token, cart_token, items, opened, opened, False, None),
    )
    typed = opened + timedelta(minutes=h.rng.randint(1, 6))
    h.emit(
        typed,
        "checkouts/update",
        payloads.checkout_json(h, s, token, cart_token, items, opened, typed, with_email, None),
    )
    if will_buy:
        bought = typed + timedelta(minutes=h.rng.randint(1, 8))
    elif with_email and h.rng.random() < RECOVERY_RATE:
        bought = typed + timedelta(hours=h.rng.uniform(1, 30))
    else:
        return
    if bought < h.end:
        _place_order(h, s, bought, products, token, cart_token, items)


def _shopper(h: History, n: int) -> Shopper:
    rng = h.rng
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
    tz, offset = rng.choice(TIMEZONES)
    age_days = rng.uniform(120, 700) if kind in ("loyal", "lapsed") else rng.uniform(-50, 400)
    return Shopper(
        id=7_000_000_000_000 + n * 97,
        first_name=first,
        last_name=last,
        email=f"{first}.{last}.{n}@example.com".lower().replace("-", ""),
        tz_offset=offset,
        kind=kind,
        subscribed=rng.random() < CONSENT_RATE,
        created_at=h.start - timedelta(days=age_days),
        cycle_days=rng.uniform(20, 45),
        favourites=tuple(rng.sample(CONSUMABLES, 2)),
    )


def _life(h: History, s: Shopper) -> None:
    """Everything one shopper does, before and during the window."""
    rng = h.rng
    signup = max(s.created_at, h.start - timedelta(days=3650))
    known_at = h.start if signup < h.start else signup
    if signup < h.end:
        h.emit(known_at, "customers/create", payloads.customer_json(s))
        if s.subscribed:  # the never-subscribed have no consent change to report
            h.emit(
                known_at,
                "customers_email_marketing_consent/update",
                payloads.consent_json(s, True, signup),
            )
    if s.kind == "lapsed":
        last = h.start - timedelta(days=rng.uniform(95, 240))
        for back in range(rng.randint(1, 3)):
            _place_order(
                h,
                s,
                last - timedelta(days=back * s.cycle_days),
                list(s.favourites[:1]),
                backfill=True,
            )
        return
    if s.kind == "loyal":
        moment = h.start - timedelta(days=rng.uniform(0, s.cycle_days))
        for back in range(rng.randint(2, 4), 0, -1):
            _place_order(
                h,
                s,
                moment - timedelta(days=back * s.cycle_days),
                list(s.favourites),
                backfill=True,
            )
        while moment < h.end:
            if moment >= h.start:
                basket = list(s.favourites) + (
                    [rng.choice(DURABLES)] if rng.random() < 0.15 else []
                )
                _shop_session(h, s, _daytime(h, moment, s), basket, will_buy=rng.random() < 0.85)
            moment += timedelta(days=s.cycle_days * rng.uniform(0.85, 1.2))
    else:
        sessions = rng.randint(1, 3) if s.kind == "browser" else rng.randint(1, 2)
        for _ in range(sessions):
            day = h.start + timedelta(days=rng.uniform(0, (h.end - h.start).days))
            basket = rng.sample(PRODUCTS, rng.randint(1, 3))
            will_buy = (
                s.kind == "occasional"
                and rng.random() < 0.7
                or rng.random() < IMMEDIATE_PURCHASE * 0.3
            )
            _shop_session(h, s, _daytime(h, day, s), basket, will_buy=will_buy)
    if s.subscribed and rng.random() < UNSUBSCRIBE_RATE:
        at = h.start + timedelta(days=rng.uniform(5, (h.end - h.start).days))
        h.emit(at, "customers_email_marketing_consent/update", payloads.consent_json(s, False, at))
    if rng.random() < 0.05:
        at = h.start + timedelta(days=rng.uniform(0, (h.end - h.start).days))
        h.emit(
            at,
            "customer.tags_added",
            {
                "customerId": f"gid://shopify/Customer/{s.id}",
                "tags": [rng.choice(("vip", "wholesale", "newsletter"))],
                "occurredAt": at.isoformat().replace("+00:00", "Z"),
            },
        )


def generate_history(
    seed: int = 7,
    customers: int = 2000,
    days: int = 60,
    start: datetime | None = None,
    shop_domain: str = "nudge-demo.myshopify.com",
) -> Iterator[SimulatedDelivery]:
    """Yield the shop's webhook deliveries in arrival order (non-decreasing ``at``)."""
    start = start or datetime(2026, 9, 1, tzinfo=UTC)
    h = History(random.Random(seed), start, start + timedelta(days=days), shop_domain, seed)
    for n in range(customers):
        _life(h, _shopper(h, n))
    arrivals = [
        (at, order, topic, payload) for at, order, topic, payload in h.pending if at < h.end
    ]
    arrivals.sort(key=lambda a: (a[0], a[1]))
    arrivals = _disorder(h, arrivals)
    namespace = uuid.UUID(int=seed)
    for index, (at, _order, topic, payload) in enumerate(arrivals):
        webhook_id = str(uuid.uuid5(namespace, f"{index}:{topic}"))
        yield SimulatedDelivery(at, topic, payload, webhook_id)
        if h.rng.random() < DUPLICATE_RATE:
            yield SimulatedDelivery(at, topic, payload, webhook_id)


def _disorder(
    h: History, arrivals: list[tuple[datetime, int, str, dict[str, Any]]]
) -> list[tuple[datetime, int, str, dict[str, Any]]]:
    """Swap a few neighbouring deliveries, as retries and parallel senders do."""
    for i in range(len(arrivals) - 1):
        if h.rng.random() < OUT_OF_ORDER_RATE:
            (a_at, a_n, a_topic, a_payload), (b_at, b_n, b_topic, b_payload) = (
                arrivals[i],
                arrivals[i + 1],
            )
            arrivals[i], arrivals[i + 1] = (
                (a_at, b_n, b_topic, b_payload),
                (b_at, a_n, a_topic, a_payload),
            )
    return arrivals


def describe(deliveries: Iterable[SimulatedDelivery]) -> dict[str, int]:
    """Count what a history contains: topics, shoppers, abandoned and recovered checkouts."""
    topics: Counter[str] = Counter()
    seen: set[str] = set()
    checkouts_with_email: set[str] = set()
    ordered_checkouts: set[str] = set()
    orders_per_customer: Counter[int] = Counter()
    duplicates = 0
    for d in deliveries:
        if d.webhook_id in seen:
            duplicates += 1
            continue
        seen.add(d.webhook_id)
        topics[d.topic] += 1
        if d.topic == "checkouts/update" and d.payload.get("email"):
            checkouts_with_email.add(d.payload["token"])
        if d.topic == "orders/create":
            orders_per_customer[d.payload["customer"]["id"]] += 1
            if d.payload.get("checkout_token"):
                ordered_checkouts.add(d.payload["checkout_token"])
    return {
        "deliveries": sum(topics.values()),
        "duplicates": duplicates,
        "customers": topics["customers/create"],
        "checkouts_with_email": len(checkouts_with_email),
        "abandoned": len(checkouts_with_email - ordered_checkouts),
        "orders": topics["orders/create"],
        "repeat_buyers": sum(1 for n in orders_per_customer.values() if n >= 3),
        **{f"topic:{k}": v for k, v in sorted(topics.items())},
    }
