"""What a demo shopper puts in a basket: their taste's staples and kit, what goes with
what, now and then a stray from elsewhere in the shop, the season, and presents."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date

from plugin.demo.catalog import (
    FEATURED,
    GIFTS,
    GOES_WITH,
    PRODUCTS,
    Product,
    gift_season,
    season_weight,
)
from plugin.demo.realism import Realism
from plugin.demo.shoppers import Shopper


def pick(rng: random.Random, products: Sequence[Product], day: date) -> Product:
    """One of ``products``, the ones in season on ``day`` more likely."""
    return rng.choices(products, weights=[season_weight(p, day) for p in products])[0]


def stray(rng: random.Random, day: date, r: Realism) -> Product:
    """A product from anywhere in the shop, the featured ones most likely."""
    return pick(rng, FEATURED if rng.random() < r.featured_rate else PRODUCTS, day)


def browse(rng: random.Random, s: Shopper, day: date, r: Realism) -> list[Product]:
    """What ``s`` takes to checkout when shopping around: mostly things for their taste
    (a staple, or kit they do not own yet), sometimes a stray from anywhere in the shop."""
    taste = rng.choices(s.tastes, weights=(3, 1)[: len(s.tastes)])[0]
    chosen: list[Product] = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        if rng.random() < r.stray_rate:
            chosen.append(stray(rng, day, r))
            continue
        fresh = [p for p in taste.staples + taste.kit if p not in chosen and not _owned(s, p)]
        if fresh:
            chosen.append(pick(rng, fresh, day))
    return _finish(rng, chosen or [pick(rng, taste.staples, day)], day, r)


def reorder(
    rng: random.Random, s: Shopper, staples: list[Product], day: date, r: Realism
) -> list[Product]:
    """A repeat order of the ``staples`` that ran out, now and then with a piece of kit
    ``s`` lacks (the espresso drinker's tamper, then a grinder) or another staple to try."""
    chosen = list(staples)
    taste = s.tastes[0]
    if rng.random() < r.try_staple_rate:
        others = [p for p in taste.staples if p not in chosen]
        if others:
            chosen.append(pick(rng, others, day))
    if rng.random() < r.kit_add_on_rate:
        lacking = [p for p in taste.kit if p not in chosen and not _owned(s, p)]
        if lacking:
            chosen.append(pick(rng, lacking, day))
    if rng.random() < r.stray_rate / 2:
        chosen.append(stray(rng, day, r))
    return _finish(rng, chosen, day, r)


def _finish(rng: random.Random, chosen: list[Product], day: date, r: Realism) -> list[Product]:
    """Add what goes with the chosen products, and a present in gift season."""
    for product in list(chosen):
        partner = GOES_WITH.get(product.id)
        if partner is not None and rng.random() < r.goes_with_rate:
            chosen.append(partner)
    if gift_season(day) and rng.random() < r.gift_rate:
        chosen.append(rng.choice(GIFTS))
    return list(dict.fromkeys(chosen))


def _owned(s: Shopper, product: Product) -> bool:
    """Whether ``s`` already has ``product`` and would not buy it again (equipment)."""
    return product.cycle_days is None and product.id in s.bought
