"""Synthetic fact sets for the rule-evaluation benchmark: one subject per core workflow."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from rules.facts import Checkout, Customer, FactSet, Order

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
WORKFLOWS = ("cart_abandonment", "upsell", "purchase_cycle", "feedback_request", "reengagement")


def _maybe(rng: random.Random, share: float, value: datetime) -> datetime | None:
    return value if rng.random() < share else None


def _orders(rng: random.Random, customer_id: str, count: int) -> tuple[Order, ...]:
    """A history, newest first: orders some days apart, a few cancelled or refunded."""
    moments = sorted(
        (NOW - timedelta(days=rng.uniform(1, 400)) for _ in range(count)), reverse=True
    )
    return tuple(
        Order(
            id=f"{customer_id}-o{i}",
            customer_id=customer_id,
            checkout_token=f"{customer_id}-c{rng.randrange(4)}" if rng.random() < 0.3 else None,
            value=Decimal(rng.randrange(0, 30_000)) / 100,
            created_at=moment,
            fulfilled_at=_maybe(rng, 0.7, moment + timedelta(days=rng.uniform(0, 5))),
            cancelled_at=_maybe(rng, 0.05, moment + timedelta(hours=2)),
            refunded=rng.random() < 0.05,
        )
        for i, moment in enumerate(moments)
    )


def factsets(count: int, seed: int = 11) -> Iterator[tuple[str, FactSet]]:
    """``count`` (workflow, facts) pairs, the five workflows in turn, deterministic per seed."""
    rng = random.Random(seed)
    for n in range(count):
        workflow = WORKFLOWS[n % len(WORKFLOWS)]
        cid = f"c{n}"
        orders = _orders(rng, cid, rng.choice((0, 0, 1, 1, 2, 3, 5, 8)))
        customer = Customer(
            id=cid,
            email=f"{cid}@example.com" if rng.random() < 0.95 else None,
            accepts_marketing=rng.choice((True, True, False, None)),
            orders_count=rng.choice((None, len(orders))),
            last_engaged_at=_maybe(rng, 0.6, NOW - timedelta(days=rng.uniform(0, 200))),
            mean_days_between_orders=rng.choice((None, rng.uniform(10, 90))),
            created_at=NOW - timedelta(days=rng.uniform(0, 700)),
        )
        checkout = order = None
        anchor = None
        if workflow == "cart_abandonment":
            created = NOW - timedelta(hours=rng.uniform(1, 120))
            checkout = Checkout(
                token=f"{cid}-c{rng.randrange(4)}",
                customer_id=cid,
                email=customer.email,
                value=Decimal(rng.randrange(500, 20_000)) / 100,
                created_at=created,
                updated_at=_maybe(rng, 0.8, created + timedelta(minutes=rng.uniform(0, 90))),
                completed_at=_maybe(rng, 0.1, created + timedelta(hours=1)),
            )
        elif workflow in ("upsell", "feedback_request"):
            order = orders[rng.randrange(len(orders))] if orders else _orders(rng, cid, 1)[0]
        else:
            anchor = NOW - timedelta(days=rng.uniform(0, 60))
        yield (
            workflow,
            FactSet(
                now=NOW,
                customer=customer,
                checkout=checkout,
                order=order,
                orders=orders,
                anchor_at=anchor,
                last_marketing_email_at=_maybe(
                    rng, 0.5, NOW - timedelta(hours=rng.uniform(1, 400))
                ),
                last_abandonment_email_at=_maybe(
                    rng, 0.3, NOW - timedelta(days=rng.uniform(0, 40))
                ),
                suppressed=rng.random() < 0.03,
            ),
        )
