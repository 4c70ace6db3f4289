"""A workflow's results per calendar day of the report's period, in the shop's time zone.

The days are cut from what the report has already read (its messages and its credited
orders), so the series costs no query of its own and its days add up to the report's totals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def report_zone(name: object) -> tuple[str, ZoneInfo]:
    """The shop's time zone by its IANA name, or UTC when it has none Nudge knows."""
    if isinstance(name, str) and name:
        try:
            return name, ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return "UTC", ZoneInfo("UTC")


@dataclass
class Day:
    """What one workflow's emails did on one day."""

    sent: int = 0  # emails handed to SendGrid that day
    kept: int = 0  # emails written that day but never sent (SendGrid not configured)
    converted: int = 0  # recipients whose first credited order of the period came that day
    orders: int = 0  # credited orders placed that day
    revenue: Decimal = Decimal("0")


class Days:
    """Every calendar day from ``since`` to ``until`` in ``zone`` (the first and the last
    usually partial), each with its tally."""

    def __init__(self, since: datetime, until: datetime, zone: ZoneInfo):
        self.zone = zone
        first, last = self.date_of(since), self.date_of(until)
        self.days = {first + timedelta(days=n): Day() for n in range((last - first).days + 1)}

    def date_of(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def of(self, at: datetime) -> Day:
        """The day ``at`` falls on; a moment of the period always has one."""
        return self.days[self.date_of(at)]

    def written(self, at: datetime, state: str) -> None:
        day = self.of(at)
        day.sent += state == "sent"
        day.kept += state == "kept"

    def credited(self, at: datetime, value: Decimal) -> None:
        day = self.of(at)
        day.orders += 1
        day.revenue += value

    def converted(self, first_orders: Iterable[datetime]) -> None:
        for at in first_orders:
            self.of(at).converted += 1

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {
                "date": on.isoformat(),
                "sent": day.sent,
                "kept": day.kept,
                "converted": day.converted,
                "orders": day.orders,
                "revenue": float(day.revenue),
            }
            for on, day in self.days.items()
        ]
