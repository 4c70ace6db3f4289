"""The webhook path's insert straight on a DBAPI connection (plugin.storage.db.DirectInsert)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, select

from plugin.services import DELIVERY_COLUMNS, Services
from plugin.storage.db import DirectInsert, create_schema, is_busy, make_engine
from plugin.storage.models import Delivery


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


@pytest.mark.parametrize("sqlite_waits", [True, False])
def test_every_sqlite_connection_is_set_up_alike(tmp_path: Path, sqlite_waits: bool):
    engine = make_engine(f"sqlite:///{tmp_path / 'set-up.sqlite3'}", sqlite_waits=sqlite_waits)
    connection = engine.raw_connection()
    try:
        pragma = lambda name: connection.cursor().execute(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 1  # NORMAL: WAL commits do not wait for the disk
        assert pragma("foreign_keys") == 1
        assert pragma("temp_store") == 2  # MEMORY: statement journals are not files
        assert pragma("wal_autocheckpoint") == (1000 if sqlite_waits else 10_000)
    finally:
        connection.close()
        engine.dispose()


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
        # marked before the commit: once it commits, the waiting insert may finish before
        # this thread runs again
        released.set()
        holder.commit()

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


def test_only_a_busy_database_is_tried_again(tmp_path: Path, monkeypatch):  # type: ignore[no-untyped-def]
    """A refusal is told by SQLite's error code: an error that merely says "locked" (here a
    missing table of that name) is raised at once, not waited out as a busy database."""
    url = f"sqlite:///{tmp_path / 'busy.sqlite3'}"
    engine = make_engine(url, sqlite_waits=False)
    create_schema(engine)
    locked = Table("locked", MetaData(), Column("id", Integer, primary_key=True))
    insert = DirectInsert(engine, locked, ["id"])

    def no_retry(_seconds: float) -> None:
        raise AssertionError("tried again")

    monkeypatch.setattr("plugin.storage.db.time.sleep", no_retry)
    with pytest.raises(sqlite3.OperationalError, match="no such table: locked") as refused:
        insert.run({"id": 1})
    assert not is_busy(refused.value)
    insert.close()
    engine.dispose()
    holder = sqlite3.connect(tmp_path / "busy.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, held
    other = sqlite3.connect(tmp_path / "busy.sqlite3", timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as busy:
        other.execute("BEGIN IMMEDIATE")
    assert is_busy(busy.value)
    holder.close()
    other.close()


def _sqlite_insert(tmp_path: Path) -> tuple[DirectInsert, object]:
    url = f"sqlite:///{tmp_path / 'own.sqlite3'}"
    waiting = make_engine(url)
    create_schema(waiting)
    return DirectInsert(
        make_engine(url, sqlite_waits=False), Delivery.__table__, DELIVERY_COLUMNS
    ), waiting


def _stored(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return sorted(connection.execute(select(Delivery.delivery_id)).scalars())


def test_sqlite_inserts_reuse_their_connections_across_threads(tmp_path: Path):
    insert, waiting = _sqlite_insert(tmp_path)
    opened: list[object] = []
    original_open = insert._open

    def counting_open():  # type: ignore[no-untyped-def]
        opened.append(connection := original_open())
        return connection

    insert._open = counting_open  # type: ignore[method-assign]
    start = threading.Barrier(4)

    def send(n: int) -> None:
        start.wait()
        for i in range(50):
            assert insert.run(_values(f"{n}-{i}", datetime.now(UTC))) is True

    # a thread per batch of requests, as a threaded server makes them
    for _round in range(3):
        threads = [threading.Thread(target=send, args=(n + 10 * _round,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(_stored(waiting)) == 600  # every insert committed, none lost
    assert 1 <= len(opened) <= 4  # at most one connection per thread at once, then reused
    assert insert.run(_values("0-0", datetime.now(UTC))) is False  # still refuses duplicates
    insert.close()
    assert insert._idle == []
    with pytest.raises(sqlite3.ProgrammingError):  # closed, not merely forgotten
        opened[0].execute("SELECT 1")  # type: ignore[attr-defined]
    assert insert.run(_values("after-close", datetime.now(UTC))) is True  # opens a new one
    assert "after-close" in _stored(waiting)
    waiting.dispose()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own_sqlite_connection(tmp_path: Path):
    insert, waiting = _sqlite_insert(tmp_path)
    assert insert.run(_values("parent", datetime.now(UTC))) is True
    [parent_connection] = insert._idle
    pid = os.fork()
    if pid == 0:  # the child: its insert must not go through the parent's connection
        ok = insert.run(_values("child", datetime.now(UTC)))
        os._exit(0 if ok and insert._inherited == [parent_connection] and
                 insert._idle[0] is not parent_connection else 1)  # fmt: skip
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert insert.run(_values("parent-again", datetime.now(UTC))) is True
    assert insert._idle == [parent_connection]  # the parent's own, still open and in use
    assert _stored(waiting) == ["child", "parent", "parent-again"]
    waiting.dispose()
