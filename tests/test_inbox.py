"""The worker's stages: a delivery or a due step that cannot be applied is kept as failed
(with the first line of its error) and never blocks the rest."""

from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import select

from plugin.storage.models import CustomerRow, Delivery
from tests.support import payloads
from tests.support.clock import T0


def test_a_delivery_that_breaks_its_batch_is_kept_as_failed_and_the_rest_go_through(
    send_webhook, services, monkeypatch
):
    import plugin.pipeline.inbox as inbox
    from plugin.storage.models import Delivery

    real = inbox.apply_event

    def apply_event(session, shop, event, now):  # type: ignore[no-untyped-def]
        if event.customer is not None and event.customer.id == "502":
            raise RuntimeError("cannot apply this one\nSQL: ... ada@example.com")
        return real(session, shop, event, now)

    monkeypatch.setattr(inbox, "apply_event", apply_event)
    for customer_id in (501, 502, 503):
        send_webhook(
            "customers/create",
            payloads.customer(customer_id, f"c{customer_id}@example.com"),
            webhook_id=f"hook-{customer_id}",
        )
    stats = inbox.process_inbox(services, T0)
    assert (stats.processed, stats.failed) == (2, 1)
    with services.sessions() as session:
        rows = dict(session.execute(select(Delivery.delivery_id, Delivery.error)).all())
        known = set(session.scalars(select(CustomerRow.external_id)))
    assert rows["hook-502"] == "RuntimeError: cannot apply this one"  # no echoed data
    assert rows["hook-501"] is None and known == {"501", "503"}
    # a failed delivery waits for a person; it does not block or repeat on the next pass
    assert inbox.process_inbox(services, T0).processed == 0


def test_a_nul_character_in_a_webhook_field_never_stalls_the_inbox(send_webhook, services):
    from plugin.pipeline.inbox import process_inbox
    from plugin.storage.models import Delivery

    body = payloads.customer(501, "ada@example.com")
    body["first_name"] = "A\u0000da"  # PostgreSQL refuses NUL in text; SQLite keeps it
    send_webhook("customers/create", body, webhook_id="nul")
    send_webhook("customers/create", payloads.customer(502, "bo@example.com"), webhook_id="ok")
    process_inbox(services, T0)
    with services.sessions() as session:
        statuses = dict(session.execute(select(Delivery.delivery_id, Delivery.status)).all())
    assert statuses["ok"] == "processed" and statuses["nul"] in ("processed", "failed")


def test_a_failed_delivery_is_listed_and_applied_again_by_hand(send_webhook, services, monkeypatch):
    import plugin.pipeline.inbox as inbox
    from plugin.cli import main

    real = inbox.apply_event
    monkeypatch.setattr(inbox, "apply_event", lambda *args: (_ for _ in ()).throw(OSError("disk")))
    send_webhook("customers/create", payloads.customer(501, "ada@example.com"), webhook_id="h1")
    assert inbox.process_inbox(services, T0).failed == 1
    monkeypatch.setattr(inbox, "apply_event", real)  # the cause is fixed
    monkeypatch.setenv("NUDGE_DATABASE_URL", services.settings["DATABASE_URL"])
    listing = CliRunner().invoke(main, ["inbox"], catch_exceptions=False).output
    assert "customers/create" in listing and "OSError: disk" in listing
    with services.sessions() as session:
        [failed_id] = session.scalars(select(Delivery.id)).all()
    retried = CliRunner().invoke(main, ["inbox", "--retry", str(failed_id)]).output
    assert "re-queued 1 of 1" in retried
    assert inbox.process_inbox(services, T0).processed == 1
    with services.sessions() as session:
        assert session.scalars(select(CustomerRow.external_id)).all() == ["501"]


def test_a_step_that_breaks_its_batch_is_parked_with_its_first_line_and_the_rest_decide(
    send_webhook, services, at, monkeypatch
):
    import plugin.pipeline.due_steps as steps
    from plugin.storage.models import Episode, Step
    from tests.support.workflows import subscribe

    subscribe(send_webhook)
    for token in ("tok-a", "tok-b"):
        send_webhook("checkouts/create", payloads.checkout(token, T0))
    at(T0)
    with services.sessions() as session:
        broken = session.scalar(select(Episode.id).where(Episode.subject == "tok-b"))
    real = steps.decide_step

    def decide_step(session, services, step, now):  # type: ignore[no-untyped-def]
        if step.episode_id == broken:
            raise RuntimeError("cannot decide\x00 this one\nSQL: ... ada@example.com")
        return real(session, services, step, now)

    monkeypatch.setattr(steps, "decide_step", decide_step)
    at(T0 + timedelta(hours=4, minutes=1))
    with services.sessions() as session:
        first = dict(
            session.execute(
                select(Episode.subject, Step.state)
                .join(Episode, Episode.id == Step.episode_id)
                .where(Step.position == 0)
            ).all()
        )
        reason = session.scalar(
            select(Step.reason).where(Step.episode_id == broken, Step.position == 0)
        )
    assert first == {"tok-a": "fired", "tok-b": "error"}
    assert reason == "error: RuntimeError: cannot decide this one"  # no echoed data, no NUL
    # a parked step waits for a person; the next pass neither repeats nor re-raises it
    assert at(T0 + timedelta(hours=5)).steps.fired == 0
