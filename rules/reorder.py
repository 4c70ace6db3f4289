"""A customer's rhythm per product: how often they re-order it, and when the next is due.

A consumable is re-ordered on its own pace, whatever else the customer buys between: the
coffee every 30 days while gifts come and go. So the pace is the product's own, from the
orders that contain it (one order holding it twice counts once), and a product bought in
one order only has none yet. Pure: no I/O, times passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class ProductRhythm:
    """One customer's orders of one product: how many, the first and latest, and the
    latest order's id (what a reminder about it links to)."""

    product_id: str
    orders: int
    first_at: datetime
    last_at: datetime
    last_order_id: str
    interval_days: float | None = None  # the merchant's own for this product, if set

    @property
    def mean_days(self) -> float | None:
        """The customer's mean days between orders of it: two orders at least, apart."""
        if self.orders < 2 or self.last_at <= self.first_at:
            return None
        return (self.last_at - self.first_at).total_seconds() / _DAY / (self.orders - 1)

    @property
    def cycle_days(self) -> float | None:
        """The pace a reminder follows: the merchant's interval, else the customer's own."""
        return self.interval_days or self.mean_days

    @property
    def due_at(self) -> datetime | None:
        """When the next order of it is due at that pace; None with no pace yet."""
        cycle = self.cycle_days
        return None if cycle is None else self.last_at + timedelta(days=cycle)


def product_rhythms(
    orders: Iterable[tuple[str, datetime, Iterable[str]]],
    intervals: Mapping[str, float] | None = None,
) -> dict[str, ProductRhythm]:
    """Each product's rhythm from a customer's orders that stand, as (order id, placed at,
    product ids); ``intervals``: the merchant's re-order interval in days, by product."""
    seen: dict[str, tuple[int, datetime, datetime, str]] = {}
    for order_id, placed_at, product_ids in orders:
        for product_id in set(product_ids):
            known = seen.get(product_id)
            if known is None:
                seen[product_id] = (1, placed_at, placed_at, order_id)
                continue
            count, first, last, last_order = known
            if placed_at > last:
                last, last_order = placed_at, order_id
            seen[product_id] = (count + 1, min(first, placed_at), last, last_order)
    intervals = intervals or {}
    return {
        product_id: ProductRhythm(product_id, *known, interval_days=intervals.get(product_id))
        for product_id, known in seen.items()
    }


def soonest_due(rhythms: Iterable[ProductRhythm]) -> ProductRhythm | None:
    """The rhythm whose next order is due first (None when none has a pace)."""
    paced = [r for r in rhythms if r.due_at is not None]
    return min(paced, key=lambda r: (r.due_at, r.product_id)) if paced else None
