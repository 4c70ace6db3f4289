"""Database engine and sessions, one per app (or per CLI run)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Engine,
    Update,
    bindparam,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from plugin.models import Base, UTCDateTime


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            if url not in ("sqlite://", "sqlite:///:memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def create_schema(engine: Engine) -> None:
    """Create every table that does not exist yet."""
    Base.metadata.create_all(engine)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


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
