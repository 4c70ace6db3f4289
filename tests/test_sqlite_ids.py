"""New rows numbered before a flush on SQLite (plugin.storage.sqlite_ids): the ids SQLite would
give, each table's rows in one executemany, and only where the write lock is held."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select, update

from plugin.services import Services
from plugin.storage.models import CustomerRow


@pytest.fixture(autouse=True)
def _sqlite_only(services: Services) -> None:
    if services.engine.dialect.name != "sqlite":
        pytest.skip("numbering new rows before a flush is for SQLite (plugin.storage.sqlite_ids)")


@contextmanager
def customer_inserts(services: Services) -> Iterator[list[int]]:
    """The rows of each INSERT INTO customers statement run inside the block."""
    seen: list[int] = []

    def record(_conn, _cursor, statement, parameters, _context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO customers"):
            many = executemany and isinstance(parameters[0], (tuple, list, dict))
            seen.append(len(parameters) if many else 1)  # else one row's values

    event.listen(services.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(services.engine, "before_cursor_execute", record)


def add_customers(session, shop_id: int, *keys: str) -> list[CustomerRow]:  # type: ignore[no-untyped-def]
    rows = [CustomerRow(shop_id=shop_id, external_id=key) for key in keys]
    session.add_all(rows)
    return rows


def test_after_a_write_a_flush_inserts_its_new_rows_numbered_in_one_statement(services, shop):
    with services.sessions() as session, session.begin():
        add_customers(session, shop.id, "c-1", "c-2", "c-3")
    with services.sessions() as session, session.begin():
        # the largest id goes: SQLite's next is one above the largest left, not a new one
        session.execute(update(CustomerRow).where(CustomerRow.external_id == "c-1").values(tags=[]))
        session.delete(session.scalars(select(CustomerRow).filter_by(external_id="c-3")).one())
    with services.sessions() as session:
        largest = max(session.scalars(select(CustomerRow.id)))

    with customer_inserts(services) as inserts, services.sessions() as session, session.begin():
        # a write first, as the inbox and due-step stages begin with their claims
        session.execute(
            update(CustomerRow).where(CustomerRow.external_id == "c-1").values(tags=["a"])
        )
        rows = add_customers(session, shop.id, "c-4", "c-5", "c-6")
        session.flush()
        numbered = [row.id for row in rows]
    assert numbered == [largest + 1, largest + 2, largest + 3]  # in the order they were added
    assert inserts == [3]  # one executemany, not an INSERT per row
    with services.sessions() as session:
        stored = dict(session.execute(select(CustomerRow.external_id, CustomerRow.id)).all())
    assert [stored[key] for key in ("c-4", "c-5", "c-6")] == numbered


def test_before_any_write_the_rows_are_left_for_sqlite_to_number(services, shop):
    with services.sessions() as session, session.begin():
        add_customers(session, shop.id, "c-1")
    with services.sessions() as session:
        largest = max(session.scalars(select(CustomerRow.id)))

    with customer_inserts(services) as inserts, services.sessions() as session, session.begin():
        session.scalars(select(CustomerRow)).all()  # a read only: no write lock held
        rows = add_customers(session, shop.id, "c-2", "c-3")
        session.flush()
        numbered = [row.id for row in rows]
    assert inserts == [1, 1]  # one INSERT each, SQLite numbering them
    assert numbered == [largest + 1, largest + 2]
