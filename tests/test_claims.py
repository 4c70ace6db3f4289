"""Claims: workers racing over the inbox, due steps and the outbox take each row once; on
PostgreSQL a row another worker holds is skipped (SKIP LOCKED), never waited for."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, event, select, text

from plugin.pipeline.delivery import deliver_pending
from plugin.pipeline.due_steps import run_due
from plugin.pipeline.inbox import process_inbox
from plugin.storage.models import Delivery, OutboxMessage, Step
from tests.support import payloads
from tests.support.clock import T0
from tests.support.fake_sendgrid import FakeSendGrid

CUSTOMERS = 60
WORKERS = 3


def _queue_customers(send_webhook, customers: int = CUSTOMERS) -> None:  # type: ignore[no-untyped-def]
    for n in range(customers):
        email = f"c{n}@example.com"
        send_webhook("customers_email_marketing_consent/update", payloads.consent(1000 + n, email))
        send_webhook(
            "checkouts/create", payloads.checkout(f"tok-{n}", T0, email=email, customer_id=1000 + n)
        )


def _race(work: Callable[[], object]) -> None:
    """Run ``work`` in WORKERS threads released at once; re-raise the first failure."""
    start, errors = threading.Barrier(WORKERS), []

    def worker() -> None:
        start.wait()
        try:
            work()
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_racing_workers_claim_every_row_exactly_once(send_webhook, services):
    _queue_customers(send_webhook)
    _race(lambda: process_inbox(services, T0, limit=7))  # small batches: more races
    with services.sessions() as session:
        deliveries = session.execute(select(Delivery.status, Delivery.attempts)).all()
    assert deliveries == [("processed", 1)] * (2 * CUSTOMERS)  # each claimed by one worker

    _race(lambda: run_due(services, T0 + timedelta(hours=4, minutes=5), limit=7))
    with services.sessions() as session:
        reminders = session.execute(
            select(Step.state, Step.reason).where(Step.step_id == "reminder")
        ).all()
        keys = session.scalars(select(OutboxMessage.idempotency_key)).all()
    assert reminders == [("fired", "conditions met")] * CUSTOMERS
    assert len(keys) == CUSTOMERS  # a step decided twice would have written a second row

    with FakeSendGrid() as sendgrid:
        services.settings.update(SENDGRID_API_KEY="SG.fake", SENDGRID_BASE_URL=sendgrid.url)
        _race(lambda: deliver_pending(services, T0 + timedelta(hours=4, minutes=6)))
    with services.sessions() as session:
        sent = session.execute(select(OutboxMessage.state, OutboxMessage.attempts)).all()
    assert sent == [("sent", 1)] * CUSTOMERS
    assert sorted(sendgrid.received) == sorted(keys)
    assert set(sendgrid.received.values()) == {1}


@pytest.fixture
def locker(services):  # type: ignore[no-untyped-def]
    """A second connection that holds row locks, as another worker's open claim would,
    while this worker's connections give up after 5 s rather than wait for a lock."""
    url = services.settings["DATABASE_URL"]
    if not url.startswith("postgresql"):
        pytest.skip("SKIP LOCKED is PostgreSQL's (CI's PostgreSQL pass runs this test)")
    services.engine.dispose()

    @event.listens_for(services.engine, "connect")
    def _no_waiting(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")
        dbapi_conn.commit()  # a SET in a transaction rolled back would be undone

    engine = create_engine(url)
    connection = engine.connect()
    yield connection
    connection.rollback()
    connection.close()
    engine.dispose()


def _lock(connection, table: str, row_id: int) -> None:  # type: ignore[no-untyped-def]
    connection.execute(text(f"SELECT id FROM {table} WHERE id = :id FOR UPDATE"), {"id": row_id})


def test_a_row_held_by_another_worker_is_skipped_not_waited_for(send_webhook, services, locker):
    _queue_customers(send_webhook, 5)
    with services.sessions() as session:
        first_delivery = session.scalars(select(Delivery.id).order_by(Delivery.id)).first()
    _lock(locker, "deliveries", first_delivery)
    stats = process_inbox(services, T0)  # would raise LockNotAvailable if it waited
    assert stats.processed == 9
    locker.rollback()
    process_inbox(services, T0)

    due = T0 + timedelta(hours=4, minutes=5)
    with services.sessions() as session:
        first_step = session.scalars(
            select(Step.id).where(Step.due_at <= due).order_by(Step.due_at, Step.id)
        ).first()
    _lock(locker, "steps", first_step)
    assert run_due(services, due).fired == 4
    with services.sessions() as session:
        assert session.get_one(Step, first_step).state == "pending"
    locker.rollback()
    assert run_due(services, due).fired == 1

    with services.sessions() as session:
        first_message = session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)).first()
    _lock(locker, "outbox", first_message)
    with FakeSendGrid() as sendgrid:
        services.settings.update(SENDGRID_API_KEY="SG.fake", SENDGRID_BASE_URL=sendgrid.url)
        assert deliver_pending(services, due).sent == 4
        with services.sessions() as session:
            assert session.get_one(OutboxMessage, first_message).state == "pending"
        locker.rollback()
        assert deliver_pending(services, due).sent == 1
    assert set(sendgrid.received.values()) == {1} and len(sendgrid.received) == 5
