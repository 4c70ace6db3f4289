"""A step's delay: how long after which moment it falls due (a step's own, or an A/B test
variant's in its place)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rules.validation import DELAY_UNITS


@dataclass(frozen=True)
class Delay:
    """How long after which moment a step is due."""

    amount: timedelta
    from_: str


def parse_delay(data: dict[str, Any]) -> Delay:
    """A validated delay definition, such as ``{"hours": 4, "from": "enrollment"}``."""
    amount = sum(
        (timedelta(**{unit: data[unit]}) for unit in DELAY_UNITS if unit in data), timedelta()
    )
    return Delay(amount=amount, from_=data.get("from", "enrollment"))
