"""The sweeps a backtest replays: the time-triggered workflows' sweeps run again at their
interval over the window, each finding whom it would have enrolled from the customers'
facts as they stood then (orders placed by then, email engagement by then), with the
live sweep's own rule (``rules.sweep_eligibility``), and the same refusals: a customer
is not swept again while an episode of theirs runs or within the re-enrollment gap,
counting the episodes the pipeline stored before the window.

Only the inactive sweep (re-engagement) is replayed; the others (leads, reorders, high
intent) read facts whose history is not stored (product rhythms, storefront browsing).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from plugin.storage.facts_store.reading import latest
from rules.definitions import Workflow
from rules.sweep_eligibility import inactive_for, is_lapsed

REPLAYED_SWEEPS = ("inactive",)
FOREVER = timedelta(days=36_500)  # the live sweep's "never again" (plugin.pipeline.sweeps)


@dataclass(frozen=True, slots=True)
class Person:
    """What a sweep reads of one customer, as histories (each oldest first)."""

    key: str
    email: str | None
    created_at: datetime | None
    ordered: Sequence[datetime]  # when each order was placed
    engaged: Sequence[datetime]  # opens and clicks


@dataclass(frozen=True, slots=True)
class Swept:
    """One enrollment a replayed sweep made: whom, when, and their last activity then
    (the live episode's anchor)."""

    customer: str
    at: datetime
    last_activity: datetime


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
    ``start`` to ``end``, in time order. ``before``: each customer's stored episodes of
    the workflow enrolled before the window, (enrolled, ended or None while running);
    ``runs_for``: how long a replayed episode runs (its last step's delay)."""
    gap = (
        FOREVER
        if workflow.reenroll_after_days is None
        else timedelta(days=workflow.reenroll_after_days)
    )
    params = workflow.trigger.params
    lapses_after = inactive_for(params)
    found: list[Swept] = []

    def tick(moment: datetime) -> datetime:
        """The first sweep at or after ``moment``."""
        if moment <= start:
            return start
        return start + every * -((start - moment) // every)

    for person in people:
        if not person.email or not person.ordered:
            continue
        blocked = start
        for enrolled, ended in before.get(person.key, ()):
            blocked = max(blocked, enrolled + gap, ended or end + every)
        at = tick(blocked)
        while at <= end:
            ordered = person.ordered[: bisect_right(person.ordered, at)]
            engaged = person.engaged[: bisect_right(person.engaged, at)]
            last_order = ordered[-1] if ordered else None
            activity = latest(person.created_at, last_order, engaged[-1] if engaged else None)
            if is_lapsed(
                params, at, last_activity_at=activity, last_order_at=last_order, has_email=True
            ):
                assert activity is not None
                found.append(Swept(person.key, at, activity))
                at = tick(at + max(gap, runs_for, every))
                continue
            # nothing changes before the customer may lapse: their latest activity, or
            # their first order, plus the inactive days
            since = activity if last_order is not None else person.ordered[0]
            assert since is not None
            at = tick(max(since + lapses_after, at + every))
    found.sort(key=lambda one: one.at)
    return found
