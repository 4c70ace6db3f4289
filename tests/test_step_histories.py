"""A batch's prefetched histories (plugin.pipeline.step_histories) answer as the database does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from plugin.pipeline import step_histories
from plugin.storage import facts_store
from plugin.storage.batch import Batch
from plugin.storage.models import CustomerRow, OrderRow, OutboxMessage, Suppression
from tests.support.database import fresh_store

T = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
GUEST = "email:guest@example.com"
CUSTOMERS = ["c1", "c2", "c3", GUEST]


def _store():  # type: ignore[no-untyped-def]
    sessions = fresh_store()  # shop 1
    with sessions() as session, session.begin():
        session.add_all(
            [
                CustomerRow(shop_id=1, external_id="c1", email="ann@example.com"),
                CustomerRow(shop_id=1, external_id="c2", email="bob@example.com"),
                CustomerRow(shop_id=1, external_id="c3"),  # no address
            ]
        )
        # more orders than a step reads (the newest 50), some at the same moment
        session.add_all(
            OrderRow(
                shop_id=1,
                external_id=f"o{n}",
                customer_external_id="c1",
                value=Decimal(n),
                created_at=T - timedelta(days=n // 3),
            )
            for n in range(60)
        )
        session.add(OrderRow(shop_id=1, external_id="b1", customer_external_id="c2"))
        session.add_all(
            [
                Suppression(shop_id=1, email="ann@example.com", scope="marketing", reason="u"),
                Suppression(shop_id=1, email="guest@example.com", scope="all", reason="bounce"),
                # no batch customer's address: asked about anyway (a checkout's own address)
                Suppression(shop_id=1, email="carol@example.com", scope="all", reason="bounce"),
            ]
        )
        for n, (customer, workflow, state, days) in enumerate(
            [
                ("c1", "winback", "sent", 9),
                ("c1", "cart_abandonment", "kept", 12),
                ("c1", "cart_abandonment", "failed", 1),  # never sent: does not count
                ("c2", "upsell", "pending", 3),
                (GUEST, "cart_abandonment", "sent", 2),
            ]
        ):
            session.add(_email(n, customer, workflow, state, T - timedelta(days=days)))
    return sessions


def _email(n: int, customer: str, workflow: str, state: str, at: datetime) -> OutboxMessage:
    return OutboxMessage(
        shop_id=1,
        idempotency_key=f"k{n}",
        kind="email",
        workflow=workflow,
        category="marketing",
        customer_external_id=customer,
        state=state,
        created_at=at,
    )


def _answers(batch, read_orders, read_suppressed, read_last):  # type: ignore[no-untyped-def]
    answers = {}
    for customer in CUSTOMERS:
        answers[customer] = (
            read_orders(batch, 1, customer) if not customer.startswith("email:") else (),
            read_last(batch, 1, customer, "marketing", "cart_abandonment"),
        )
    emails = ("ann@example.com", " Ann@Example.com", "guest@example.com", "carol@example.com")
    for email in (*emails, "x@example.com"):
        for scope in ("marketing", "all"):
            answers[(email, scope)] = read_suppressed(batch, 1, email, scope)
    return answers


def test_prefetched_histories_answer_as_the_database_does():
    sessions = _store()
    with sessions() as session:
        from_database = _answers(
            Batch.of(session),
            lambda batch, *args: facts_store.load_orders(batch.session, *args),
            lambda batch, *args: facts_store.is_suppressed(batch.session, *args),
            facts_store.last_email_at,
        )
    with sessions() as session:
        batch = Batch.of(session)
        facts_store.prefetch_keys(batch, 1, customers=CUSTOMERS)
        step_histories.prefetch(batch, 1, CUSTOMERS)
        held = batch.histories[1]
        assert set(held.orders) == {"c1", "c2", "c3"}  # read at once, not one by one
        assert set(held.suppressions) == {"ann@example.com", "bob@example.com", "guest@example.com"}
        prefetched = _answers(
            batch,
            step_histories.orders,
            step_histories.is_suppressed,
            step_histories.last_email_at,
        )
    assert prefetched == from_database
    c1_orders, (last_marketing, last_abandonment) = prefetched["c1"]
    assert len(c1_orders) == 50 and c1_orders[0].created_at == T
    assert (last_marketing, last_abandonment) == (T - timedelta(days=9), T - timedelta(days=12))
    assert prefetched[("ann@example.com", "marketing")] is True
    assert prefetched[("ann@example.com", "all")] is False  # transactional mail still goes
    assert prefetched[("guest@example.com", "all")] is True
    assert prefetched[("carol@example.com", "marketing")] is True  # not prefetched: asked


def test_emails_queued_in_the_batch_count_and_a_flush_drops_the_memo():
    sessions = _store()
    with sessions() as session, session.begin():
        batch = Batch.of(session)
        facts_store.prefetch_keys(batch, 1, customers=CUSTOMERS)
        step_histories.prefetch(batch, 1, CUSTOMERS)
        queued_at = T + timedelta(hours=1)
        session.add(_email(99, "c2", "cart_abandonment", "pending", queued_at))
        assert step_histories.last_email_at(batch, 1, "c2", "marketing", "cart_abandonment") == (
            queued_at,
            queued_at,
        )
        session.flush()  # the queued email is in the database now, no longer in session.new
        assert not batch.histories
        assert step_histories.last_email_at(batch, 1, "c2", "marketing", "cart_abandonment") == (
            queued_at,
            queued_at,
        )
        session.add(Suppression(shop_id=1, email="bob@example.com", scope="all", reason="b"))
        session.flush()
        assert step_histories.is_suppressed(batch, 1, "bob@example.com", "marketing")


def test_a_batch_of_due_steps_reads_the_checkouts_it_is_about_at_once(send_webhook, services, at):
    from sqlalchemy import event

    from plugin.pipeline.due_steps import run_due
    from tests.support import payloads
    from tests.support.clock import T0
    from tests.support.workflows import emails

    for n in (1, 2, 3):  # three customers: the frequency cap is per customer
        email = f"buyer{n}@example.com"
        send_webhook("customers/create", payloads.customer(600 + n, email))
        send_webhook("customers_email_marketing_consent/update", payloads.consent(600 + n, email))
        send_webhook(
            "checkouts/create", payloads.checkout(f"tok-{n}", T0, email=email, customer_id=600 + n)
        )
    at(T0)  # three episodes, their reminders due at the same time
    statements: list[str] = []
    record = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(services.engine, "before_cursor_execute", record)
    try:
        run_due(services, T0 + timedelta(days=1))
    finally:
        event.remove(services.engine, "before_cursor_execute", record)
    assert len(emails(services, "cart_abandonment")) == 3
    assert len([s for s in statements if "FROM checkouts" in s]) == 1  # not one per step
