"""The webhook path's insert straight on the pooled DBAPI connection (plugin.db.DirectInsert)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from plugin.db import DirectInsert, create_schema, make_engine
from plugin.models import Delivery
from plugin.services import DELIVERY_COLUMNS, Services


def _values(delivery_id: str, received_at: datetime) -> dict[str, object]:
    return {
        "shop_id": None,
        "source": "sendgrid",
        "delivery_id": delivery_id,
        "topic": "events",
        "body": b'[{"event": "open"}]',
        "status": "pending",
        "attempts": 0,
        "received_at": received_at,
    }


def test_values_go_through_the_column_types_and_duplicates_are_refused(services: Services):
    # An offset time: the UTC column type must convert it, as the ORM would.
    received = datetime(2026, 3, 2, 14, 30, 5, 123, tzinfo=UTC).astimezone()
    assert services.delivery_insert.run(_values("one", received)) is True
    assert services.delivery_insert.run(_values("one", received + timedelta(1))) is False
    with services.sessions() as session:
        [row] = session.scalars(select(Delivery)).all()
    assert row.received_at == received and row.received_at.tzinfo == UTC
    assert (row.body, row.status, row.attempts) == (b'[{"event": "open"}]', "pending", 0)


def test_a_column_the_caller_would_leave_to_a_default_is_refused_up_front(services: Services):
    without_attempts = [c for c in DELIVERY_COLUMNS if c != "attempts"]
    with pytest.raises(ValueError, match="attempts"):
        DirectInsert(services.intake_engine, Delivery.__table__, without_attempts)


def test_a_locked_sqlite_database_is_waited_for_not_refused(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'locked.sqlite3'}"
    waiting = make_engine(url)
    create_schema(waiting)
    impatient = make_engine(url, sqlite_waits=False)  # SQLite's busy timeout is 0 here
    insert = DirectInsert(impatient, Delivery.__table__, DELIVERY_COLUMNS)
    holder = waiting.raw_connection()
    holder.cursor().execute("BEGIN IMMEDIATE")  # take the write lock
    released = threading.Event()

    def release_later() -> None:
        time.sleep(0.2)
        holder.commit()
        released.set()

    thread = threading.Thread(target=release_later)
    thread.start()
    try:
        assert insert.run(_values("after-the-lock", datetime.now(UTC))) is True
        assert released.is_set()  # it did have to wait: the lock was taken when it began
    finally:
        thread.join()
        holder.close()
    with waiting.connect() as connection:
        stored = connection.execute(select(Delivery.delivery_id)).scalars().all()
    assert stored == ["after-the-lock"]
    waiting.dispose()
    impatient.dispose()
