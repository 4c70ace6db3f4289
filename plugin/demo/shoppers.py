"""The demo store's shoppers: who they are and what they have bought so far."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from plugin.demo.catalog import CONSUMABLES, FIRST_NAMES, LAST_NAMES, REGIONS, Product, Region
from plugin.demo.realism import Realism

Basket = list[tuple[Product, int]]
"""Products and quantities of one cart, checkout or order."""


@dataclass
class Shopper:
    """One customer of the demo store, with the running totals Shopify would report."""

    id: int
    first_name: str
    last_name: str
    email: str
    region: Region
    segment: str
    subscribed: bool
    created_at: datetime
    cycle_days: float
    favourites: tuple[Product, ...]
    phone: str | None = None
    updated_at: datetime | None = None
    unsubscribe_at: datetime | None = None
    known: bool = False  # customers/create already sent
    orders: int = 0
    spent: Decimal = field(default_factory=lambda: Decimal("0"))
    last_order_id: int | None = None


def new_shopper(
    rng: random.Random, n: int, realism: Realism, start: datetime, days: int
) -> Shopper:
    """Draw the ``n``-th shopper: kind, place, consent, rhythm and favourite products."""
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
        cycle_days=rng.uniform(*realism.cycle_days),
        favourites=tuple(rng.sample(CONSUMABLES, rng.choice((1, 2, 2)))),
        phone=f"+1555{rng.randrange(10**7):07d}" if rng.random() < 0.3 else None,
    )
