"""The demo store's shoppers: who they are and what they have bought so far."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from plugin.demo.catalog import FIRST_NAMES, LAST_NAMES, REGIONS, TASTES, Product, Region, Taste
from plugin.demo.realism import Realism

Basket = list[tuple[Product, int]]
"""Products and quantities of one cart, checkout or order."""


@dataclass
class Shopper:
    """One customer of the demo store, with the running totals Shopify would report.

    ``tastes``: what they buy for (the first most); ``favourites``: the staples they
    re-order, each on its own cycle times their ``pace``; ``bought``: product ids so far.
    """

    id: int
    first_name: str
    last_name: str
    email: str
    region: Region
    segment: str
    subscribed: bool
    created_at: datetime
    pace: float
    tastes: tuple[Taste, ...]
    favourites: tuple[Product, ...]
    phone: str | None = None
    updated_at: datetime | None = None
    unsubscribe_at: datetime | None = None
    known: bool = False  # customers/create already sent
    orders: int = 0
    spent: Decimal = field(default_factory=lambda: Decimal("0"))
    last_order_id: int | None = None
    bought: set[int] = field(default_factory=set)

    def cycle(self, product: Product) -> float:
        """Days between this shopper's orders of ``product`` (a staple), before jitter."""
        return (product.cycle_days or 0) * self.pace


def new_shopper(
    rng: random.Random, n: int, realism: Realism, start: datetime, days: int
) -> Shopper:
    """Draw the ``n``-th shopper: kind, place, consent, tastes, rhythm and favourite staples."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    segments, weights = zip(*realism.segments, strict=True)
    segment = rng.choices(segments, weights=weights)[0]
    region = rng.choices(REGIONS, weights=[r.weight for r in REGIONS])[0]
    if segment in ("loyal", "lapsed"):
        age_days = rng.uniform(200, 900)
    elif rng.random() < realism.new_customer_rate:
        age_days = -rng.uniform(0, days)  # signs up during the window
    else:
        age_days = rng.uniform(10, 500)
    subscribed = segment == "subscriber" or rng.random() < realism.consent_rate
    created_at = start - timedelta(days=age_days)
    tastes = _tastes(rng, realism)
    favourites = rng.sample(tastes[0].staples, min(rng.choice((1, 2, 2)), len(tastes[0].staples)))
    if len(tastes) > 1 and rng.random() < 0.5:
        favourites.append(rng.choice(tastes[1].staples))
    return Shopper(
        id=6_840_000_000_000 + n * 1_031,
        first_name=first,
        last_name=last,
        email=f"{first}.{last}.{n}@example.com".lower().replace("-", ""),
        region=region,
        segment=segment,
        subscribed=subscribed,
        created_at=created_at,
        updated_at=created_at,
        pace=rng.uniform(*realism.pace),
        tastes=tastes,
        favourites=tuple(favourites),
        phone=f"+1555{rng.randrange(10**7):07d}" if rng.random() < 0.3 else None,
    )


def _tastes(rng: random.Random, realism: Realism) -> tuple[Taste, ...]:
    """One taste, or two (coffee and skincare, say), drawn by how common each is."""
    weights = [t.weight for t in TASTES]
    first = rng.choices(TASTES, weights=weights)[0]
    if rng.random() >= realism.second_taste_rate:
        return (first,)
    others = [t for t in TASTES if t is not first]
    return first, rng.choices(others, weights=[t.weight for t in others])[0]
