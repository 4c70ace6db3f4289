"""The worker's WAL is checkpointed by a thread beside it, not by the worker's commits."""

from __future__ import annotations

import mmap
import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from plugin.db import make_engine
from plugin.wal_checkpoints import FALLBACK_FRAMES, FRAMES, WalCheckpointer, checkpoints_beside

ROWS = 2500  # ~3 KB each: one WAL frame apiece, well past FRAMES, well short of the fallback


def _write(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS big (body BLOB)"))
        for _ in range(ROWS):
            conn.execute(text("INSERT INTO big VALUES (zeroblob(3000))"))


def _autocheckpoint(engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()


def _index(path: Path) -> mmap.mmap:
    with open(f"{path}-shm", "rb") as shm:
        return mmap.mmap(shm.fileno(), 136, access=mmap.ACCESS_READ)


def test_the_wal_index_tells_the_frames_a_checkpoint_would_copy(tmp_path):
    path = tmp_path / "db.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")  # this test checkpoints by hand
    db.execute("CREATE TABLE big (body BLOB)")
    for _ in range(300):
        db.execute("INSERT INTO big VALUES (zeroblob(3000))")
    index = _index(path)

    waiting = WalCheckpointer.waiting_frames(index)
    busy, in_wal, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and in_wal > 300
    assert waiting == in_wal  # nothing had been copied before
    assert copied == in_wal and WalCheckpointer.waiting_frames(index) == 0
    index.close()
    db.close()


def test_the_thread_checkpoints_what_the_engines_commits_leave(tmp_path):
    path = tmp_path / "db.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    assert _autocheckpoint(engine) == FRAMES  # SQLite's own, before the thread runs

    with checkpoints_beside(engine, "NORMAL") as checkpointer:
        assert checkpointer is not None
        # the engine's connections leave the checkpoints to the thread
        assert _autocheckpoint(engine) == FALLBACK_FRAMES
        _write(engine)
        index = _index(path)
        deadline = time.monotonic() + 30
        while WalCheckpointer.waiting_frames(index) >= FRAMES and time.monotonic() < deadline:
            time.sleep(0.01)
        # the engine wrote more than FRAMES and, at FALLBACK_FRAMES, did not checkpoint
        # them itself: the thread copied them
        assert WalCheckpointer.waiting_frames(index) < FRAMES
        assert checkpointer.checkpoints >= 1
        index.close()
    assert not checkpointer.is_alive()
    assert _autocheckpoint(engine) == FRAMES  # connections made after the block
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM big").scalar_one() == ROWS
    engine.dispose()


def test_without_the_thread_the_same_writes_stay_in_the_wal(tmp_path):
    """The check above can fail: at the fallback threshold, no one copies these frames."""
    path = tmp_path / "db.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={FALLBACK_FRAMES}")
        conn.exec_driver_sql("CREATE TABLE big (body BLOB)")
        for _ in range(ROWS):
            conn.exec_driver_sql("INSERT INTO big VALUES (zeroblob(3000))")
        conn.commit()
        index = _index(path)
        assert WalCheckpointer.waiting_frames(index) >= ROWS
        index.close()
    engine.dispose()


def test_nothing_runs_for_a_database_in_memory():
    engine = make_engine("sqlite://")
    with checkpoints_beside(engine, "NORMAL") as checkpointer:
        assert checkpointer is None
    engine.dispose()
