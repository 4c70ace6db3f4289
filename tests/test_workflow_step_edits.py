"""Editing a live workflow's list of steps, end to end through the worker: customers already
enrolled keep the steps and times they were given (each step's content is read when it falls
due); a step removed since is skipped, never sent; a step added reaches only those who
enroll after the save."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from plugin.shop_settings.workflows import save_workflow
from plugin.storage.models import Episode, OutboxMessage, Step
from rules.definitions import shipped_workflows
from tests.support import payloads
from tests.support.clock import T0
from tests.support.workflows import emails, subscribe


def cart_abandonment() -> dict[str, Any]:
    return shipped_workflows()["cart_abandonment"]


def save(services, shop, definition: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        save_workflow(session, shop.id, definition)


def steps_of(services, token: str) -> dict[str, tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    """The episode's steps for a checkout, by id: (state, reason)."""
    with services.sessions() as session:
        rows = session.execute(
            select(Step.step_id, Step.state, Step.reason)
            .join(Episode, Episode.id == Step.episode_id)
            .where(Episode.subject == token)
        )
        return {step_id: (state, reason) for step_id, state, reason in rows}


def test_a_removed_step_is_skipped_for_customers_waiting_for_it(send_webhook, services, shop, at):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-r", T0))
    at(T0 + timedelta(hours=1))  # enrolled: both steps pending
    definition = cart_abandonment()
    definition["steps"] = definition["steps"][:1]  # the offer goes
    save(services, shop, definition)
    at(T0 + timedelta(hours=4, minutes=1))
    at(T0 + timedelta(hours=24, minutes=1))
    assert [m.template for m in emails(services, "cart_abandonment")] == ["cart_reminder"]
    with services.sessions() as session:
        assert (
            session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == "create_discount")
            ).all()
            == []
        )
        [episode] = session.scalars(select(Episode).where(Episode.subject == "tok-r")).all()
    assert steps_of(services, "tok-r") == {
        "reminder": ("fired", "conditions met"),
        "offer": ("skipped", "step no longer in workflow"),
    }
    assert episode.state == "completed"


def test_reordered_steps_keep_their_own_times_when_the_cart_moves(send_webhook, services, shop, at):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-o", T0))
    at(T0 + timedelta(hours=1))
    definition = cart_abandonment()
    definition["steps"].reverse()  # the offer first on the page; each keeps its own delay
    save(services, shop, definition)
    # more cart activity moves each pending step by its own delay, found by its id (not by
    # where it now stands): the reminder 4 h after it, the offer 24 h after it
    send_webhook(
        "checkouts/update",
        payloads.checkout("tok-o", T0 + timedelta(hours=3), created_at=T0),
    )
    at(T0 + timedelta(hours=7, minutes=1))
    assert [m.template for m in emails(services, "cart_abandonment")] == ["cart_reminder"]
    at(T0 + timedelta(hours=26))
    assert [m.template for m in emails(services, "cart_abandonment")] == ["cart_reminder"]
    at(T0 + timedelta(hours=27, minutes=1))
    assert [m.template for m in emails(services, "cart_abandonment")] == [
        "cart_reminder",
        "cart_offer",
    ]


def test_a_removed_first_step_leaves_the_next_one_moving_with_the_cart(
    send_webhook, services, shop, at
):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-f", T0))
    at(T0 + timedelta(hours=1))
    definition = cart_abandonment()
    definition["steps"] = definition["steps"][1:]  # the reminder goes; the offer stays
    save(services, shop, definition)
    send_webhook(
        "checkouts/update",
        payloads.checkout("tok-f", T0 + timedelta(hours=3), created_at=T0),
    )
    at(T0 + timedelta(hours=24, minutes=1))
    assert emails(services, "cart_abandonment") == []  # the offer moved to 27 h
    at(T0 + timedelta(hours=27, minutes=1))
    assert [m.template for m in emails(services, "cart_abandonment")] == ["cart_offer"]
    assert steps_of(services, "tok-f")["reminder"] == ("skipped", "step no longer in workflow")


def follow_up() -> dict[str, Any]:
    definition = cart_abandonment()
    last = definition["steps"][-1]
    definition["steps"].append(
        {
            "id": "follow_up",
            "delay": {"days": 2, "from": "previous_step"},
            "conditions": last["conditions"],
            "actions": [
                {
                    "name": "send_email",
                    "params": {"template": "cart_reminder", "subject": "Last call for your cart"},
                }
            ],
        }
    )
    return definition


def test_an_added_step_reaches_only_customers_who_enroll_after_the_save(
    send_webhook, services, shop, at
):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-before", T0))
    at(T0 + timedelta(hours=1))  # mid-flow when the step is added
    save(services, shop, follow_up())
    email = "grace@example.com"
    send_webhook("customers/create", payloads.customer(502, email=email))
    send_webhook("customers_email_marketing_consent/update", payloads.consent(502, email=email))
    send_webhook(
        "checkouts/create",
        payloads.checkout("tok-after", T0 + timedelta(hours=1), customer_id=502, email=email),
    )
    for hours in (2, 4, 5, 24, 25, 73, 120):  # each step as it falls due
        at(T0 + timedelta(hours=hours, minutes=1))
    by_checkout: dict[str, list[str]] = {}
    for message in emails(services, "cart_abandonment"):
        with services.sessions() as session:
            episode = session.get_one(Episode, message.episode_id)
        by_checkout.setdefault(episode.subject, []).append(message.subject or "")
    assert len(by_checkout["tok-before"]) == 2  # reminder and offer, as when it enrolled
    assert by_checkout["tok-after"][-1] == "Last call for your cart"
    assert len(by_checkout["tok-after"]) == 3
    assert set(steps_of(services, "tok-before")) == {"reminder", "offer"}
