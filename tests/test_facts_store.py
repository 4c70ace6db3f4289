"""The facts store converges whatever order deliveries come in, and reads back as facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event as sa_event
from sqlalchemy import select

from plugin.storage import facts_store
from plugin.storage.batch import Batch
from plugin.storage.models import CheckoutRow, CustomerRow, OrderRow, OutboxMessage
from rules import events as ev
from rules.events import Event
from rules.facts import Checkout, Customer, Engagement, LineItem, Order
from tests.support.database import fresh_store

T = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


HISTORY = [
    Event(
        ev.CUSTOMER_UPSERTED,
        customer=Customer(
            id="c1",
            email="Ann@Example.com",
            first_name="Ann",
            created_at=T - timedelta(days=90),
            updated_at=T - timedelta(days=90),
        ),
    ),
    Event(
        ev.CUSTOMER_UPSERTED,
        customer=Customer(id="c1", first_name="Annie", updated_at=T - timedelta(days=1)),
    ),
    Event(
        ev.CONSENT_CHANGED,
        customer=Customer(
            id="c1", accepts_marketing=True, consent_updated_at=T - timedelta(days=80)
        ),
    ),
    Event(
        ev.CONSENT_CHANGED,
        customer=Customer(
            id="c1", accepts_marketing=False, consent_updated_at=T - timedelta(days=5)
        ),
    ),
    Event(
        ev.CHECKOUT_UPDATED,
        checkout=Checkout(
            token="k1",
            customer_id="c1",
            email="ann@example.com",
            value=Decimal("20"),
            created_at=T - timedelta(days=2),
            updated_at=T - timedelta(days=2),
        ),
    ),
    Event(
        ev.CHECKOUT_UPDATED,
        checkout=Checkout(
            token="k1",
            customer_id="c1",
            email="ann@example.com",
            value=Decimal("45"),
            items=(LineItem(title="Beans", price=Decimal("45")),),
            created_at=T - timedelta(days=2),
            updated_at=T - timedelta(days=2, hours=-1),
        ),
    ),
    Event(
        ev.ORDER_PLACED,
        order=Order(
            id="o1",
            customer_id="c1",
            email="ann@example.com",
            checkout_token="k1",
            value=Decimal("45"),
            created_at=T - timedelta(days=2, hours=-2),
            updated_at=T - timedelta(days=2, hours=-2),
        ),
    ),
    Event(ev.ORDER_FULFILLED, order=Order(id="o1", fulfilled_at=T - timedelta(days=1))),
    Event(
        ev.ORDER_UPDATED,
        order=Order(
            id="o1",
            customer_id="c1",
            checkout_token="k1",
            value=Decimal("45"),
            refunded=True,
            financial_status="refunded",
            created_at=T - timedelta(days=2, hours=-2),
            updated_at=T - timedelta(hours=3),
        ),
    ),
    Event(
        ev.ORDER_PLACED,
        order=Order(
            id="o0",
            customer_id="c1",
            value=Decimal("30"),
            created_at=T - timedelta(days=32),
            updated_at=T - timedelta(days=32),
        ),
    ),
    Event(ev.TAGS_ADDED, customer=Customer(id="c1"), data={"tags": ["vip"]}),
]


def state(sessions) -> dict:  # type: ignore[no-untyped-def]
    with sessions() as session:
        customer = session.scalars(select(CustomerRow)).one()
        checkout = session.scalars(select(CheckoutRow)).one()
        orders = {o.external_id: o for o in session.scalars(select(OrderRow))}
        return {
            "customer": (
                customer.email,
                customer.first_name,
                customer.accepts_marketing,
                customer.tags,
                customer.orders_count,
                customer.total_spent,
                customer.last_order_at,
                customer.mean_days_between_orders,
                customer.expected_reorder_at,
            ),
            "checkout": (
                checkout.value,
                checkout.items,
                checkout.completed_at,
                checkout.order_external_id,
            ),
            "orders": {
                k: (o.value, o.refunded, o.fulfilled_at, o.financial_status, o.created_at, o.items)
                for k, o in sorted(orders.items())
            },
        }


def apply_all(sessions, events) -> None:  # type: ignore[no-untyped-def]
    for event in events:
        with sessions() as session, session.begin():
            facts_store.apply_event(Batch.of(session), 1, event)


def test_in_order_history_gives_the_expected_facts():
    sessions = fresh_store()
    apply_all(sessions, HISTORY)
    got = state(sessions)
    email, first_name, consent, tags, count, spent, last, mean, expected = got["customer"]
    assert (email, first_name, consent, tags, count) == (
        "ann@example.com",
        "Annie",
        False,
        ["vip"],
        2,
    )
    assert spent == Decimal("75.00") and last == T - timedelta(days=2, hours=-2)
    assert mean == 30.083333333333332 and expected == last + timedelta(days=mean)
    value, items, completed, order_id = got["checkout"]
    assert (value, completed, order_id) == (Decimal("45.00"), T - timedelta(days=2, hours=-2), "o1")
    assert got["orders"]["o1"][:4] == (Decimal("45.00"), True, T - timedelta(days=1), "refunded")


@settings(max_examples=60, deadline=None)
@given(
    order=st.permutations(list(range(len(HISTORY)))),
    repeats=st.lists(st.integers(0, len(HISTORY) - 1), max_size=4),
)
def test_any_delivery_order_with_repeats_converges(order, repeats):
    expected_store, shuffled_store = fresh_store(), fresh_store()
    apply_all(expected_store, HISTORY)
    apply_all(shuffled_store, [HISTORY[i] for i in list(order) + repeats])
    assert state(shuffled_store) == state(expected_store)


@settings(max_examples=40, deadline=None)
@given(
    order=st.permutations(list(range(len(HISTORY)))),
    stored=st.integers(0, len(HISTORY) - 1),
)
def test_one_prefetched_batch_merges_as_one_transaction_per_event_does(order, stored):
    """The inbox applies a batch in one transaction, its rows loaded up front; after the
    first ``stored`` events are in, the rest as one batch must give what applying each
    event alone gives."""
    events = [HISTORY[i] for i in order]
    alone, batched = fresh_store(), fresh_store()
    apply_all(alone, events)
    apply_all(batched, events[:stored])
    with batched() as session, session.begin():
        facts_store.prefetch(Batch.of(session), 1, events[stored:])
        for event in events[stored:]:
            facts_store.apply_event(Batch.of(session), 1, event)
    assert state(batched) == state(alone)


def test_reading_back_as_facts_and_suppression_scopes():
    sessions = fresh_store()
    apply_all(sessions, HISTORY)
    with sessions() as session, session.begin():
        customer = facts_store.load_customer(Batch.of(session), 1, "c1")
        assert (
            customer is not None
            and customer.tags == ("vip",)
            and customer.accepts_marketing is False
        )
        checkout = facts_store.load_checkout(Batch.of(session), 1, "k1")
        assert checkout is not None and checkout.items[0] == LineItem(
            title="Beans", price=Decimal("45")
        )
        assert [o.id for o in facts_store.load_orders(session, 1, "c1")] == ["o1", "o0"]
        assert facts_store.find_customer_by_email(session, 1, " ANN@example.com") == "c1"
        facts_store.apply_event(
            Batch.of(session),
            1,
            Event(ev.EMAIL_SUPPRESSED, engagement=Engagement("unsubscribe", "ann@example.com", T)),
        )
        facts_store.apply_event(
            Batch.of(session),
            1,
            Event(ev.EMAIL_SUPPRESSED, engagement=Engagement("bounce", "bob@example.com", T)),
        )
    with sessions() as session:
        assert facts_store.is_suppressed(session, 1, "ann@example.com", "marketing")
        assert not facts_store.is_suppressed(
            session, 1, "ann@example.com", "all"
        )  # transactional still allowed
        assert facts_store.is_suppressed(session, 1, "bob@example.com", "marketing")
        assert facts_store.is_suppressed(session, 1, "bob@example.com", "all")


def test_engagement_is_recorded_once_and_moves_activity():
    sessions = fresh_store()
    apply_all(sessions, HISTORY)
    click = Event(
        ev.EMAIL_ENGAGED,
        engagement=Engagement("click", "ann@example.com", T),
        data={"sg_event_id": "sg-1"},
    )
    apply_all(sessions, [click, click])
    with sessions() as session:
        customer = session.scalars(select(CustomerRow)).one()
        assert customer.last_engaged_at == T and customer.last_activity_at == T


def test_a_batch_finds_the_stored_orders_its_checkouts_were_completed_by():
    """The order came in an earlier batch; the checkout it completes (by checkout token, or
    a cart by its cart token) arrives now: the batch finds each order among the rows it
    prefetched, with no query per checkout."""
    sessions = fresh_store()
    placed = T - timedelta(hours=5)
    apply_all(
        sessions,
        [
            Event(ev.ORDER_PLACED, order=Order(id="o1", checkout_token="k1", created_at=placed)),
            Event(ev.ORDER_PLACED, order=Order(id="o2", cart_token="cart9", created_at=placed)),
        ],
    )
    checkouts = [
        Checkout(token="k1", updated_at=T - timedelta(hours=6)),
        Checkout(token="cart9", is_cart=True, updated_at=T - timedelta(hours=6)),
        Checkout(token="k3", updated_at=T - timedelta(hours=6)),  # no order yet
    ]
    engine = sessions.kw["bind"]
    queries: list[str] = []
    with sessions() as session, session.begin():
        events = [Event(ev.CHECKOUT_UPDATED, checkout=c) for c in checkouts]
        facts_store.prefetch(Batch.of(session), 1, events)
        listen = lambda *args: queries.append(args[2])  # noqa: E731
        sa_event.listen(engine, "before_cursor_execute", listen)
        for one in events:
            facts_store.apply_event(Batch.of(session), 1, one)
        sa_event.remove(engine, "before_cursor_execute", listen)
    assert not [q for q in queries if "FROM orders" in q]
    with sessions() as session:
        rows = {r.token: r for r in session.scalars(select(CheckoutRow))}
    assert (rows["k1"].completed_at, rows["k1"].order_external_id) == (placed, "o1")
    assert (rows["cart9"].completed_at, rows["cart9"].order_external_id) == (placed, "o2")
    assert (rows["k3"].completed_at, rows["k3"].order_external_id) == (None, None)


def _placed(
    order_id: str, value: str, days_ago: int, cancelled_days_ago: int | None = None
) -> Event:
    cancelled = T - timedelta(cancelled_days_ago) if cancelled_days_ago is not None else None
    order = Order(
        id=order_id,
        customer_id="c1",
        value=Decimal(value),
        created_at=T - timedelta(days_ago),
        cancelled_at=cancelled,
    )
    return Event(ev.ORDER_UPDATED if cancelled else ev.ORDER_PLACED, order=order)


def test_a_batch_counts_the_stored_orders_that_stand_and_not_the_cancelled():
    """Order stats in a batch come from the customer's stored orders read once for the
    batch, and the orders the batch itself holds: a cancelled one counts in neither."""
    sessions = fresh_store()
    apply_all(sessions, [_placed("o1", "10", 10), _placed("o2", "20", 5, cancelled_days_ago=4)])
    new_order = _placed("o3", "30", 1)
    with sessions() as session, session.begin():
        facts_store.prefetch(Batch.of(session), 1, [new_order])
        assert (1, "c1") in Batch.of(session).standing_orders  # read for the batch
        facts_store.apply_event(Batch.of(session), 1, new_order)
    with sessions() as session:
        customer = session.scalars(select(CustomerRow)).one()
        assert (customer.orders_count, customer.total_spent) == (2, Decimal("40"))
        assert customer.first_order_at == T - timedelta(10)
        assert customer.last_order_at == T - timedelta(1)


def test_the_last_email_counts_the_emails_queued_in_the_transaction():
    sessions = fresh_store()

    def queued(key: str, customer: str, at: datetime, **values: str) -> OutboxMessage:
        values = {"kind": "email", "workflow": "upsell", "category": "marketing", **values}
        values.setdefault("state", "pending")
        return OutboxMessage(
            shop_id=1, idempotency_key=key, customer_external_id=customer, created_at=at, **values
        )

    hour = timedelta(hours=1)
    with sessions() as session, session.begin():
        session.add(queued("a", "c1", T))
        session.add(queued("b", "c2", T + hour))  # another customer's
        session.add(queued("c", "c1", T + 2 * hour, kind="create_discount"))  # not an email
        session.add(queued("d", "c1", T + 3 * hour, state="cancelled"))  # not sent
        assert facts_store.last_email_at(Batch.of(session), 1, "c1", "marketing", "upsell") == (
            T,
            T,
        )
        session.flush()  # now in the table, and counted from there
        session.add(queued("e", "c1", T + 4 * hour, workflow="winback"))
        assert facts_store.last_email_at(Batch.of(session), 1, "c1", "marketing", "upsell") == (
            T + 4 * hour,
            T,
        )
        assert facts_store.last_email_at(Batch.of(session), 1, "c2") == (T + hour, None)
    with sessions() as session:
        with pytest.raises(RuntimeError), session.begin():
            session.add(queued("f", "c3", T))
            raise RuntimeError("the batch failed")
        with session.begin():  # the same session: what was rolled back was never queued
            assert facts_store.last_email_at(Batch.of(session), 1, "c3") == (None, None)
