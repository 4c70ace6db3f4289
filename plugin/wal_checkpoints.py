"""Checkpoint a SQLite database's WAL from a thread beside the worker, off its path.

SQLite checkpoints on the connection that commits past ``wal_autocheckpoint`` pages, so
the worker, which commits the most, waited for most of them. A checkpoint syncs the WAL
and then the database file, and those syncs took 5–7 ms each on this project's machine:
at full size, 60 s of the replay worker's 561 s. Here a thread of the worker's process
watches how many of the WAL's frames are not yet copied to the database and checkpoints
when SQLite would have, on a connection of its own; ``sqlite3`` lets go of the GIL while
SQLite works, so the worker decides on meanwhile. The worker's own connections keep a
higher threshold, so they checkpoint only if the thread falls far behind or stops.
"""

from __future__ import annotations

import logging
import mmap
import sqlite3
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)

FRAMES = 1000  # SQLite's own auto-checkpoint threshold, in frames (pages)
# The watched engine's connections' threshold. Above SQLite's, so they leave the copying to
# the thread; low enough that they still start the WAL over now and then: SQLite does that
# only in a write transaction begun after a complete checkpoint, and the worker begins its
# next batch before the thread's checkpoint ends. At 20,000 customers the WAL restarted 334
# times against 976 with SQLite alone, and held ~3,000 frames on average against ~1,800; at
# 10,000 here, 160 times and ~5,500 frames, and the replay ran slower.
FALLBACK_FRAMES = 4000
POLL_SECONDS = 0.005
# The WAL-index (the "-shm" file) starts with its header, in the machine's byte order: the
# last valid frame (mxFrame) at byte 16; after the header's two copies, the checkpoint
# information, whose first field is how many frames are copied to the database (nBackfill).
# https://www.sqlite.org/walformat.html#the_wal_index_file_format
_MAX_FRAME = struct.Struct("=I"), 16
_BACKFILLED = struct.Struct("=I"), 96
_HEADER_BYTES = 136


class WalCheckpointer(threading.Thread):
    """Checkpoint a SQLite file's WAL whenever ``frames`` of it are not yet in the database."""

    def __init__(
        self,
        database: str,
        synchronous: str = "NORMAL",
        frames: int = FRAMES,
        poll_seconds: float = POLL_SECONDS,
    ):
        super().__init__(name="nudge-wal-checkpoints", daemon=True)
        self.database, self.synchronous = database, synchronous
        self.frames, self.poll_seconds = frames, poll_seconds
        self.stopping = threading.Event()
        self.checkpoints = 0

    def run(self) -> None:
        connection = sqlite3.connect(self.database, isolation_level=None)
        try:
            # the syncs are the checkpointing connection's: the same level as the writers'
            connection.execute(f"PRAGMA synchronous={self.synchronous}")
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                return
            # a read makes SQLite open the WAL-index (the -shm file), if none had
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            with open(f"{self.database}-shm", "rb") as shm_file:
                index = mmap.mmap(shm_file.fileno(), _HEADER_BYTES, access=mmap.ACCESS_READ)
            with index:
                while not self.stopping.wait(self.poll_seconds):
                    if self.waiting_frames(index) >= self.frames:
                        self._checkpoint(connection)
        finally:
            connection.close()

    @staticmethod
    def waiting_frames(index: Any) -> int:
        """Frames in the WAL not yet copied to the database. Read without SQLite's locks:
        a value caught mid-change only moves one checkpoint by a poll."""
        (last,) = _MAX_FRAME[0].unpack_from(index, _MAX_FRAME[1])
        (copied,) = _BACKFILLED[0].unpack_from(index, _BACKFILLED[1])
        return max(0, last - copied)

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            # PASSIVE, as SQLite's own: copies what no reader still needs, never waits
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error:  # the writers' fallback threshold still bounds the WAL
            log.warning("WAL checkpoint failed; trying again at the next poll", exc_info=True)

    def stop(self) -> None:
        self.stopping.set()
        self.join()


def sqlite_file(engine: Engine) -> str | None:
    """The database file behind a SQLite engine; None for another database or in memory."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    return database if database and database != ":memory:" else None


@contextmanager
def checkpoints_beside(engine: Engine, synchronous: str) -> Iterator[WalCheckpointer | None]:
    """While in the block, checkpoint the engine's SQLite WAL from a thread (nothing for
    another database); the engine's connections checkpoint only far past SQLite's own
    threshold meanwhile."""
    database = sqlite_file(engine)
    if database is None:
        yield None
        return

    def fallback(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_FRAMES}")

    checkpointer = WalCheckpointer(database, synchronous)
    event.listen(engine, "checkout", fallback)
    checkpointer.start()
    try:
        yield checkpointer
    finally:
        checkpointer.stop()
        event.remove(engine, "checkout", fallback)
        # connections made from now on checkpoint at SQLite's own threshold again
        engine.dispose()
