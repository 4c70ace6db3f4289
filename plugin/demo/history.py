"""A seeded, realistic store history, as the Shopify webhook deliveries it would produce.

Shoppers of five kinds (see ``realism.Realism``): loyal repeat buyers on their own re-order
rhythm, occasional buyers, lapsed customers whose last order is months old, browsers who
abandon checkouts (some come back), and newsletter subscribers. Customers who existed
before the window arrive first, at ``start``, with their past orders as ``orders/create``
deliveries whose ``created_at`` lies in the past (the history the app is installed into).
What they buy has structure (``baskets``): each shopper has a taste (espresso, green tea,
a skincare routine...) whose staples they re-order, each on its own cycle, and whose kit
they add over time; some products bring their partner along (a dripper, its filters);
strays come mostly from the featured collection; and the season moves what sells (cold
brew in summer, chai in winter, presents before the holidays).
About 2 % of deliveries are sent twice with the same webhook id, and about 1 % of
checkouts have their ``checkouts/update`` arrive before their ``checkouts/create``.

With ``storefront``, the store also runs Nudge's storefront script: some subscribed coffee
and tea drinkers sign up for a topic (a ``topic:<name>`` customer tag), and a few shoppers
look into buying wholesale: the high-intent pages, as ``PAGE_VIEW`` items the demo posts to
the storefront endpoint, and now and then a bulk checkout they leave.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from plugin.demo import baskets, payloads
from plugin.demo.catalog import (
    BROWSE_PAGES,
    BULK_PRODUCT,
    HIGH_INTENT_PAGES,
    PRODUCTS,
    REGIONS,
    SHOP_TIMEZONE,
    Product,
    handle,
    season_weight,
)
from plugin.demo.census import describe
from plugin.demo.order_lifecycle import place_order
from plugin.demo.realism import REALISM, Realism
from plugin.demo.shoppers import Basket, Shopper, new_shopper
from plugin.demo.store import PAGE_VIEW, SimulatedDelivery, Store
from rules.scheduling import in_holdout, next_in_send_window
from rules.variables import TOPIC_TAG

__all__ = ["PAGE_VIEW", "SimulatedDelivery", "describe", "generate_history"]

DEFAULT_START = datetime(2026, 9, 1, tzinfo=UTC)


def _ensure_known(store: Store, s: Shopper, at: datetime) -> None:
    """Send customers/create (and the sign-up consent) the first time the shop meets ``s``."""
    if s.known:
        return
    s.known = True
    if s.created_at >= store.start or at < s.created_at:
        s.created_at = s.updated_at = at  # a new customer is created on first contact
    store.emit(s.created_at, "customers/create", payloads.customer_json(s, with_addresses=True))
    if s.subscribed:
        store.emit(
            s.created_at,
            "customers_email_marketing_consent/update",
            payloads.consent_json(s, True, s.created_at),
        )


def _accepts_marketing(s: Shopper, at: datetime) -> bool:
    return s.subscribed and (s.unsubscribe_at is None or at < s.unsubscribe_at)


def _basket(store: Store, products: list[Product]) -> Basket:
    return [(p, store.rng.choice((1, 1, 1, 2))) for p in products]


def _session(store: Store, s: Shopper, at: datetime, basket: Basket, buy_now: bool) -> bool:
    """Open a checkout, maybe type an email, then buy now, later, or never; True if bought."""
    rng, r = store.rng, store.realism
    token, cart_token, checkout_id = store.token(), store.cart_token(), store.new_id()
    contact = buy_now or rng.random() < r.checkout_email_rate
    typed = at + timedelta(seconds=rng.uniform(60, 420))
    # A retried checkouts/create lands after the checkouts/update that followed it.
    late_by = (typed - at).total_seconds() + rng.uniform(25, 90)
    out_of_order = contact and rng.random() < r.out_of_order_rate

    def body(updated: datetime, with_contact: bool, accepts: bool) -> dict[str, Any]:
        return payloads.checkout_json(
            s, checkout_id, token, cart_token, basket, at, updated, with_contact, accepts,
            store.shop_domain,
        )  # fmt: skip

    store.emit(at, "checkouts/create", body(at, False, False), late_by if out_of_order else 0)
    if not contact:
        return False
    _ensure_known(store, s, typed - timedelta(seconds=2))
    accepts = _accepts_marketing(s, typed)
    if not accepts and rng.random() < r.checkout_opt_in_rate:
        s.subscribed, s.unsubscribe_at, accepts = True, None, True
        store.emit(
            typed, "customers_email_marketing_consent/update", payloads.consent_json(s, True, typed)
        )
    store.emit(typed, "checkouts/update", body(typed, True, accepts))
    if buy_now:
        bought = typed + timedelta(seconds=rng.uniform(120, 720))
    elif rng.random() < r.recovery_rate:
        bought = typed + timedelta(hours=rng.uniform(*r.recovery_hours))
    elif _reminded(store, s, basket, accepts) and rng.random() < r.reminder_recovery_rate:
        # the demo shop knows no customer's time zone: its send window is in the shop's; a
        # new customer's welcome email holds the reminder back by the frequency cap
        reminder = next_in_send_window(typed + REMINDER_LATEST, SHOP_TIMEZONE)
        bought = reminder + timedelta(hours=rng.uniform(*r.reminder_recovery_hours))
    else:
        return False
    if bought >= store.end:
        return False
    place_order(store, s, bought, basket, accepts, checkout=(checkout_id, token, cart_token))
    s.bought.update(p.id for p, _ in basket)
    return True


# cart_abandonment's first step is due 4 hours after checkout activity; the frequency cap
# (16 hours) may hold it back, when the shopper got another marketing email just before
REMINDER_LATEST = timedelta(hours=16)
REMINDER_MIN_VALUE = 20  # and the smallest cart it writes to


def _reminded(store: Store, s: Shopper, basket: Basket, accepts: bool) -> bool:
    """Whether the shop's cart-abandonment reminder would reach this shopper: it runs
    reminders, they accept marketing, the cart is big enough, they are not held out."""
    percent = store.reminder_holdout_percent
    return (
        percent is not None
        and accepts
        and payloads.subtotal(basket) >= REMINDER_MIN_VALUE
        and not in_holdout(str(s.id), "cart_abandonment", percent)
    )


def _past_order(store: Store, s: Shopper, moment: datetime, products: list[Product]) -> datetime:
    """Place an order on ``moment``'s day, before the window (it arrives at the start)."""
    at = min(store.local_moment(moment.date(), s.region.timezone), store.start - timedelta(hours=1))
    if at > s.created_at:
        basket = _basket(store, products)
        place_order(store, s, at, basket, _accepts_marketing(s, at), backfill=True)
        s.bought.update(p.id for p, _ in basket)
    return at


def _backfill(store: Store, s: Shopper, last: datetime, count: int) -> None:
    """Place ``count`` past re-orders of ``s``'s staples, a cycle apart, the newest at ``last``."""
    rng, r = store.rng, store.realism
    cycle = min(s.cycle(p) for p in s.favourites)
    moments = [last]
    for _ in range(count - 1):
        moments.append(moments[-1] - timedelta(days=cycle * rng.uniform(*r.cycle_jitter)))
    for moment in reversed(moments):
        _past_order(store, s, moment, baskets.reorder(rng, s, list(s.favourites), moment.date(), r))


def _window_days(store: Store, s: Shopper, count: int) -> list[date]:
    """``count`` days of the window on which ``s`` shops, never before they signed up."""
    first = max(store.start, s.created_at).date()
    span = (store.end.date() - first).days
    if span <= 0:
        return []
    return sorted(first + timedelta(days=store.rng.randrange(span)) for _ in range(count))


def _loyal(store: Store, s: Shopper) -> None:
    """A repeat buyer since before the window: each staple re-ordered when it runs out, on
    its own cycle, with the staples that would run out soon after in the same order."""
    rng, r = store.rng, store.realism
    began = store.start - timedelta(days=rng.uniform(*r.loyal_history_days))
    due = {p.id: began + timedelta(days=rng.uniform(0, s.cycle(p))) for p in s.favourites}
    while (first := min(due.values())) < store.end:
        soon = first + timedelta(days=r.consolidate_days)
        staples = [p for p in s.favourites if due[p.id] <= soon]
        products = baskets.reorder(rng, s, staples, first.date(), r)
        if first < store.start:
            at, bought = _past_order(store, s, first, products), True
        else:
            at = max(store.local_moment(first.date(), s.region.timezone), store.start)
            basket = _basket(store, products)
            bought = _session(store, s, at, basket, rng.random() < r.buy_now("loyal"))
        for p in staples:  # in its season a staple runs out sooner (iced coffee in July)
            cycle = s.cycle(p) / math.sqrt(season_weight(p, at.date()))
            days = cycle * rng.uniform(*r.cycle_jitter) if bought else rng.uniform(3, 8)
            due[p.id] = at + timedelta(days=days)  # or comes back to try again


def _sessions(store: Store, s: Shopper, count: int) -> None:
    rng, r = store.rng, store.realism
    for day in _window_days(store, s, count):
        at = max(store.local_moment(day, s.region.timezone), store.start)
        basket = _basket(store, baskets.browse(rng, s, at.date(), r))
        _session(store, s, at, basket, rng.random() < r.buy_now(s.segment))


def _life(store: Store, s: Shopper) -> None:
    """Everything one shopper does, before and during the window."""
    rng, r = store.rng, store.realism
    if s.subscribed and rng.random() < r.unsubscribe_rate:
        s.unsubscribe_at = store.between(store.start, store.end)
    if s.created_at < store.start or s.segment == "subscriber":
        _ensure_known(store, s, s.created_at)
    if s.segment == "loyal":
        _loyal(store, s)
    elif s.segment == "lapsed":
        last = store.start - timedelta(days=rng.uniform(*r.lapsed_last_order_days))
        _backfill(store, s, last, rng.randint(*r.lapsed_past_orders))
        _sessions(store, s, 1 if rng.random() < r.lapsed_return_rate else 0)
    elif s.segment == "occasional":
        if s.created_at < store.start and rng.random() < r.occasional_past_order_rate:
            last = store.start - timedelta(days=rng.uniform(*r.occasional_past_order_days))
            _past_order(store, s, last, baskets.browse(rng, s, last.date(), r))
        _sessions(store, s, rng.randint(*r.occasional_sessions))
    elif s.segment == "browser":
        _sessions(store, s, rng.randint(*r.browser_sessions))
    else:
        _sessions(store, s, 1 if rng.random() < r.subscriber_session_rate else 0)
    _customer_changes(store, s)


def _customer_changes(store: Store, s: Shopper) -> None:
    """Unsubscribes, profile edits and tags: the customer-level topics."""
    rng, r = store.rng, store.realism
    if not s.known:
        return  # never typed an email: the shop cannot tell this shopper apart
    since = max(store.start, s.created_at)
    if s.unsubscribe_at is not None and s.subscribed and s.unsubscribe_at > since:
        store.emit(
            s.unsubscribe_at,
            "customers_email_marketing_consent/update",
            payloads.consent_json(s, False, s.unsubscribe_at),
        )
    if rng.random() < r.profile_update_rate:
        s.updated_at = store.between(since, store.end)
        s.phone = s.phone or f"+1555{rng.randrange(10**7):07d}"
        store.emit(s.updated_at, "customers/update", payloads.customer_json(s, True))
    if rng.random() < r.tags_rate:
        at = store.between(since, store.end)
        tags = {"loyal": ["vip"], "subscriber": ["newsletter"]}.get(
            s.segment, [rng.choice(("wholesale", "gift-buyer", "newsletter"))]
        )
        store.emit(at, "customer.tags_added", payloads.tags_added_json(s, tags, at))


def _anonymous_carts(store: Store, count: int) -> None:
    """Browsing carts of visitors who never reach checkout: no email, no customer."""
    rng, r = store.rng, store.realism
    for _ in range(count):
        day = store.start.date() + timedelta(days=rng.randrange(store.days))
        region = rng.choices(REGIONS, weights=[g.weight for g in REGIONS])[0]
        at = max(store.local_moment(day, region.timezone), store.start)
        token = store.cart_token()
        basket = _basket(store, rng.sample(PRODUCTS, rng.choice((1, 1, 2))))
        store.emit(at, "carts/create", payloads.cart_json(token, basket, at, at))
        if rng.random() < r.cart_update_rate:
            later = at + timedelta(seconds=rng.uniform(30, 1200))
            basket = basket + _basket(store, [rng.choice(PRODUCTS)])
            store.emit(later, "carts/update", payloads.cart_json(token, basket, at, later))


def _storefront(store: Store, shoppers: list[Shopper]) -> None:
    """What the storefront script sees: topic sign-ups, and shoppers looking into wholesale."""
    for s in shoppers:
        if s.known:  # the others never told the shop who they are
            since = max(store.start, s.created_at)
            _topic_signup(store, s, since)
            if store.rng.random() < store.realism.intent_shopper_rate:
                _wholesale_interest(store, s, since)


def _topic_signup(store: Store, s: Shopper, since: datetime) -> None:
    """A subscriber who drinks coffee or tea asks for emails about their way of making it."""
    rng, r = store.rng, store.realism
    topics = [taste.topic for taste in s.tastes if taste.topic]
    if not topics or not s.subscribed or rng.random() >= r.topic_signup_rate:
        return
    at = since + timedelta(days=rng.uniform(*r.topic_signup_days))
    if at < store.end and _accepts_marketing(s, at):
        tag = TOPIC_TAG + rng.choice(topics)
        store.emit(at, "customer.tags_added", payloads.tags_added_json(s, [tag], at))


def _wholesale_interest(store: Store, s: Shopper, since: datetime) -> None:
    """A cafe or an office: visits that end on the wholesale, pricing and contact pages,
    logged in to the storefront; after the first, sometimes a bulk checkout left open."""
    rng, r = store.rng, store.realism
    earliest = since + timedelta(hours=2)  # the shop has met them by then
    if earliest >= store.end:
        return
    vid = f"{rng.getrandbits(96):024x}"  # the script's first-party id for this browser
    day = store.between(earliest, store.end)
    for visit in range(rng.randint(*r.intent_visits)):
        if visit:
            day += timedelta(days=rng.uniform(*r.intent_visit_gap_days))
        at = max(store.local_moment(day.date(), s.region.timezone), earliest)
        if at >= store.end:
            return
        at = _intent_visit(store, s, vid, at)
        if visit == 0 and rng.random() < r.bulk_checkout_rate and at < store.end:
            _bulk_checkout(store, s, at + timedelta(minutes=rng.uniform(2, 20)))


def _intent_visit(store: Store, s: Shopper, vid: str, at: datetime) -> datetime:
    """One visit: a way in, maybe a product, then the high-intent pages; when it ended."""
    rng, r = store.rng, store.realism
    views: list[tuple[tuple[str, str], int | None]] = [(rng.choice(BROWSE_PAGES), None)]
    if rng.random() < 0.5:
        product = rng.choice(PRODUCTS)
        views.append(((f"/products/{handle(product)}", product.title), product.id))
    page = None
    for _ in range(rng.choice(r.intent_pages)):  # wholesale, pricing, contact, and back
        page = rng.choice([p for p in HIGH_INTENT_PAGES if p != page])
        views.append((page, None))
    for page, product_id in views:
        if at >= store.end:
            break
        store.view(at, s, vid, page, product_id)
        at += timedelta(seconds=rng.uniform(*r.intent_page_seconds))
    return at


def _bulk_checkout(store: Store, s: Shopper, at: datetime) -> None:
    """A checkout of a cafe's order, its email typed, left open (they ask for a quote)."""
    rng, r = store.rng, store.realism
    basket: Basket = [(BULK_PRODUCT, rng.randint(*r.bulk_quantity))]
    token, cart_token, checkout_id = store.token(), store.cart_token(), store.new_id()
    typed = at + timedelta(seconds=rng.uniform(60, 300))
    accepts = _accepts_marketing(s, typed)

    def body(updated: datetime, with_contact: bool) -> dict[str, Any]:
        return payloads.checkout_json(
            s, checkout_id, token, cart_token, basket, at, updated, with_contact, accepts,
            store.shop_domain,
        )  # fmt: skip

    store.emit(at, "checkouts/create", body(at, False))
    if typed < store.end:
        store.emit(typed, "checkouts/update", body(typed, True))


def _number_orders(store: Store) -> None:
    """Give orders their #1001... names in creation order, as the shop numbered them."""
    numbered = enumerate(sorted(store.orders), start=store.first_order_number)
    for number, (_created, _id, bodies) in numbered:
        for body in bodies:
            body.update(name=f"#{number}", number=number - 1000, order_number=number)
            for fulfillment in body["fulfillments"]:
                fulfillment["name"] = f"#{number}.1"


def generate_history(
    seed: int = 7,
    customers: int = 2000,
    days: int = 60,
    start: datetime = DEFAULT_START,
    shop_domain: str = "nudge-demo.myshopify.com",
    realism: Realism = REALISM,
    first_shopper: int = 0,
    storefront: bool = False,
    reminder_holdout_percent: float | None = None,
) -> Iterator[SimulatedDelivery]:
    """Yield the shop's webhook deliveries in arrival order (non-decreasing ``at``).

    ``storefront`` adds what the storefront script sees (topic sign-ups, page views); the
    webhook-only replays (the benchmark) leave it off and get the same store without it.

    ``first_shopper`` numbers this history's shoppers from there, with ids, emails and
    order numbers of their own, so histories made in cohorts can be merged into one store.

    ``reminder_holdout_percent`` (the demo) makes the shop one that sends cart reminders
    with that holdout: some reminded shoppers come back and buy after the reminder
    (``Realism.reminder_recovery_rate``), which is the effect its holdout measures. None
    (the benchmark): no shopper answers a reminder, the store as before.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    store = Store(seed, realism, start.astimezone(UTC), days, shop_domain, first_shopper)
    store.reminder_holdout_percent = reminder_holdout_percent
    shoppers = [
        new_shopper(store.rng, n, realism, store.start, days)
        for n in range(first_shopper, first_shopper + customers)
    ]
    for shopper in shoppers:
        _life(store, shopper)
    _anonymous_carts(store, round(customers * realism.anonymous_carts_per_customer))
    if storefront:  # last, so the rest of the store is the same with it or without
        _storefront(store, shoppers)
    _number_orders(store)
    store.arrivals.sort(key=lambda a: (a[0], a[1]))
    for at, _seq, topic, payload, webhook_id, customer in store.arrivals:
        if at < store.end:
            yield SimulatedDelivery(at, topic, payload, webhook_id, customer)
