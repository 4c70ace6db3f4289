"""Marketing consent as a customer's record said it at a moment, from what the record keeps:
its latest answer with that answer's time, and the time of an unsubscribe. Pure; read by
the backtest (each replayed decision) and by explain (each decided step's conditions)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


def consent_history(
    accepts: bool | None, updated_at: datetime | None, unsubscribed_at: datetime | None
) -> list[tuple[datetime | None, bool]]:
    """What a customer's record said of marketing consent, oldest first, each from when
    (None: from the start). The record keeps its latest answer with its time, and the time
    of an unsubscribe: an unsubscribe after the latest answer turned a yes into a no (the
    answer it overwrote is not kept); one before it was overruled by that answer. Before
    the first, nothing was recorded."""
    if accepts is None:
        return []
    if (
        unsubscribed_at is not None
        and not accepts
        and (updated_at is None or unsubscribed_at >= updated_at)
    ):
        return [(updated_at, True), (unsubscribed_at, False)]
    history: list[tuple[datetime | None, bool]] = [(updated_at, accepts)]
    if unsubscribed_at is not None and updated_at is not None and unsubscribed_at < updated_at:
        history.insert(0, (unsubscribed_at, False))
    return history


def consent_at(history: Sequence[tuple[datetime | None, bool]], at: datetime) -> bool | None:
    """What the record said at ``at``; None when it had said nothing yet."""
    said = None
    for since, accepts in history:
        if since is None or since <= at:
            said = accepts
    return said
