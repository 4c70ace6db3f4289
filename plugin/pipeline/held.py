"""Marketing email held while the shop has no postal address (CAN-SPAM: every commercial
email shows the sender's valid physical postal address).

A due step that would send marketing email to a shop without one is not decided: it stays
pending with ``HELD_REASON`` and is looked at again every ``RECHECK`` (its conditions too,
on the facts as they are then), and at once when the shop's address is saved
(``release_held``). Transactional email never waits for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from plugin.storage.models import Step

# what the settings page and the activity list show for such a step, in a merchant's words
HELD_REASON = (
    "held: your shop has no postal address, which the law requires in marketing email; "
    "add it in Shop-wide settings"
)
RECHECK = timedelta(hours=6)


def held_steps(session: Session, shop_id: int) -> int:
    """How many of the shop's steps are held for its postal address now."""
    return int(
        session.scalar(
            select(func.count()).where(
                Step.shop_id == shop_id, Step.state == "pending", Step.reason == HELD_REASON
            )
        )
        or 0
    )


def release_held(session: Session, shop_id: int, now: datetime) -> int:
    """Make the shop's held steps due now (its address was just saved); how many."""
    result = session.execute(
        update(Step)
        .where(Step.shop_id == shop_id, Step.state == "pending", Step.reason == HELD_REASON)
        # the holds were not the step's own deferrals (send window, cap): they start over
        .values(due_at=now, deferrals=0)
    )
    return cast("CursorResult[Any]", result).rowcount
