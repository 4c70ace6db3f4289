"""Fact rows merged as plain records are written as the ORM would have written its objects:
at commit, before a statement that reads or changes their tables, never after a rollback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, update

from plugin.storage import facts_store
from plugin.storage.batch import Batch
from plugin.storage.db import create_schema, make_engine, make_sessionmaker
from plugin.storage.facts_store import batch_rows, merging
from plugin.storage.models import CheckoutRow, CustomerRow, OrderRow, Shop
from rules import events as ev
from rules.events import Event
from rules.facts import Checkout, Customer, Engagement, Order

T = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    create_schema(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as session, session.begin():
        session.add(Shop(id=1, domain="s.myshopify.com", settings={}))
    yield engine, sessions
    engine.dispose()


def customer(**values):  # type: ignore[no-untyped-def]
    return Event(ev.CUSTOMER_UPSERTED, customer=Customer(**values))


def statements_of(engine):  # type: ignore[no-untyped-def]
    """The SQL each cursor execution sends, in order."""
    sent: list[str] = []

    def listen(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        sent.append(statement)

    sa_event.listen(engine, "before_cursor_execute", listen)
    return sent, lambda: sa_event.remove(engine, "before_cursor_execute", listen)


def test_merged_rows_are_written_at_commit_with_their_defaults(store):  # type: ignore[no-untyped-def]
    _engine, sessions = store
    with sessions() as session, session.begin():
        facts_store.apply_event(
            Batch.of(session), 1, customer(id="c1", email=" Ann@Example.com", updated_at=T)
        )
        # a fulfilment before its order: only what it says, the rest the model's defaults
        facts_store.apply_event(
            Batch.of(session), 1, Event(ev.ORDER_FULFILLED, order=Order(id="o1", fulfilled_at=T))
        )
    with sessions() as session:
        row = session.scalars(select(CustomerRow)).one()
        assert (row.external_id, row.email, row.updated_at) == ("c1", "ann@example.com", T)
        # no tags known: SQL NULL, as an ORM object never given tags wrote it (not 'null')
        assert session.scalar(select(func.count()).where(CustomerRow.tags.is_(None))) == 1
        order = session.scalars(select(OrderRow)).one()
        assert (order.fulfilled_at, order.value, order.items, order.refunded) == (
            T,
            Decimal("0"),
            [],
            False,
        )


def test_a_changed_row_is_updated_by_its_key_in_the_columns_that_changed(store):  # type: ignore[no-untyped-def]
    engine, sessions = store
    with sessions() as session, session.begin():
        facts_store.apply_event(
            Batch.of(session), 1, customer(id="c1", first_name="Ann", updated_at=T)
        )
    sent, stop = statements_of(engine)
    try:
        with sessions() as session, session.begin():
            # the same name again, and a later update that names the last name only
            later = T + timedelta(hours=1)
            facts_store.apply_event(
                Batch.of(session), 1, customer(id="c1", first_name="Ann", updated_at=T)
            )
            facts_store.apply_event(
                Batch.of(session), 1, customer(id="c1", last_name="Lee", updated_at=later)
            )
    finally:
        stop()
    updates = [s for s in sent if s.lstrip().upper().startswith("UPDATE CUSTOMERS")]
    assert len(updates) == 1
    assert "last_name" in updates[0] and "updated_at" in updates[0]
    assert "first_name" not in updates[0] and "email" not in updates[0]
    with sessions() as session:
        row = session.scalars(select(CustomerRow)).one()
        assert (row.first_name, row.last_name, row.updated_at) == ("Ann", "Lee", later)


def test_nothing_is_written_for_rows_read_and_left_as_they_were(store):  # type: ignore[no-untyped-def]
    engine, sessions = store
    with sessions() as session, session.begin():
        facts_store.apply_event(
            Batch.of(session), 1, customer(id="c1", first_name="Ann", updated_at=T)
        )
    sent, stop = statements_of(engine)
    try:
        with sessions() as session, session.begin():
            facts_store.apply_event(
                Batch.of(session), 1, customer(id="c1", first_name="Ann", updated_at=T)
            )
    finally:
        stop()
    assert not [s for s in sent if s.lstrip().upper().startswith(("UPDATE", "INSERT"))]


def test_a_query_of_the_table_sees_what_the_transaction_merged(store):  # type: ignore[no-untyped-def]
    _engine, sessions = store
    with sessions() as session, session.begin():
        facts_store.apply_event(Batch.of(session), 1, customer(id="c1", email="ann@example.com"))
        # as the ORM's autoflush: written before a statement that reads customers
        assert facts_store.find_customer_by_email(session, 1, "Ann@example.com") == "c1"
        facts_store.apply_event(Batch.of(session), 1, customer(id="c2", email="bo@example.com"))
        with session.no_autoflush:  # and, as it, not under no_autoflush
            assert facts_store.find_customer_by_email(session, 1, "bo@example.com") is None
        assert facts_store.find_customer_by_email(session, 1, "bo@example.com") == "c2"


def test_a_statement_that_changes_the_table_follows_what_was_merged(store):  # type: ignore[no-untyped-def]
    _engine, sessions = store
    with sessions() as session, session.begin():
        facts_store.apply_event(Batch.of(session), 1, customer(id="c1", email="ann@example.com"))
        with session.no_autoflush:  # even here: else the row would not exist to update
            session.execute(
                update(CustomerRow).where(CustomerRow.external_id == "c1").values(timezone="UTC")
            )
    with sessions() as session:
        assert session.scalars(select(CustomerRow.timezone)).one() == "UTC"


def test_an_unsubscribe_reaches_the_record_the_transaction_holds(store):  # type: ignore[no-untyped-def]
    _engine, sessions = store
    with sessions() as session, session.begin():
        facts_store.apply_event(
            Batch.of(session), 1, customer(id="c1", email="ann@example.com", accepts_marketing=True)
        )
        facts_store.apply_event(
            Batch.of(session),
            1,
            Event(
                ev.EMAIL_SUPPRESSED,
                engagement=Engagement(kind="unsubscribe", email="ann@example.com", occurred_at=T),
            ),
        )
        merged = facts_store.load_customer(Batch.of(session), 1, "c1")
        assert merged is not None and merged.accepts_marketing is False
        # a later merge of the same record must not put the consent back by writing it
        facts_store.apply_event(Batch.of(session), 1, customer(id="c1", first_name="Ann"))
    with sessions() as session:
        row = session.scalars(select(CustomerRow)).one()
        assert (row.accepts_marketing, row.unsubscribed_at, row.first_name) == (False, T, "Ann")


def test_a_rollback_forgets_what_was_merged(store):  # type: ignore[no-untyped-def]
    _engine, sessions = store
    with sessions() as session:
        with pytest.raises(RuntimeError), session.begin():
            facts_store.apply_event(
                Batch.of(session), 1, customer(id="c1", email="ann@example.com")
            )
            raise RuntimeError("the batch failed")
        assert Batch.current(session) is None  # gone with its transaction, records and all
        with session.begin():  # the same session's next transaction writes nothing of it
            facts_store.apply_event(Batch.of(session), 1, customer(id="c2", email="bo@example.com"))
    with sessions() as session:
        assert session.scalars(select(CustomerRow.external_id)).all() == ["c2"]


def test_one_key_is_one_record_however_it_was_found(store):  # type: ignore[no-untyped-def]
    _engine, sessions = store
    placed = Order(id="o1", customer_id="c1", checkout_token="k1", created_at=T, updated_at=T)
    with sessions() as session, session.begin():
        facts_store.apply_event(Batch.of(session), 1, Event(ev.ORDER_PLACED, order=placed))
    with sessions() as session, session.begin():
        batch = Batch.of(session)
        order = batch_rows.by_key(batch, OrderRow, 1, "external_id", "o1")
        order.name = "#1001"  # changed, not written yet
        # found again by its checkout token: the same record, change and all
        batch_rows.prefetch_completing_orders(batch, 1, {"k1"})
        assert merging._order_completing(batch, 1, "k1") is order
        checkout = Checkout(token="k1", customer_id="c1", email="ann@example.com", updated_at=T)
        facts_store.apply_event(Batch.of(session), 1, Event(ev.CHECKOUT_UPDATED, checkout=checkout))
    with sessions() as session:
        stored = session.scalars(select(CheckoutRow)).one()
        assert (stored.completed_at, stored.order_external_id) == (T, "o1")
        assert session.scalars(select(OrderRow.name)).one() == "#1001"


def test_a_flush_writes_what_was_merged_for_the_sessions_connection_to_see(store):  # type: ignore[no-untyped-def]
    """``session.flush()`` writes the records as it writes ORM objects: a statement on the
    session's connection then sees them as one through the session does."""
    _engine, sessions = store
    customers = select(func.count()).select_from(CustomerRow)
    shops = select(func.count()).select_from(Shop)
    with sessions() as session, session.begin():
        facts_store.apply_event(Batch.of(session), 1, customer(id="c1", email="ann@example.com"))
    with sessions() as session, session.begin():
        batch = Batch.of(session)
        facts_store.apply_event(batch, 1, customer(id="c1", timezone="Europe/Paris"))
        facts_store.apply_event(batch, 1, customer(id="c2", email="bo@example.com"))
        session.add(Shop(id=2, domain="t.myshopify.com", settings={}))  # an ORM object, alike
        session.flush()
        connection = session.connection()
        assert connection.execute(customers).scalar() == session.execute(customers).scalar() == 2
        assert connection.execute(shops).scalar() == 2
        paris = select(CustomerRow.external_id).where(CustomerRow.timezone == "Europe/Paris")
        assert connection.execute(paris).scalars().all() == ["c1"]


def test_a_new_rows_id_is_the_one_the_database_gave_it(store):  # type: ignore[no-untyped-def]
    _engine, sessions = store
    with sessions() as session, session.begin():
        batch = Batch.of(session)
        facts_store.apply_event(batch, 1, customer(id="c1", email="ann@example.com"))
        record = batch_rows.by_key(batch, CustomerRow, 1, "external_id", "c1")
        given = record.id  # asked before the row is written: written first
        stored = session.scalar(select(CustomerRow.id).where(CustomerRow.external_id == "c1"))
        assert given is not None and given == stored
