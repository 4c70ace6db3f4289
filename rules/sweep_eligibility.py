"""Whom a time-triggered workflow's sweep may enroll, as arithmetic on a customer's facts.

The live sweep (plugin.pipeline.sweeps) turns these into indexed queries over the stored
customers; the backtest (plugin.pipeline.backtest) applies them to each customer's facts as
they stood at each replayed sweep. Both read the trigger's parameters here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def inactive_for(params: dict[str, Any]) -> timedelta:
    """How long without an order or an email engagement makes a customer lapsed."""
    return timedelta(days=float(params.get("inactive_days", 90)))


def lapsed_cutoff(params: dict[str, Any], now: datetime) -> datetime:
    """A customer whose last activity is at or before this is lapsed at ``now``."""
    return now - inactive_for(params)


def is_lapsed(
    params: dict[str, Any],
    now: datetime,
    *,
    last_activity_at: datetime | None,
    last_order_at: datetime | None,
    has_email: bool,
) -> bool:
    """Whether the inactive sweep finds the customer at ``now``: an address, an order once
    (people who never ordered are leads, not lapsed), and no activity since the cutoff."""
    return (
        has_email
        and last_order_at is not None
        and last_activity_at is not None
        and last_activity_at <= lapsed_cutoff(params, now)
    )


REORDER_MISSED_AFTER = timedelta(days=14)  # a reorder date long past: re-engagement's turn


def reorder_window(params: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    """(after, until): the reorder sweep finds at ``now`` the customers whose expected
    reorder falls after the first and at or before the second (``lead_days`` ahead)."""
    return now - REORDER_MISSED_AFTER, now + reorder_lead(params)


def reorder_lead(params: dict[str, Any]) -> timedelta:
    """How long before the expected reorder the reorder sweep finds a customer."""
    return timedelta(days=float(params.get("lead_days", 3)))


def is_reorder_due(params: dict[str, Any], now: datetime, expected: datetime | None) -> bool:
    """Whether the reorder sweep finds a customer expected to reorder at ``expected``."""
    if expected is None:
        return False
    after, until = reorder_window(params, now)
    return after < expected <= until


def mean_days_between(first: datetime, last: datetime, count: int) -> float | None:
    """A customer's mean interval between their ``count`` orders, placed from ``first`` to
    ``last``; None with fewer than two orders on different moments."""
    if count < 2 or last <= first:
        return None
    return (last - first).total_seconds() / 86_400 / (count - 1)
