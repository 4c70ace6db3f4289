"""On SQLite, number a flush's new rows before it, so each table's go in one executemany.

The unit of work needs every new row's id back. With the ids left to the database it
inserts the rows one statement each (SQLite returns one id per INSERT); with them set, it
sends a table's rows in one executemany. The ids given are the ones SQLite would give:
an ``INTEGER PRIMARY KEY`` without AUTOINCREMENT takes one above the table's largest id,
and the unit of work inserts a table's new rows in the order they were added, which is
the order they are numbered in here.

Only in a transaction that has written already, so holds SQLite's one write lock: no
other connection can insert between reading the largest id and the inserts. (In one that
has only read, the read would begin a snapshot, and a write after another connection's
commit would fail at once instead of waiting for the lock.) The inbox and due-step
stages begin with their claim, a write, so every flush of theirs is numbered.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, inspect, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.state import InstanceState
from sqlalchemy.sql.schema import Table


def number_new_rows(sessions: sessionmaker[Session]) -> None:
    """Number new rows before every flush of these sessions (SQLite engines only)."""
    event.listen(sessions, "before_flush", _number)


def _number(session: Session, _context: Any, _instances: Any) -> None:
    """Give the flush's new rows their ids, where a table has more than one of them."""
    by_table: dict[Table, list[InstanceState[Any]]] = {}
    for obj in session.new:
        state: InstanceState[Any] = inspect(obj)
        table = _numbered_table(state)
        if table is not None and state.dict.get("id") is None:
            by_table.setdefault(table, []).append(state)
    if not any(len(states) > 1 for states in by_table.values()):
        return  # one row is one INSERT either way
    connection = session.connection()
    if not connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        return  # nothing written yet: no write lock held (pysqlite begins before a write)
    for table, states in by_table.items():
        if len(states) < 2:
            continue
        largest = connection.scalar(select(func.max(table.c.id))) or 0
        for number, state in enumerate(sorted(states, key=_insert_order), start=largest + 1):
            state.obj().id = number


def _numbered_table(state: InstanceState[Any]) -> Table | None:
    """The table of a mapped class whose only key is an integer ``id``; None otherwise."""
    mapper = state.mapper
    keys = mapper.primary_key
    if len(keys) != 1 or keys[0].name != "id" or not isinstance(mapper.local_table, Table):
        return None
    return mapper.local_table


def _insert_order(state: InstanceState[Any]) -> int:
    return state.insert_order or 0
