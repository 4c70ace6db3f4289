"""Time for tests: a clock set by hand, and the moment the workflow scenarios start."""

from __future__ import annotations

from datetime import UTC, datetime

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, inside the default send window


class Clock:
    """A clock tests set by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, iso: str) -> datetime:
        self.now = datetime.fromisoformat(iso).astimezone(UTC)
        return self.now
