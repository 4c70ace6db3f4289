"""The sweeps a backtest replays: the time-triggered workflows' sweeps run again at their
interval over the window, each finding whom it would have enrolled from the customers'
facts as they stood then (orders placed or cancelled by then, email engagement by then),
with the live sweep's own rules (``rules.sweep_eligibility``), and the same refusals: a
subject is not swept again while an episode about it runs or within the re-enrollment
gap, counting the episodes the pipeline stored before the window.

Replayed: the inactive sweep (re-engagement) and the reorder sweep (purchase cycle) by
the customer's own rhythm across their orders. Not replayed: the reorder sweep's rhythms
per product (stored as they are now, not as they were), the leads' and high intent's
sweeps.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from plugin.storage.facts_store.reading import latest
from rules.definitions import Workflow
from rules.facts import Order
from rules.sweep_eligibility import (
    inactive_for,
    is_lapsed,
    is_reorder_due,
    mean_days_between,
    reorder_lead,
)

REPLAYED_SWEEPS = ("inactive", "reorder_due")
FOREVER = timedelta(days=36_500)  # the live sweep's "never again" (plugin.pipeline.sweeps)
_INSTANT = timedelta(microseconds=1)  # what lifts a moment past a sweep onto the next one


@dataclass(frozen=True, slots=True)
class Person:
    """What a sweep reads of one customer, as histories (each oldest first)."""

    key: str
    email: str | None
    created_at: datetime | None
    orders: Sequence[Order]
    engaged: Sequence[datetime]  # opens and clicks


@dataclass(frozen=True, slots=True)
class Swept:
    """One enrollment a replayed sweep made: whom, about what, when, the moments its
    steps count from, and the live episode's anchor."""

    customer: str
    subject: str  # the customer (inactive) or their latest order (reorder)
    at: datetime
    anchors: dict[str, datetime]
    anchor_at: datetime


Tick = Callable[[datetime], datetime]
Blocked = Callable[[str], datetime]


def swept(
    workflow: Workflow,
    people: Sequence[Person],
    before: dict[str, list[tuple[datetime, datetime | None]]],
    runs_for: timedelta,
    start: datetime,
    end: datetime,
    every: timedelta,
) -> list[Swept]:
    """The enrollments the workflow's sweep would have made, run every ``every`` from
    ``start`` to ``end``, in time order. ``before``: the stored episodes of the workflow
    enrolled before the window, by subject, (enrolled, ended or None while running);
    ``runs_for``: how long a replayed episode runs (its last step's delay)."""
    if workflow.reenroll_after_days is None:
        gap = FOREVER
    else:
        gap = timedelta(days=workflow.reenroll_after_days)

    def tick(moment: datetime) -> datetime:
        """The first sweep at or after ``moment``."""
        if moment <= start:
            return start
        return start + every * -((start - moment) // every)

    def blocked(subject: str) -> datetime:
        """When the stored episodes about ``subject`` stop refusing it."""
        until = start
        for enrolled, ended in before.get(subject, ()):
            until = max(until, enrolled + gap, ended or end + every)
        return until

    find = _reorders if workflow.trigger.sweep == "reorder_due" else _lapsed
    apart = max(gap, runs_for, every)  # an episode has run, and the gap has passed
    found = [
        one
        for person in people
        if person.email and person.orders
        for one in find(workflow, person, tick, blocked, apart, end)
    ]
    found.sort(key=lambda one: one.at)
    return found


def _lapsed(
    workflow: Workflow,
    person: Person,
    tick: Tick,
    blocked: Blocked,
    apart: timedelta,
    end: datetime,
) -> Iterator[Swept]:
    """Each sweep that finds the customer lapsed and may enroll them."""
    params = workflow.trigger.params
    ordered = sorted(o.created_at for o in person.orders if o.created_at)
    if not ordered:
        return
    at = tick(blocked(person.key))
    while at <= end:
        placed = ordered[: bisect_right(ordered, at)]
        engaged = person.engaged[: bisect_right(person.engaged, at)]
        last_order = placed[-1] if placed else None
        activity = latest(person.created_at, last_order, engaged[-1] if engaged else None)
        if is_lapsed(
            params, at, last_activity_at=activity, last_order_at=last_order, has_email=True
        ):
            assert activity is not None
            yield Swept(person.key, person.key, at, {}, activity)
            at = tick(at + apart)
            continue
        # no sweep finds them before their latest activity (or their first order, still
        # to come) is the inactive days old
        since = activity if last_order is not None else ordered[0]
        assert since is not None
        at = max(tick(since + inactive_for(params)), tick(at + _INSTANT))


def _reorders(
    workflow: Workflow,
    person: Person,
    tick: Tick,
    blocked: Blocked,
    apart: timedelta,
    end: datetime,
) -> Iterator[Swept]:
    """Between each two changes of the customer's orders (one placed or cancelled), the
    first sweep that finds their expected reorder due, about their latest standing order
    then; an order is reminded of once (the purchase cycle never re-enrolls a subject)."""
    params = workflow.trigger.params
    changes = sorted(
        {o.created_at for o in person.orders if o.created_at}
        | {o.cancelled_at for o in person.orders if o.cancelled_at}
    )
    for index, since in enumerate(changes):
        standing = [
            o
            for o in person.orders
            if o.created_at
            and o.created_at <= since
            and (o.cancelled_at is None or o.cancelled_at > since)
        ]
        if not standing:
            continue
        placed = sorted(placed_at(o) for o in standing)
        mean = mean_days_between(placed[0], placed[-1], len(placed))
        if mean is None:
            continue
        newest = max(standing, key=placed_at)
        expected = placed[-1] + timedelta(days=mean)
        # the first sweep whose window reaches the expected date
        at = tick(max(since, blocked(newest.id), expected - reorder_lead(params)))
        changes_again = changes[index + 1] if index + 1 < len(changes) else None
        if changes_again is not None and at >= changes_again:
            continue
        if at <= end and is_reorder_due(params, at, expected):
            yield Swept(person.key, newest.id, at, {"expected_reorder": expected}, at)


def placed_at(order: Order) -> datetime:
    """When an order was placed (one read here has a time)."""
    assert order.created_at is not None
    return order.created_at
