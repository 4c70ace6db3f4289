"""Scheduling arithmetic: due times, the send window, the frequency cap, holdout groups."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rules.definitions import Delay, StepDef
from rules.variants import choose_variant


def step_due_at(delay: Delay, anchors: dict[str, datetime]) -> datetime:
    """When a step is due: its anchor moment plus its delay."""
    return anchors[delay.from_] + delay.amount


def customer_delay(workflow: str, step: StepDef, customer: str) -> tuple[Delay, str | None]:
    """The step's delay for this customer, and their variant's id (None: no A/B test).

    In a test, the customer's variant (the winner once there is one) decides: its own
    delay if it has one, else the step's."""
    variant = choose_variant(step.variants, workflow, step.id, customer, step.winner)
    if variant is None:
        return step.delay, None
    return variant.delay or step.delay, variant.id


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def next_in_send_window(at: datetime, tz: str, start_hour: int = 9, end_hour: int = 21) -> datetime:
    """The earliest moment at or after ``at`` inside [start_hour, end_hour) local time.

    A window whose start is after its end wraps midnight (e.g. 20-8). An empty or
    full-day window never delays.
    """
    if start_hour == end_hour or (start_hour <= 0 and end_hour >= 24):
        return at
    local = at.astimezone(_zone(tz))
    hour = local.hour + local.minute / 60 + local.second / 3600
    wraps = start_hour > end_hour
    inside = (hour >= start_hour or hour < end_hour) if wraps else (start_hour <= hour < end_hour)
    if inside:
        return at
    day = local.date() if hour < start_hour else local.date() + timedelta(days=1)
    opening = datetime(day.year, day.month, day.day, start_hour % 24, tzinfo=local.tzinfo)
    return opening.astimezone(UTC)


def frequency_cap_release(
    last_marketing_at: datetime | None, cap_hours: float, at: datetime
) -> datetime | None:
    """When the cap next allows a marketing email, or None if it allows one at ``at``."""
    if last_marketing_at is None or cap_hours <= 0:
        return None
    release = last_marketing_at + timedelta(hours=cap_hours)
    return release if release > at else None


def in_holdout(customer_id: str, workflow: str, percent: float) -> bool:
    """Stable assignment to a workflow's holdout group (same answer on every machine)."""
    if percent <= 0:
        return False
    digest = hashlib.sha256(f"{workflow}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100 < percent
