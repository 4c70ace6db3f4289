"""Episodes enrolled, moved and ended within one inbox batch, before anything is flushed
(plugin.storage.batch_episodes): the same outcome as one delivery at a time, and one flush."""

from __future__ import annotations

import traceback
from datetime import timedelta

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from plugin.pipeline import enrollment
from plugin.pipeline.enrollment import Subject
from plugin.pipeline.inbox import process_inbox
from plugin.pipeline.worker import sweep_all
from plugin.shop_settings.workflows import shop_workflows
from plugin.storage import batch_episodes
from plugin.storage.batch import Batch
from plugin.storage.models import Episode, Shop, Step
from tests.support import payloads
from tests.support.clock import T0
from tests.support.shop import SHOP
from tests.support.workflows import subscribe


def test_a_checkout_enrolled_and_ordered_in_one_batch_ends_with_its_steps_cancelled(
    send_webhook, services
):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-b", T0))
    send_webhook(
        "checkouts/update", payloads.checkout("tok-b", T0 + timedelta(hours=1), created_at=T0)
    )
    send_webhook("orders/create", payloads.order(7200, T0, checkout_token="tok-b"))
    now = T0 + timedelta(hours=2)
    flushes_in_enrollment = []

    def record(session: Session, _context: object) -> None:
        if any(frame.filename == enrollment.__file__ for frame in traceback.extract_stack()):
            flushes_in_enrollment.append(session)

    event.listen(Session, "after_flush", record)
    try:
        stats = process_inbox(services, now)
    finally:
        event.remove(Session, "after_flush", record)
    assert (stats.processed, stats.failed) == (5, 0)
    assert flushes_in_enrollment == []  # none per enrollment, exit or move: the commit's
    with services.sessions() as session:
        [episode] = session.scalars(
            select(Episode).where(Episode.workflow == "cart_abandonment")
        ).all()  # the update found the episode the create had just started
        steps = session.execute(
            select(Step.state, Step.reason, Step.decided_at).where(Step.episode_id == episode.id)
        ).all()
    assert (episode.subject, episode.state) == ("tok-b", "exited")
    assert episode.exit_reason == "exit: order_placed"
    assert steps and set(steps) == {("cancelled", "exit: order_placed", now)}


def test_a_batch_moves_and_ends_stored_episodes_from_what_it_read_at_once(send_webhook, services):
    for customer_id, email in ((501, "ada@example.com"), (502, "bo@example.com")):
        send_webhook("customers/create", payloads.customer(customer_id, email))
        send_webhook(
            "customers_email_marketing_consent/update", payloads.consent(customer_id, email)
        )
    send_webhook(
        "checkouts/create", payloads.checkout("tok-s", T0, email="bo@example.com", customer_id=502)
    )
    send_webhook("checkouts/create", payloads.checkout("tok-t", T0))
    process_inbox(services, T0)  # both episodes stored, with their steps
    before = _first_due(services, "tok-s")

    later = T0 + timedelta(hours=1)
    send_webhook(
        "checkouts/update",
        payloads.checkout("tok-s", later, created_at=T0, email="bo@example.com", customer_id=502),
    )
    send_webhook("orders/create", payloads.order(7300, later, checkout_token="tok-t"))
    send_webhook(
        "checkouts/create",
        payloads.checkout("tok-u", later, email="bo@example.com", customer_id=502),
    )
    stats = process_inbox(services, later)  # one batch: its episodes read by enrollment.prefetch
    assert (stats.processed, stats.failed) == (3, 0)

    assert _first_due(services, "tok-s") == before + timedelta(hours=1)  # moved with the cart
    with services.sessions() as session:
        states = session.execute(
            select(Episode.subject, Episode.state)
            .where(Episode.workflow == "cart_abandonment")
            .order_by(Episode.subject)
        ).all()
        ended = session.execute(
            select(Step.state, Step.reason)
            .join(Episode, Episode.id == Step.episode_id)
            .where(Episode.subject == "tok-t")
        ).all()
    assert states == [("tok-s", "active"), ("tok-t", "exited"), ("tok-u", "active")]
    assert ended and set(ended) == {("cancelled", "exit: order_placed")}


def _first_due(services, subject: str):  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return session.scalar(
            select(Step.due_at)
            .join(Episode, Episode.id == Step.episode_id)
            .where(Episode.subject == subject, Step.position == 0)
        )


def test_without_a_prefetch_lookups_see_what_the_session_enrolled_and_has_not_flushed(
    services, shop
):
    """A sweep or a storefront request enrolls without a batch's prefetch."""
    with services.sessions() as session:
        batch = Batch.of(session)
        row = session.get_one(Shop, shop.id)
        cart = shop_workflows(session, row.id)["cart_abandonment"]
        subject = Subject(key="tok-x", customer_key="501", anchors={}, activity_at=T0)
        episode = enrollment.enroll(batch, row, cart, subject, T0)
        assert episode is not None and episode.id is None  # waiting for the flush
        for flushed in (False, True):
            assert batch_episodes.active_of_customers(
                batch, row.id, {"501"}, {"cart_abandonment"}
            ) == [episode]
            assert batch_episodes.active_of_subjects(batch, row.id, {"tok-x"}, None) == [episode]
            assert batch_episodes.newest(batch, row.id, "cart_abandonment", "tok-x") is episode
            assert enrollment.enroll(batch, row, cart, subject, T0) is None  # it is running
            if not flushed:
                session.flush()
                assert episode.id is not None


def test_a_batch_credits_an_order_only_to_what_messaged_its_buyer_in_the_week_before_it(
    send_webhook, services, at
):
    subscribe(send_webhook)
    ordered = T0 - timedelta(days=7) + timedelta(hours=3)
    send_webhook("orders/create", payloads.order(7100, ordered))
    at(ordered)
    at(T0 + timedelta(hours=3, minutes=1))  # the upsell about order 7100 goes out
    with services.sessions() as session:
        [messaged] = session.scalars(
            select(Step.decided_at)
            .join(Episode, Episode.id == Step.episode_id)
            .where(Episode.workflow == "upsell", Step.state == "fired")
        ).all()

    # Its own order, delivered again as if placed a day after the email: not a conversion.
    again = messaged + timedelta(days=1)
    send_webhook("orders/create", payloads.order(7100, again))
    process_inbox(services, again)
    # One batch reads the episodes messaged in the weeks before all its orders; each order
    # still counts only its own week: one placed 9 days after the email, and one placed
    # before it (delivered late).
    late = messaged + timedelta(days=9)
    send_webhook("orders/create", payloads.order(7101, late))
    send_webhook("orders/create", payloads.order(7102, messaged - timedelta(hours=1)))
    process_inbox(services, late)
    assert _upsell_conversion(services) is None

    # A week the batch did not read is asked of the database.
    with services.sessions() as session:
        shop_id = session.scalar(select(Shop.id))
        read = (late, late + timedelta(days=1))
        batch = Batch.of(session)
        batch_episodes.prefetch(batch, shop_id, {"501"}, (), read)
        assert batch_episodes.touched_before_order(
            batch, shop_id, {"501"}, "7199", messaged - timedelta(days=1), messaged
        ) == [_upsell(session)]

    credited = messaged + timedelta(days=2)
    send_webhook("orders/create", payloads.order(7103, credited))
    process_inbox(services, late)
    assert _upsell_conversion(services) == credited


def _upsell(session):  # type: ignore[no-untyped-def]
    return session.scalars(
        select(Episode).where(Episode.workflow == "upsell", Episode.subject == "7100")
    ).one()


def _upsell_conversion(services):  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return session.scalar(
            select(Episode.converted_at).where(
                Episode.workflow == "upsell", Episode.subject == "7100"
            )
        )


def test_a_batch_cancels_the_stored_steps_of_the_episodes_it_ends_in_one_statement(
    send_webhook, services
):
    for customer_id, email in ((501, "ada@example.com"), (502, "bo@example.com")):
        send_webhook("customers/create", payloads.customer(customer_id, email))
        send_webhook(
            "customers_email_marketing_consent/update", payloads.consent(customer_id, email)
        )
        token = f"tok-{customer_id}"
        send_webhook(
            "checkouts/create", payloads.checkout(token, T0, email=email, customer_id=customer_id)
        )
    process_inbox(services, T0)  # two stored episodes, with their pending steps

    later = T0 + timedelta(hours=1)
    send_webhook("orders/create", payloads.order(7501, later, checkout_token="tok-501"))
    send_webhook("orders/create", payloads.order(7502, later, checkout_token="tok-502"))
    cancels = _statements_run(services, lambda: process_inbox(services, later), "UPDATE steps")
    cancels = [rows for statement, rows in cancels if "WHERE steps.episode_id =" in statement]

    assert cancels == [2]  # both episodes' steps, in one executemany at the batch's end
    for token in ("tok-501", "tok-502"):
        assert _step_outcomes(services, token) == {("cancelled", "exit: order_placed", later)}


def test_steps_a_batch_ended_are_cancelled_before_a_lifecycle_topic_later_in_it(
    send_webhook, services
):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-b", T0))
    process_inbox(services, T0)

    later = T0 + timedelta(hours=1)
    send_webhook("orders/create", payloads.order(7200, later, checkout_token="tok-b"))
    send_webhook("app/uninstalled", {"id": 1, "name": "Test shop", "domain": SHOP})
    stats = process_inbox(services, later)  # one batch: the order, then the uninstall

    assert (stats.processed, stats.failed) == (2, 0)
    # ended by the order, as when each delivery is its own transaction; not by the uninstall
    assert _step_outcomes(services, "tok-b") == {("cancelled", "exit: order_placed", later)}


def _step_outcomes(services, subject: str):  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        outcomes = session.execute(
            select(Step.state, Step.reason, Step.decided_at)
            .join(Episode, Episode.id == Step.episode_id)
            .where(Episode.subject == subject)
        ).all()
    assert outcomes
    return set(outcomes)


def test_a_batch_reads_the_steps_its_events_move_at_once_and_moves_them_again(
    send_webhook, services
):
    carts = {501: ("ada@example.com", "tok-501"), 502: ("bo@example.com", "tok-502")}
    for customer_id, (email, token) in carts.items():
        send_webhook("customers/create", payloads.customer(customer_id, email))
        send_webhook(
            "customers_email_marketing_consent/update", payloads.consent(customer_id, email)
        )
        send_webhook(
            "checkouts/create", payloads.checkout(token, T0, email=email, customer_id=customer_id)
        )
    process_inbox(services, T0)
    before = {token: _first_due(services, token) for _email, token in carts.values()}

    # one batch: both carts updated an hour on, the first again an hour after that
    for customer_id, hours in ((501, 1), (502, 1), (501, 2)):
        email, token = carts[customer_id]
        send_webhook(
            "checkouts/update",
            payloads.checkout(
                token,
                T0 + timedelta(hours=hours),
                created_at=T0,
                email=email,
                customer_id=customer_id,
            ),
        )
    passes = []
    reads = _statements_run(
        services,
        lambda: passes.append(process_inbox(services, T0 + timedelta(hours=2))),
        "SELECT steps.episode_id, steps.id, steps.step_id",
    )

    assert [(p.processed, p.failed) for p in passes] == [(3, 0)]
    assert len(reads) == 1  # with the batch's other reads, not one per event
    assert _first_due(services, "tok-501") == before["tok-501"] + timedelta(hours=2)
    assert _first_due(services, "tok-502") == before["tok-502"] + timedelta(hours=1)


def test_a_sweep_reads_the_episodes_of_the_customers_it_found_at_once(send_webhook, services):
    lapsed = range(601, 606)
    for customer_id in lapsed:
        email = f"c{customer_id}@example.com"
        send_webhook("customers/create", payloads.customer(customer_id, email))
        ordered = T0 - timedelta(days=120)
        send_webhook(
            "orders/create",
            payloads.order(customer_id, ordered, customer_id=customer_id, email=email),
        )
    process_inbox(services, T0)
    enrolled = []
    reads = _statements_run(
        services, lambda: enrolled.append(sweep_all(services, T0)), "SELECT episodes.id"
    )

    assert enrolled == [len(lapsed)]  # each lapsed customer into re-engagement, once
    assert len(reads) == 2  # their active and newest episodes, not a read for each
    assert sweep_all(services, T0 + timedelta(days=1)) == 0


def _statements_run(services, work, beginning: str) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    """The statements beginning so that ``work`` ran, each with its rows of parameters."""
    statements: list[tuple[str, int]] = []

    def record(_conn, _cursor, statement, parameters, _context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith(beginning):
            statements.append((statement, len(parameters) if executemany else 1))

    event.listen(services.engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        event.remove(services.engine, "before_cursor_execute", record)
    return statements
