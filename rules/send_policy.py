"""What the shop's frequency cap does to a marketing email whose step's conditions held:
let it go, hold it until the cap releases, or drop it; and when a step held too often is
given up. The worker (plugin.pipeline.due_steps) and the backtest (plugin.pipeline.backtest)
both decide with these, so a backtest's cap is the live one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rules.scheduling import frequency_cap_release

MAX_DEFERRALS = 60  # a step deferred this often (cap + window) is given up, with its reason
OUTSIDE_WINDOW = "outside send window"
CAPPED = "frequency cap"
CAP_DROPPED = "frequency cap (dropped)"


@dataclass(frozen=True)
class Held:
    """A send the cap stops now: deferred to ``until``, or dropped when ``until`` is None."""

    reason: str
    until: datetime | None = None


def frequency_cap(
    settings: dict[str, Any], last_marketing_at: datetime | None, now: datetime
) -> Held | None:
    """What the shop's cap does to a marketing email at ``now`` (None: it may go).
    ``settings`` as ``plugin.shop_settings.policies.shop_settings`` gives them."""
    release = frequency_cap_release(last_marketing_at, float(settings["frequency_cap_hours"]), now)
    if release is None:
        return None
    if settings["capped_action"] == "drop":
        return Held(CAP_DROPPED)
    return Held(CAPPED, release)


def given_up(reason: str, deferrals: int) -> str | None:
    """The skip reason of a step deferred ``deferrals`` times already, or None while it may
    be deferred once more."""
    return f"{reason}: deferred too often" if deferrals >= MAX_DEFERRALS else None
