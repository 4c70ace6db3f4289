"""Why a trigger enrolled nobody: counted per workflow and reason, and the latest kept per
customer and workflow, so that ``nudge explain`` can say why a customer was never enrolled.

A batch holds what it refused (``Batch.refusals``) and writes it in two upserts as it
commits: a counter row per (shop, workflow, reason) and one row per (shop, customer,
workflow) holding the latest refusal. Both stay bounded: by the workflows times the
reasons, and by the customers times the workflows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, event, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from plugin.storage.batch import Batch
from plugin.storage.models import CustomerRefusal, RefusalCount

# The reasons, as stored (a short code) and as a merchant reads them.
WORKFLOW_OFF = "workflow_off"
STALE_EVENT = "stale_event"
ALREADY_ENROLLED = "already_enrolled"
REENROLL_WINDOW = "reenroll_window"
ENROLLED_BEFORE = "enrolled_before"
NO_CONSENT = "no_consent"

REASON_WORDS = {
    WORKFLOW_OFF: "workflow off when its trigger came",
    STALE_EVENT: "event older than the trigger's window",
    ALREADY_ENROLLED: "already in this workflow for the same subject",
    REENROLL_WINDOW: "enrolled before, within the re-enrollment window",
    ENROLLED_BEFORE: "enrolled before (this workflow never re-enrolls)",
    NO_CONSENT: "no marketing consent",
}


def note(
    batch: Batch,
    shop_id: int,
    workflow: str,
    customer: str,
    reason: str,
    subject: str | None,
    event_kind: str | None,
    event_at: datetime | None,
    now: datetime,
) -> None:
    """Hold one refusal in the batch (the latest per customer and workflow wins)."""
    batch.refusals[(shop_id, customer, workflow)] = (
        reason,
        subject[:255] if subject else None,
        event_kind,
        event_at,
        now,
    )
    key = (shop_id, workflow, reason)
    count, _last = batch.refusal_counts.get(key, (0, now))
    batch.refusal_counts[key] = (count + 1, now)


def write(batch: Batch) -> None:
    """Write the refusals held since the last write, in one upsert per table."""
    if not batch.refusal_counts:
        return
    counts, batch.refusal_counts = batch.refusal_counts, {}
    latest, batch.refusals = batch.refusals, {}
    connection = batch.session.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    counters = cast(Table, RefusalCount.__table__)
    add_counts = insert(counters)
    connection.execute(
        add_counts.on_conflict_do_update(
            index_elements=["shop_id", "workflow", "reason"],
            set_={
                "count": counters.c.count + add_counts.excluded.count,
                "last_at": func.max(counters.c.last_at, add_counts.excluded.last_at)
                if connection.dialect.name == "sqlite"
                else func.greatest(counters.c.last_at, add_counts.excluded.last_at),
            },
        ),
        [
            {"shop_id": shop, "workflow": workflow, "reason": reason, "count": n, "last_at": at}
            for (shop, workflow, reason), (n, at) in counts.items()
        ],
    )
    rows = cast(Table, CustomerRefusal.__table__)
    add_rows = insert(rows)
    replaced: dict[str, Any] = {
        column: getattr(add_rows.excluded, column)
        for column in ("reason", "subject", "event", "event_at", "refused_at")
    }
    connection.execute(
        add_rows.on_conflict_do_update(
            index_elements=["shop_id", "customer_external_id", "workflow"], set_=replaced
        ),
        [
            {
                "shop_id": shop,
                "customer_external_id": customer[:64],
                "workflow": workflow,
                "reason": reason,
                "subject": subject,
                "event": kind,
                "event_at": event_at,
                "refused_at": at,
            }
            for (shop, customer, workflow), (reason, subject, kind, event_at, at) in latest.items()
        ],
    )


@event.listens_for(Session, "before_commit")
def _write_at_commit(session: Session) -> None:
    held = Batch.current(session)
    if held is not None:
        write(held)
