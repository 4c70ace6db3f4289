"""The five core workflows end to end: signed webhooks in, decisions and outbox rows out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from plugin.storage.models import Episode, OutboxMessage, Shop, Step
from tests.support import payloads
from tests.support.clock import T0
from tests.support.workflows import emails, episodes, subscribe


def skipped(services, workflow: str) -> list[str]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return list(
            session.scalars(
                select(Step.reason)
                .join(Episode, Episode.id == Step.episode_id)
                .where(Episode.workflow == workflow, Step.state == "skipped")
            )
        )


# --- cart / checkout abandonment -------------------------------------------------------


def test_abandoned_checkout_gets_reminder_then_offer_once(send_webhook, services, at):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-1", T0))
    at(T0 + timedelta(hours=1))
    assert emails(services) == []
    at(T0 + timedelta(hours=4, minutes=1))
    [reminder] = emails(services, "cart_abandonment")
    assert reminder.template == "cart_reminder"
    assert reminder.to_email == "ada@example.com"
    assert reminder.state == "kept"  # no SendGrid key: nothing leaves the machine
    assert "tok-1/recover" in (reminder.preview_html or "")
    at(T0 + timedelta(hours=24, minutes=1))
    sent = emails(services, "cart_abandonment")
    assert [m.template for m in sent] == ["cart_reminder", "cart_offer"]
    with services.sessions() as session:
        discount = session.scalar(
            select(OutboxMessage).where(OutboxMessage.kind == "create_discount")
        )
    assert discount is not None and discount.params["code"] in (sent[1].preview_html or "")
    at(T0 + timedelta(days=3))
    at(T0 + timedelta(days=3))
    assert len(emails(services, "cart_abandonment")) == 2


def test_order_for_the_checkout_exits_abandonment(send_webhook, services, at):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-2", T0))
    at(T0 + timedelta(hours=1))
    send_webhook(
        "orders/create", payloads.order(9001, T0 + timedelta(hours=2), checkout_token="tok-2")
    )
    at(T0 + timedelta(hours=30))
    assert emails(services, "cart_abandonment") == []
    [episode] = episodes(services, "cart_abandonment")
    # bought before any reminder went out: exited, but not a conversion Nudge can claim
    assert episode.state == "exited" and episode.converted_at is None


def test_order_after_the_reminder_counts_as_a_conversion(send_webhook, services, at):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-2b", T0))
    at(T0 + timedelta(hours=4, minutes=1))
    send_webhook(
        "orders/create", payloads.order(9003, T0 + timedelta(hours=6), checkout_token="tok-2b")
    )
    at(T0 + timedelta(hours=30))
    assert [m.template for m in emails(services, "cart_abandonment")] == ["cart_reminder"]
    [episode] = episodes(services, "cart_abandonment")
    assert episode.state == "exited" and episode.converted_at == T0 + timedelta(hours=6)


def test_two_orders_in_one_inbox_batch_credit_the_first(send_webhook, services, at):
    """The inbox reads episodes without flushing each event first; a conversion recorded
    earlier in the same batch must still stand."""
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-2c", T0))
    at(T0 + timedelta(hours=4, minutes=1))
    for order_id, hours in ((9004, 6), (9005, 7)):  # both wait for the same inbox pass
        send_webhook("orders/create", payloads.order(order_id, T0 + timedelta(hours=hours)))
    at(T0 + timedelta(hours=8))
    [episode] = episodes(services, "cart_abandonment")
    assert episode.converted_at == T0 + timedelta(hours=6)


def test_order_arriving_before_its_checkout_prevents_enrollment(send_webhook, services, at):
    subscribe(send_webhook)
    send_webhook(
        "orders/create", payloads.order(9002, T0 + timedelta(minutes=5), checkout_token="tok-3")
    )
    send_webhook("checkouts/update", payloads.checkout("tok-3", T0))
    at(T0 + timedelta(hours=30))
    assert emails(services, "cart_abandonment") == []


def test_abandonment_without_consent_is_skipped_with_reason(send_webhook, services, at):
    subscribe(send_webhook, subscribed=False)
    send_webhook("checkouts/create", payloads.checkout("tok-4", T0, accepts_marketing=False))
    at(T0 + timedelta(hours=30))
    assert emails(services, "cart_abandonment") == []
    reasons = skipped(services, "cart_abandonment")
    assert reasons and all("marketing" in r.lower() for r in reasons), reasons


def test_small_cart_is_skipped_for_value(send_webhook, services, at):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-5", T0, price="9.00"))
    at(T0 + timedelta(hours=30))
    assert emails(services, "cart_abandonment") == []
    assert any("value" in r.lower() for r in skipped(services, "cart_abandonment"))


def test_checkout_already_stale_on_arrival_enrolls_nobody(send_webhook, services, at):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-6", T0 - timedelta(days=10)))
    at(T0 + timedelta(hours=30))
    assert episodes(services, "cart_abandonment") == []


def test_more_cart_activity_moves_the_reminder(send_webhook, services, at):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-7", T0))
    send_webhook(
        "checkouts/update", payloads.checkout("tok-7", T0 + timedelta(hours=3), created_at=T0)
    )
    at(T0 + timedelta(hours=4, minutes=30))
    assert emails(services, "cart_abandonment") == []
    at(T0 + timedelta(hours=7, minutes=1))
    assert len(emails(services, "cart_abandonment")) == 1


def test_out_of_order_checkout_deliveries_converge(send_webhook, services, at):
    subscribe(send_webhook)
    newer = payloads.checkout("tok-8", T0 + timedelta(hours=1), created_at=T0, price="80.00")
    older = payloads.checkout("tok-8", T0, price="15.00")
    send_webhook("checkouts/update", newer)
    send_webhook("checkouts/create", older)  # arrives late; must not roll the value back
    at(T0 + timedelta(hours=5, minutes=1))
    [reminder] = emails(services, "cart_abandonment")
    assert "80.00" in (reminder.preview_html or "")


def _upsell_then_checkout(send_webhook, at) -> None:  # type: ignore[no-untyped-def]
    """An upsell email goes out at T0+3h; an abandonment reminder falls due at T0+4h."""
    subscribe(send_webhook)
    ordered = T0 - timedelta(days=7) + timedelta(hours=3)
    send_webhook("orders/create", payloads.order(7100, ordered))
    at(ordered)
    send_webhook("checkouts/create", payloads.checkout("tok-9", T0))
    at(T0)
    at(T0 + timedelta(hours=3, minutes=1))


def test_frequency_cap_defers_then_sends(send_webhook, services, at):
    _upsell_then_checkout(send_webhook, at)
    assert [m.workflow for m in emails(services)] == ["upsell"]
    at(T0 + timedelta(hours=4, minutes=1))
    assert len(emails(services)) == 1  # capped: at most one marketing email per 16 h
    with services.sessions() as session:
        [deferred] = session.scalars(
            select(Step).where(Step.reason == "deferred: frequency cap")
        ).all()
    # The cap lifts at T0+19h01, which is 05:01 UTC, outside the send window: 09:00 it is.
    assert deferred.due_at == T0 + timedelta(hours=19, minutes=1)
    at(T0 + timedelta(hours=19, minutes=2))
    assert len(emails(services)) == 1
    at(T0 + timedelta(hours=23, minutes=1))
    assert [m.template for m in emails(services)] == ["upsell", "cart_reminder"]


def test_frequency_cap_counts_an_email_queued_earlier_in_the_same_batch(send_webhook, services, at):
    """Two carts abandoned together fall due in one pass, decided in one transaction: the
    first reminder is only written when the batch commits, yet holds back the second."""
    subscribe(send_webhook)
    for token in ("tok-c1", "tok-c2"):
        send_webhook("checkouts/create", payloads.checkout(token, T0))
    at(T0)
    stats = at(T0 + timedelta(hours=4, minutes=1)).steps
    assert len(emails(services, "cart_abandonment")) == 1
    assert (stats.fired, stats.skipped) == (1, 1)
    assert stats.reasons == {"Days since the last abandonment email is 0.0 (needs ≥ 14)": 1}


def test_frequency_cap_counts_another_workflows_email_from_the_same_batch(
    send_webhook, services, at
):
    subscribe(send_webhook)
    ordered = T0 - timedelta(days=7) + timedelta(hours=3)
    send_webhook("orders/create", payloads.order(7100, ordered))
    send_webhook("checkouts/create", payloads.checkout("tok-9", T0))
    at(T0)  # the upsell falls due at T0+3h, the reminder at T0+4h: one pass decides both
    stats = at(T0 + timedelta(hours=4, minutes=1)).steps
    assert [m.workflow for m in emails(services)] == ["upsell"]
    assert (stats.fired, stats.deferred) == (1, 1)


def test_a_step_deferred_in_a_batch_keeps_its_episode_going(send_webhook, services, at):
    """Reminder and offer fall due in one pass; the offer is capped and deferred, which
    the episode must see as still to come (the batch is written only when it commits)."""
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-d", T0))
    at(T0)
    stats = at(T0 + timedelta(days=1, minutes=1)).steps
    assert (stats.fired, stats.deferred) == (1, 1)
    [episode] = episodes(services, "cart_abandonment")
    assert episode.state == "active"
    at(T0 + timedelta(days=2))
    assert [m.template for m in emails(services)] == ["cart_reminder", "cart_offer"]
    [episode] = episodes(services, "cart_abandonment")
    assert (episode.state, episode.exit_reason) == ("completed", "all steps decided")


def test_quiet_hours_defer_to_the_send_window(send_webhook, services, at):
    subscribe(send_webhook)
    late = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)  # +4 h = 23:00 UTC, outside 09-21
    send_webhook("checkouts/create", payloads.checkout("tok-11", late))
    at(late + timedelta(hours=4, minutes=1))
    assert emails(services) == []
    at(datetime(2026, 3, 3, 9, 0, 30, tzinfo=UTC))
    assert len(emails(services, "cart_abandonment")) == 1


def _cart_steps(services) -> dict[str, Step]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return {
            s.step_id: s
            for s in session.scalars(
                select(Step)
                .join(Episode, Episode.id == Step.episode_id)
                .where(Episode.workflow == "cart_abandonment")
            )
        }


def test_a_reminder_that_would_fall_due_at_night_is_scheduled_for_the_morning(
    send_webhook, services, at
):
    subscribe(send_webhook)
    late = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)  # +4 h = 23:00 UTC, outside 09-21
    send_webhook("checkouts/create", payloads.checkout("tok-12", late))
    at(late)
    steps = _cart_steps(services)
    morning = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert steps["reminder"].due_at == morning
    assert steps["offer"].due_at == late + timedelta(hours=24)  # 19:00: inside the window
    # nothing is claimed at night only to be put back
    assert at(late + timedelta(hours=4, minutes=1)).steps.deferred == 0
    stats = at(morning + timedelta(seconds=30)).steps
    assert (stats.fired, stats.deferred) == (1, 0)
    assert _cart_steps(services)["reminder"].deferrals == 0
    assert len(emails(services, "cart_abandonment")) == 1


def test_a_reminder_overdue_on_arrival_at_night_waits_for_the_morning(send_webhook, services, at):
    subscribe(send_webhook)
    active = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    send_webhook("checkouts/create", payloads.checkout("tok-15", active))
    # processed at 23:30: its reminder (02:00 + 4 h, whose own morning has passed too) is
    # overdue, and it is night
    stats = at(datetime(2026, 3, 2, 23, 30, tzinfo=UTC)).steps
    assert (stats.fired, stats.deferred) == (0, 0)
    morning = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert _cart_steps(services)["reminder"].due_at == morning
    assert at(morning + timedelta(seconds=30)).steps.fired == 1


def test_a_reminder_overdue_on_arrival_by_day_keeps_its_moment_and_goes_out(
    send_webhook, services, at
):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-16", T0))
    # processed at 15:00: overdue since 14:00, inside the window; decided in this pass,
    # and ordered among other overdue steps by the moment it fell due
    assert at(T0 + timedelta(hours=5)).steps.fired == 1
    assert _cart_steps(services)["reminder"].due_at == T0 + timedelta(hours=4)


def test_a_send_window_narrowed_after_scheduling_still_holds(send_webhook, services, at):
    subscribe(send_webhook)
    late = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
    send_webhook("checkouts/create", payloads.checkout("tok-13", late))
    at(late)
    assert _cart_steps(services)["reminder"].due_at == datetime(2026, 3, 3, 9, tzinfo=UTC)
    with services.sessions() as session, session.begin():
        shop = session.scalar(select(Shop))
        shop.settings = {**shop.settings, "send_window": {"start_hour": 11, "end_hour": 21}}
    at(datetime(2026, 3, 3, 9, 0, 30, tzinfo=UTC))
    assert emails(services) == []
    reminder = _cart_steps(services)["reminder"]
    assert (reminder.reason, reminder.due_at) == (
        "deferred: outside send window",
        datetime(2026, 3, 3, 11, tzinfo=UTC),
    )
    at(datetime(2026, 3, 3, 11, 0, 30, tzinfo=UTC))
    assert len(emails(services, "cart_abandonment")) == 1


def test_cart_activity_leaves_a_deferred_reminder_at_its_own_time(send_webhook, services, at):
    subscribe(send_webhook)
    late = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
    send_webhook("checkouts/create", payloads.checkout("tok-17", late))
    at(late)
    with services.sessions() as session, session.begin():
        shop = session.scalar(select(Shop))
        shop.settings = {**shop.settings, "send_window": {"start_hour": 11, "end_hour": 21}}
    at(datetime(2026, 3, 3, 9, 0, 30, tzinfo=UTC))  # deferred to 11:00
    again = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    send_webhook("checkouts/update", payloads.checkout("tok-17", again, created_at=late))
    at(again)
    reminder = _cart_steps(services)["reminder"]
    assert (reminder.due_at, reminder.deferrals) == (datetime(2026, 3, 3, 11, tzinfo=UTC), 1)


def test_cart_activity_while_a_reminder_waits_for_the_window_moves_it(send_webhook, services, at):
    subscribe(send_webhook)
    late = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
    send_webhook("checkouts/create", payloads.checkout("tok-14", late))
    at(late)
    at(late + timedelta(hours=4, minutes=1))  # a pass at night leaves the reminder be
    again = datetime(2026, 3, 3, 7, 0, tzinfo=UTC)  # the reminder waits for 09:00
    send_webhook("checkouts/update", payloads.checkout("tok-14", again, created_at=late))
    at(again)
    assert _cart_steps(services)["reminder"].due_at == again + timedelta(hours=4)
    at(datetime(2026, 3, 3, 9, 0, 30, tzinfo=UTC))
    assert emails(services) == []
    at(again + timedelta(hours=4, minutes=1))
    assert len(emails(services, "cart_abandonment")) == 1


def test_settings_read_in_a_transaction_follow_a_change_to_the_shops(services, shop):
    from plugin.shop_settings.policies import settings_for_reading
    from plugin.storage.batch import Batch

    with services.sessions() as session:
        batch = Batch.of(session)
        row = session.get_one(Shop, shop.id)
        first = settings_for_reading(batch, row)
        assert first["send_window"] == {"start_hour": 9, "end_hour": 21}  # the defaults
        assert settings_for_reading(batch, row) is first  # merged once per transaction
        row.settings = {"send_window": {"start_hour": 11}}
        assert settings_for_reading(batch, row)["send_window"] == {
            "start_hour": 11,
            "end_hour": 21,
        }


def test_frequency_cap_can_drop_instead(send_webhook, services, at):
    with services.sessions() as session, session.begin():
        shop = session.scalar(select(Shop))
        shop.settings = {**shop.settings, "capped_action": "drop"}
    _upsell_then_checkout(send_webhook, at)
    at(T0 + timedelta(hours=4, minutes=1))
    assert [m.workflow for m in emails(services)] == ["upsell"]
    assert "frequency cap (dropped)" in skipped(services, "cart_abandonment")


# --- upsell -----------------------------------------------------------------------------


def test_upsell_after_an_order_and_exit_on_next_order(send_webhook, services, at):
    subscribe(send_webhook)
    send_webhook("orders/create", payloads.order(7001, T0))
    at(T0)
    at(T0 + timedelta(days=7, minutes=1))
    [upsell] = emails(services, "upsell")
    assert upsell.template == "upsell"
    # A second order ends the second order's predecessor episode, and starts its own.
    send_webhook("orders/create", payloads.order(7002, T0 + timedelta(days=8)))
    at(T0 + timedelta(days=8, hours=1))
    states = {e.subject: e.state for e in episodes(services, "upsell")}
    assert states["7002"] == "active"


def test_an_order_within_a_week_of_the_upsell_email_is_a_conversion(send_webhook, services, at):
    subscribe(send_webhook)
    send_webhook("orders/create", payloads.order(7201, T0))
    at(T0)
    at(T0 + timedelta(days=7, minutes=1))
    send_webhook("orders/create", payloads.order(7202, T0 + timedelta(days=9)))
    at(T0 + timedelta(days=9, hours=1))
    converted = {e.subject: e.converted_at for e in episodes(services, "upsell")}
    assert converted == {"7201": T0 + timedelta(days=9), "7202": None}
    send_webhook("orders/create", payloads.order(7203, T0 + timedelta(days=30)))
    at(T0 + timedelta(days=30, hours=1))
    assert {e.subject: e.converted_at for e in episodes(services, "upsell")}[
        "7202"
    ] is None  # no email to credit


def test_upsell_skipped_for_refunded_order(send_webhook, services, at):
    subscribe(send_webhook)
    send_webhook("orders/create", payloads.order(7003, T0))
    send_webhook(
        "orders/updated",
        payloads.order(7003, T0, financial_status="refunded")
        | {"updated_at": (T0 + timedelta(days=1)).isoformat()},
    )
    at(T0)
    at(T0 + timedelta(days=7, minutes=1))
    assert emails(services, "upsell") == []
    assert any("refund" in r.lower() for r in skipped(services, "upsell"))


# --- purchase cycle ---------------------------------------------------------------------


def test_purchase_cycle_reminds_before_the_expected_reorder(send_webhook, services, at):
    subscribe(send_webhook)
    for n, days_ago in enumerate((90, 60, 30)):
        when = T0 - timedelta(days=days_ago)
        send_webhook("orders/create", payloads.order(8000 + n, when))
    # a 30-day rhythm, last order at T0-30d: expected re-order at T0; reminder 3 days before
    at(T0 - timedelta(days=4))
    assert emails(services, "purchase_cycle") == []
    at(T0 - timedelta(days=3) + timedelta(hours=1))
    [reminder] = emails(services, "purchase_cycle")
    assert reminder.template == "replenishment"
    at(T0 - timedelta(days=2))
    assert len(emails(services, "purchase_cycle")) == 1  # one per cycle


def test_purchase_cycle_sweep_does_not_find_customers_it_already_enrolled(
    send_webhook, services, at
):
    """The sweep's "already enrolled" check must look at each customer's own last order
    (it once compared every customer with one shop-wide order, so the same candidates came
    back each sweep and could crowd newer ones out of its batch)."""
    from plugin.pipeline.sweeps import sweep_subjects
    from plugin.shop_settings.workflows import shop_workflows

    subscribe(send_webhook)
    for n, days_ago in enumerate((90, 60, 30)):
        send_webhook("orders/create", payloads.order(8100 + n, T0 - timedelta(days=days_ago)))
    # another customer's newer order: the shop-wide "latest order" is no longer Ada's
    other = payloads.order(8200, T0 - timedelta(days=5), customer_id=777, email="bo@example.com")
    send_webhook("orders/create", other)
    when = T0 - timedelta(days=3) + timedelta(hours=1)
    at(when)
    assert len(episodes(services, "purchase_cycle")) == 1
    with services.sessions() as session:
        shop = session.scalar(select(Shop))
        workflow = shop_workflows(session, shop.id)["purchase_cycle"].workflow
        assert sweep_subjects(session, shop.id, workflow, when, 100) == []


# --- feedback request -------------------------------------------------------------------


def test_feedback_request_seven_days_after_fulfilment(send_webhook, services, at):
    subscribe(send_webhook)
    fulfilled = T0 + timedelta(days=2)
    send_webhook("orders/create", payloads.order(6001, T0))
    send_webhook("orders/fulfilled", payloads.order(6001, T0, fulfilled_at=fulfilled))
    at(fulfilled + timedelta(days=6))
    assert emails(services, "feedback_request") == []
    at(fulfilled + timedelta(days=7, minutes=1))
    [request] = emails(services, "feedback_request")
    assert request.template == "feedback_request"
    send_webhook(
        "orders/fulfilled", payloads.order(6001, T0, fulfilled_at=fulfilled), webhook_id="again"
    )
    at(fulfilled + timedelta(days=20))
    assert len(emails(services, "feedback_request")) == 1  # one request per order


def test_feedback_skipped_when_order_cancelled(send_webhook, services, at):
    subscribe(send_webhook)
    fulfilled = T0 + timedelta(days=1)
    send_webhook("orders/create", payloads.order(6002, T0))
    send_webhook("orders/fulfilled", payloads.order(6002, T0, fulfilled_at=fulfilled))
    send_webhook(
        "orders/cancelled",
        payloads.order(6002, T0, fulfilled_at=fulfilled, cancelled_at=T0 + timedelta(days=3)),
    )
    at(fulfilled + timedelta(days=8))
    assert emails(services, "feedback_request") == []
    assert any("cancel" in r.lower() for r in skipped(services, "feedback_request"))


# --- re-engagement ----------------------------------------------------------------------


def test_lapsed_customer_is_found_by_the_sweep_and_won_back(send_webhook, services, at):
    subscribe(send_webhook)
    send_webhook("orders/create", payloads.order(5001, T0 - timedelta(days=120)))
    at(T0)
    [winback] = emails(services, "reengagement")
    assert winback.template == "winback"
    at(T0 + timedelta(days=1))
    assert len(emails(services, "reengagement")) == 1  # the sweep does not enroll twice


def test_order_ends_reengagement(send_webhook, services, at):
    subscribe(send_webhook)
    send_webhook("orders/create", payloads.order(5002, T0 - timedelta(days=120)))
    at(T0)
    send_webhook("orders/create", payloads.order(5003, T0 + timedelta(days=2)))
    at(T0 + timedelta(days=40))
    assert [m.template for m in emails(services, "reengagement")] == ["winback"]
    [episode] = episodes(services, "reengagement")
    assert episode.state == "exited"


def test_recent_customer_is_not_swept(send_webhook, services, at):
    subscribe(send_webhook)
    send_webhook("orders/create", payloads.order(5004, T0 - timedelta(days=20)))
    at(T0)
    assert episodes(services, "reengagement") == []


# --- consent, for every workflow ----------------------------------------------------------


def _abandon(send_webhook, at):  # type: ignore[no-untyped-def]
    send_webhook("checkouts/create", payloads.checkout("tok-c", T0, accepts_marketing=False))
    at(T0 + timedelta(hours=30))


def _buy(send_webhook, at):  # type: ignore[no-untyped-def]
    send_webhook("orders/create", payloads.order(4001, T0))
    at(T0)
    at(T0 + timedelta(days=7, minutes=1))


def _cycle(send_webhook, at):  # type: ignore[no-untyped-def]
    for n, days_ago in enumerate((90, 60, 30)):
        send_webhook("orders/create", payloads.order(4100 + n, T0 - timedelta(days=days_ago)))
    at(T0 - timedelta(days=3) + timedelta(hours=1))


def _fulfil(send_webhook, at):  # type: ignore[no-untyped-def]
    send_webhook("orders/create", payloads.order(4200, T0))
    send_webhook("orders/fulfilled", payloads.order(4200, T0, fulfilled_at=T0 + timedelta(days=1)))
    at(T0)
    at(T0 + timedelta(days=8, minutes=1))


def _lapse(send_webhook, at):  # type: ignore[no-untyped-def]
    send_webhook("orders/create", payloads.order(4300, T0 - timedelta(days=120)))
    at(T0)


@pytest.mark.parametrize(
    ("workflow", "scenario"),
    [
        ("cart_abandonment", _abandon),
        ("upsell", _buy),
        ("purchase_cycle", _cycle),
        ("feedback_request", _fulfil),
        ("reengagement", _lapse),
    ],
)
def test_every_marketing_workflow_needs_consent(send_webhook, services, at, workflow, scenario):
    subscribe(send_webhook, subscribed=False)
    scenario(send_webhook, at)
    assert episodes(services, workflow), "the scenario should enroll the customer"
    assert emails(services, workflow) == []
    assert "Accepts marketing email: no (needs yes)" in skipped(services, workflow)
