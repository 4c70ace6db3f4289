"""Which message an order is credited to, and what a workflow's holdout comparison counts.

Attribution is last touch: an order is credited to the message whose latest click came at
most ``click_days`` before it, or whose delivery came at most ``delivery_days`` before it,
whichever of those touches is the most recent (a click wins a tie). A holdout customer gets
no message from its workflow, so no order of theirs is ever credited to it.

The holdout comparison does not use touches (a holdout customer has none): each episode that
reached a send decision counts from the first such decision (an email written for a treated
customer, a "holdout" skip for a held-out one), and converts when its customer orders within
``click_days`` after it. Both groups are counted alike, so their difference is the lift.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

CLICK = "click"
DELIVERED = "delivered"
DEFAULT_CLICK_DAYS = 5
DEFAULT_DELIVERY_DAYS = 1


@dataclass(frozen=True)
class Windows:
    """How long after a click or a delivery an order is still credited to the message."""

    click_days: float = DEFAULT_CLICK_DAYS
    delivery_days: float = DEFAULT_DELIVERY_DAYS

    def reaches(self, kind: str, touched_at: datetime, ordered_at: datetime) -> bool:
        days = self.click_days if kind == CLICK else self.delivery_days
        return touched_at < ordered_at <= touched_at + timedelta(days=days)


@dataclass(frozen=True)
class Touch:
    """A delivery of, or a click in, one message Nudge sent to a customer."""

    message_id: int
    workflow: str
    step: str
    customer_keys: frozenset[str]
    kind: str  # CLICK | DELIVERED
    at: datetime
    variant: str | None = None  # the step's A/B test variant the message was


@dataclass(frozen=True)
class Purchase:
    """An order that counts as revenue (not cancelled, not refunded)."""

    order_id: str
    customer_keys: frozenset[str]
    at: datetime
    value: Decimal


def attribute(
    purchases: Iterable[Purchase], touches: Iterable[Touch], windows: Windows
) -> dict[str, Touch]:
    """Each credited order's id with the touch it is credited to (last touch wins)."""
    by_customer: dict[str, list[Touch]] = defaultdict(list)
    for touch in touches:
        for key in touch.customer_keys:
            by_customer[key].append(touch)
    credited: dict[str, Touch] = {}
    for purchase in purchases:
        candidates = {
            touch
            for key in purchase.customer_keys
            for touch in by_customer.get(key, ())
            if windows.reaches(touch.kind, touch.at, purchase.at)
        }
        if candidates:
            credited[purchase.order_id] = max(
                candidates, key=lambda t: (t.at, t.kind == CLICK, t.message_id)
            )
    return credited


@dataclass(frozen=True)
class Exposure:
    """An episode that reached a send decision: when first, and whether it was held out."""

    episode_id: int
    customer_keys: frozenset[str]
    holdout: bool
    at: datetime


@dataclass
class GroupOutcome:
    """One group's people: each one's revenue in the window, and how many converted."""

    revenue: list[float]
    converted: int = 0


def holdout_outcomes(
    exposures: Iterable[Exposure], purchases: Iterable[Purchase], window_days: float
) -> tuple[GroupOutcome, GroupOutcome]:
    """(treated, holdout): per exposed episode, the revenue its customer ordered within
    ``window_days`` after the first decision, and whether they ordered at all."""
    by_customer: dict[str, list[Purchase]] = defaultdict(list)
    for purchase in purchases:
        for key in purchase.customer_keys:
            by_customer[key].append(purchase)
    treated, holdout = GroupOutcome([]), GroupOutcome([])
    window = timedelta(days=window_days)
    for exposure in exposures:
        bought = {
            p
            for key in exposure.customer_keys
            for p in by_customer.get(key, ())
            if exposure.at < p.at <= exposure.at + window
        }
        group = holdout if exposure.holdout else treated
        group.revenue.append(float(sum((p.value for p in bought), Decimal("0"))))
        group.converted += bool(bought)
    return treated, holdout
