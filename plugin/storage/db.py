"""Database engine and sessions, one per app (or per CLI run)."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Engine,
    Table,
    Update,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from plugin.config import SQLITE_SYNCHRONOUS, SettingRefused
from plugin.storage.fact_rows import FactSession
from plugin.storage.models import Base, UTCDateTime

LOCK_WAIT_SECONDS = 30  # how long a SQLite writer waits for another's write lock


def make_engine(url: str, *, sqlite_waits: bool = True, synchronous: str = "NORMAL") -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and enforced foreign keys.

    ``sqlite_waits=False`` leaves SQLite's busy timeout at 0, for callers that retry a
    locked write themselves (see ``DirectInsert``). ``synchronous``: SQLite's, one of
    ``plugin.config.SQLITE_SYNCHRONOUS``.
    """
    if synchronous not in SQLITE_SYNCHRONOUS:
        raise SettingRefused(f"SQLite synchronous {synchronous!r}; use one of {SQLITE_SYNCHRONOUS}")
    if url.startswith("sqlite"):
        _owner_only(url)
        timeout = LOCK_WAIT_SECONDS if sqlite_waits else 0
        engine = create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            if url not in ("sqlite://", "sqlite:///:memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")  # one of a fixed few
            cursor.execute("PRAGMA foreign_keys=ON")
            # statement journals (a multi-row UPDATE's undo pages) in memory, not in a file
            # created and unlinked under /var/tmp once one passes 64 KiB: the inbox's claim
            # of 200 deliveries of ~3 KB each always did
            cursor.execute("PRAGMA temp_store=MEMORY")
            if not sqlite_waits:
                # the intake's one-row commits: checkpoint the WAL a tenth as often (at
                # ~40 MB), each a longer pause the busy retries absorb, for less work per row
                cursor.execute("PRAGMA wal_autocheckpoint=10000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


DATABASE_FILE_MODE = 0o600  # customers' data: readable by the app's own user only


def _owner_only(url: str) -> None:
    """Create the SQLite file readable by its owner only, or take others' access away from
    an existing one (its -wal and -shm too). SQLite gives a journal the database file's
    mode when it creates it, so the file is made before SQLite first opens it."""
    database = make_url(url).database
    if not database or database == ":memory:" or make_url(url).query.get("uri"):
        return
    path = Path(database).expanduser()
    try:
        # O_EXCL: an existing file is never opened here. Closing a descriptor drops every
        # POSIX lock the process holds on the file, its SQLite connections' locks included.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, DATABASE_FILE_MODE))
    except FileExistsError:
        pass
    except OSError:
        return  # a folder that is not there: SQLite's own error says so when it connects
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            if file.stat().st_mode & 0o077:
                file.chmod(DATABASE_FILE_MODE)
        except OSError:  # not there (yet), or not ours to change
            continue


def create_schema(engine: Engine) -> None:
    """Create every table that does not exist yet."""
    Base.metadata.create_all(engine)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions of the engine, whose flush writes their batch's fact records too."""
    return sessionmaker(engine, class_=FactSession, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def claim_rows(
    model: Any,
    ready: Callable[[Any], ColumnElement[bool]],
    order: Callable[[Any], Iterable[Any]],
    limit: int,
) -> Update:
    """``UPDATE model ... WHERE id IN (the first ``limit`` ready rows)``, to finish with
    ``.values(...)``: one statement, so a claim is atomic.

    On PostgreSQL the rows are picked with FOR UPDATE SKIP LOCKED: a second worker takes
    the next rows instead of waiting for these, then finding them taken. SQLite has one
    writer at a time and ignores the clause.
    """
    row = aliased(model)  # its own FROM, not correlated with the UPDATE's table
    picked = (
        select(row.id)
        .where(ready(row))
        .order_by(*order(row))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return update(model).where(model.id.in_(picked))


def now_param() -> BindParameter[datetime]:
    """The time a statement runs as, bound at execution: ``session.execute(stmt, {"now":
    now})``. Statements that run every pass are built once with it, not on every call
    (building a statement costs more than running it on an idle database)."""
    return bindparam("now", type_=UTCDateTime())


CONFLICT_RETRIES = 5
# PostgreSQL: serialization failure, deadlock detected
CONFLICT_STATES = ("40001", "40P01")


def is_conflict(exc: BaseException) -> bool:
    """True for a transaction that lost a race with another worker and may simply be run
    again: a row it inserted was inserted first elsewhere, or PostgreSQL chose it as a
    deadlock or serialization victim."""
    if isinstance(exc, IntegrityError):
        return True
    orig = getattr(exc, "orig", None)
    return isinstance(exc, DBAPIError) and getattr(orig, "sqlstate", None) in CONFLICT_STATES


def error_text(exc: BaseException) -> str:
    """What went wrong, fit to store with a failed row: the first line only (a database
    driver's next lines echo the statement's values, customer data included), without NUL
    characters (PostgreSQL refuses them in text)."""
    first = (str(exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"[:2000].replace("\x00", "")


FIRST_PAUSE, LONGEST_PAUSE = 0.000_05, 0.002  # seconds between tries for a locked database
# SQLite's result codes for a database another connection holds (the extended codes, such
# as SQLITE_BUSY_SNAPSHOT, carry them in their low byte)
BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds the database: its error
    code, not its message, says so."""
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in BUSY_CODES


class DirectInsert:
    """One INSERT run straight on a DBAPI connection: the webhook path's insert.

    Per request, SQLAlchemy's Connection, transaction, execution context and result cost
    more than SQLite's insert and commit together (docs/performance.md). The statement is
    still SQLAlchemy's, compiled once for the engine's dialect; every value still goes
    through its column type's bind processing (UTC datetimes, bytes).

    On SQLite the insert runs on a connection of the engine's (its pragmas set by the
    engine's connect event) taken out of the pool for good and kept in autocommit: the
    insert is its own transaction, with no pool checkout and return, BEGIN or COMMIT around
    it. Idle ones wait in a list, so a server that makes a thread per request reuses them. Other databases take a pooled connection per insert:
    the pool checks it is alive, and a server's connections are too dear to hold.

    A locked SQLite database is tried again after microseconds, not SQLite's millisecond:
    an insert holds the write lock for tens of microseconds, and under concurrent intake
    the busy handler's sleeps left the CPU idle. Use it on an engine made with
    ``sqlite_waits=False``; other databases wait for locks in the server.
    """

    def __init__(self, engine: Engine, table: Table, columns: Iterable[str]):
        self.engine = engine
        self.columns = tuple(columns)
        dialect = engine.dialect
        compiled = insert(table).compile(dialect=dialect, column_keys=list(self.columns))
        names = compiled.positiontup or list(compiled.binds)
        missing = set(names) - set(self.columns)
        if missing:  # a column default the caller would skip: SQLAlchemy fills those, we don't
            raise ValueError(f"values needed for {sorted(missing)}")
        self.sql = compiled.string
        self.names = tuple(names)
        self.positional = compiled.positiontup is not None
        self.processors = {
            name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self.names
        }
        self.dbapi = dialect.loaded_dbapi
        self.own_connections = dialect.name == "sqlite"
        self._idle: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._inherited: list[sqlite3.Connection] = []

    def run(self, values: dict[str, Any]) -> bool:
        """Insert and commit; False when a unique constraint says the row is there already."""
        params = {}
        for name in self.names:
            process = self.processors[name]
            params[name] = values[name] if process is None else process(values[name])
        args = tuple(params[name] for name in self.names) if self.positional else params
        if self.own_connections:
            return self._run_on_own_connection(args)
        connection = self.engine.raw_connection()
        try:
            connection.cursor().execute(self.sql, args)
            connection.commit()
            return True
        except self.dbapi.IntegrityError:
            connection.rollback()
            return False
        finally:
            connection.close()  # back to the pool

    def _run_on_own_connection(self, args: Any) -> bool:
        if self._pid != os.getpid():
            # forked without close(): SQLite's connections must not be used, nor closed, in
            # the child; they stay referenced here and unused
            self._inherited, self._idle, self._pid = self._idle, [], os.getpid()
        try:
            connection = self._idle.pop()  # atomic: each thread gets its own
        except IndexError:
            connection = self._open()
        try:
            return self._insert(connection, args)
        finally:
            self._idle.append(connection)

    def _insert(self, connection: sqlite3.Connection, args: Any) -> bool:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        pause = FIRST_PAUSE
        while True:
            try:
                connection.execute(self.sql, args)  # autocommit: committed when it returns
                return True
            except sqlite3.IntegrityError:
                return False
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)

    def _open(self) -> sqlite3.Connection:
        pooled = self.engine.raw_connection()
        pooled.detach()  # closed by close(), not returned to the pool
        connection: sqlite3.Connection = pooled.dbapi_connection  # type: ignore[assignment]
        connection.isolation_level = None  # autocommit
        return connection

    def close(self) -> None:
        """Close the idle connections (before a fork, or when done)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
