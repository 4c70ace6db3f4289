"""The five core workflows' step conditions written by hand, straight over a FactSet, and
those of the benchmark's workflow that reads the catalog (plugin.bench.rule_eval).

This is the benchmark's practical limit: what a programmer would write for these rules
with no rule engine at all, the cheap tests first (as the generated form that answers
without explaining, ``decide``, orders them).
It must decide exactly as the shipped JSON does (the benchmark checks every decision
against business-rules' ``run_all``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from rules.facts import FactSet, LineItem, Order, Product

NEVER = 36_500.0


def _days(facts: FactSet, moment: datetime | None) -> float:
    return (facts.now - moment).total_seconds() / 86_400 if moment else NEVER


def _placed(facts: FactSet) -> list[Order]:
    return [o for o in facts.orders if o.cancelled_at is None and o.created_at is not None]


def _orders_count(facts: FactSet) -> int:
    return max(
        facts.customer.orders_count or 0, sum(1 for o in facts.orders if o.cancelled_at is None)
    )


def _last_order_at(facts: FactSet) -> datetime | None:
    moments = [o.created_at for o in _placed(facts)]
    if facts.customer.last_order_at:
        moments.append(facts.customer.last_order_at)
    return max(moments) if moments else None  # type: ignore[type-var]


def _orders_since_subject(facts: FactSet) -> int:
    if facts.checkout is not None:
        tokens = {t for t in (facts.checkout.token, facts.checkout.cart_token) if t}
        since = facts.checkout.created_at
        return sum(
            1
            for o in facts.orders
            if o.checkout_token in tokens
            or o.cart_token in tokens
            or (since is not None and o.created_at is not None and o.created_at >= since)
        )
    if facts.order is not None:
        subject = facts.order
        return sum(
            1
            for o in facts.orders
            if o.id != subject.id
            and o.created_at is not None
            and subject.created_at is not None
            and o.created_at > subject.created_at
        )
    since = facts.anchor_at
    return sum(1 for o in facts.orders if since and o.created_at and o.created_at > since)


def _days_until_reorder(facts: FactSet) -> float:
    interval = facts.customer.mean_days_between_orders
    if not interval:
        moments = sorted(o.created_at for o in _placed(facts) if o.created_at is not None)
        interval = (
            (moments[-1] - moments[0]).total_seconds() / 86_400 / (len(moments) - 1)
            if len(moments) >= 2
            else None
        )
    last = _last_order_at(facts)
    if not interval or last is None:
        return NEVER
    return interval - _days(facts, last)


def _consents(facts: FactSet) -> bool:
    return facts.customer.accepts_marketing is True


def _checkout_hours(facts: FactSet) -> float:
    checkout = facts.checkout
    moment = checkout and (checkout.updated_at or checkout.created_at)
    return _days(facts, moment) * 24 if moment else NEVER * 24


def _not_completed(facts: FactSet) -> bool:
    return facts.checkout is not None and facts.checkout.completed_at is None


def cart_reminder(facts: FactSet) -> bool:
    return (
        bool(facts.customer.email)
        and _consents(facts)
        and not facts.suppressed
        and _not_completed(facts)
        and facts.checkout.value >= 20  # type: ignore[union-attr]
        and _checkout_hours(facts) < 72
        and _days(facts, facts.last_abandonment_email_at) >= 14
        and _orders_since_subject(facts) == 0
    )


def cart_offer(facts: FactSet) -> bool:
    return (
        _consents(facts)
        and not facts.suppressed
        and _not_completed(facts)
        and facts.checkout.value >= 50  # type: ignore[union-attr]
        and _checkout_hours(facts) < 96
        and _orders_since_subject(facts) == 0
    )


def _order_ok(facts: FactSet) -> bool:
    order = facts.order
    return order is not None and order.cancelled_at is None and not order.refunded


def feedback_ask(facts: FactSet) -> bool:
    order = facts.order
    return (
        order is not None
        and order.fulfilled_at is not None
        and _order_ok(facts)
        and _consents(facts)
    )


def purchase_remind(facts: FactSet) -> bool:
    if not _consents(facts) or _orders_count(facts) < 2:
        return False
    until = _days_until_reorder(facts)
    return -14 <= until <= 3 and _orders_since_subject(facts) == 0


def reengage_winback(facts: FactSet) -> bool:
    return (
        _consents(facts)
        and _days(facts, facts.customer.last_engaged_at) >= 90
        and _orders_count(facts) >= 1
        and _days(facts, _last_order_at(facts)) >= 90
    )


def _quiet_for(facts: FactSet, days: float) -> bool:
    return (
        _days(facts, facts.customer.last_engaged_at) >= days and _orders_since_subject(facts) == 0
    )


def reengage_offer(facts: FactSet) -> bool:
    return _consents(facts) and _quiet_for(facts, 14)


def reengage_stay(facts: FactSet) -> bool:
    return _consents(facts) and _quiet_for(facts, 30)


def reengage_sunset(facts: FactSet) -> bool:
    return _quiet_for(facts, 44)


def upsell_recommend(facts: FactSet) -> bool:
    return (
        _order_ok(facts)
        and _consents(facts)
        and facts.order.value > 0  # type: ignore[union-attr]
        and _orders_since_subject(facts) == 0
    )


def _attribute(items: Iterable[LineItem], catalog: Mapping[str, Product], name: str) -> set[str]:
    """An attribute's values over order lines, lowercase (conditions compare select values
    case-insensitively): the catalog's for a product it describes, else the line's own."""
    found: set[str] = set()
    for item in items:
        product = catalog.get(item.product_id) if item.product_id is not None else None
        value = (
            getattr(product, name) if product is not None and product.title is not None else None
        )
        if value is None:
            value = getattr(item, name, None)
        if isinstance(value, tuple):
            found.update(one.lower() for one in value if one)
        elif value:
            found.add(value.lower())
    return found


def _all_in_catalog(items: Iterable[LineItem], catalog: Mapping[str, Product]) -> bool:
    for item in items:
        if item.product_id is not None:
            product = catalog.get(item.product_id)
            if product is None or product.title is None:
                return False
    return True


def cross_sell_suggest(facts: FactSet) -> bool:
    order = facts.order
    if not _consents(facts) or order is None or order.cancelled_at is not None:
        return False
    catalog = facts.catalog
    return (
        not _attribute(order.items, catalog, "product_type").isdisjoint(("coffee", "tea"))
        and "subscription" not in _attribute(facts.ordered_items, catalog, "tags")
        and _all_in_catalog(order.items, catalog)
    )


def cross_sell_bundle(facts: FactSet) -> bool:
    if not _consents(facts):
        return False
    catalog = facts.catalog
    items = facts.order.items if facts.order is not None else ()
    return "acme" not in _attribute(items, catalog, "vendor") and (
        "best sellers" in _attribute(items, catalog, "collections")
        or "botanica" in _attribute(facts.ordered_items, catalog, "vendor")
    )


STEPS: dict[tuple[str, str], Callable[[FactSet], bool]] = {
    ("cart_abandonment", "reminder"): cart_reminder,
    ("cart_abandonment", "offer"): cart_offer,
    ("feedback_request", "ask"): feedback_ask,
    ("purchase_cycle", "remind"): purchase_remind,
    ("reengagement", "winback"): reengage_winback,
    ("reengagement", "offer"): reengage_offer,
    ("reengagement", "stay_subscribed"): reengage_stay,
    ("reengagement", "sunset"): reengage_sunset,
    ("upsell", "recommend"): upsell_recommend,
    ("cross_sell_by_type", "suggest"): cross_sell_suggest,
    ("cross_sell_by_type", "bundle"): cross_sell_bundle,
}
