"""A/B tests of a step: validated variants, stable assignment by weight, each variant's
email written and reported, and a winner that ends the test as a new version."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from plugin.pipeline.explain import explain_customer
from plugin.results import ab_winners
from plugin.results.report import shop_report
from plugin.shop_settings.workflows import save_workflow, shop_workflows
from plugin.storage.models import Episode, OutboxMessage, Shop, Step, WorkflowConfig
from rules.definitions import parse_workflow, shipped_workflows
from rules.sequential import AutoWinner
from rules.stats import MIN_GROUP
from rules.validation import validate_workflow
from rules.variants import Variant, choose_variant
from tests.support import payloads
from tests.support.clock import T0
from tests.support.results import abandon_and_buy
from tests.support.session_tokens import session_token

A, B = Variant("a", 50), Variant("b", 50, ({"name": "send_email", "params": {"template": "x"}},))


def with_variants(definition: dict, variants: list, winner: str | None = None) -> dict:  # type: ignore[type-arg]
    step = {**definition["steps"][0], "variants": variants}
    if winner is not None:
        step["winner"] = winner
    return {**definition, "steps": [step, *definition["steps"][1:]]}


SUBJECT_B = "Still thinking it over, {first_name|friend}?"


def reminder_test(winner: str | None = None) -> dict:  # type: ignore[type-arg]
    cart = shipped_workflows()["cart_abandonment"]
    own = cart["steps"][0]["actions"]
    other = [{"name": "send_email", "params": {"template": "cart_reminder", "subject": SUBJECT_B}}]
    assert own[0]["params"]["template"] == "cart_reminder"
    return with_variants(
        cart, [{"id": "a", "weight": 50}, {"id": "b", "weight": 50, "actions": other}], winner
    )


def arms_of(step: Any) -> dict[int, str]:
    """The variant of each of the customers 600 to 639 in the reminder's test."""
    return {
        c: choose_variant(step.variants, "cart_abandonment", "reminder", str(c), None).id
        for c in range(600, 640)
    }


def test_assignment_is_stable_and_follows_the_weights():
    customers = [str(n) for n in range(4000)]
    first = [choose_variant((A, B), "w", "s", c, None).id for c in customers]
    assert first == [choose_variant((A, B), "w", "s", c, None).id for c in customers]
    shares = Counter(first)
    assert 1850 < shares["a"] < 2150  # 50/50 within about 5 standard deviations
    skewed = Counter(
        choose_variant((Variant("a", 90), Variant("b", 10)), "w", "s", c, None).id
        for c in customers
    )
    assert 300 < skewed["b"] < 500
    # another step's test draws anew: the same customers are not always in the same arm
    other_step = [choose_variant((A, B), "w", "t", c, None).id for c in customers]
    assert 0.4 < sum(x == y for x, y in zip(first, other_step, strict=True)) / 4000 < 0.6
    assert {choose_variant((A, B), "w", "s", c, "b").id for c in customers} == {"b"}
    assert choose_variant((), "w", "s", "1", None) is None


def test_variants_are_validated_whole():
    assert validate_workflow(reminder_test()) == []
    assert validate_workflow(reminder_test(winner="b")) == []
    cart = shipped_workflows()["cart_abandonment"]
    cases = {
        "steps[0].variants: a list of 2 to 5 variants": [{"id": "a", "weight": 1}],
        "steps[0].variants[1].id: duplicate variant id 'a'": [
            {"id": "a", "weight": 1},
            {"id": "a", "weight": 1},
        ],
        "steps[0].variants[1].weight: a number above 0, at most 100": [
            {"id": "a", "weight": 1},
            {"id": "b", "weight": 0},
        ],
        "steps[0].variants[1].actions[0]: unknown action 'send_mail' (did you mean 'send_email'?)": [
            {"id": "a", "weight": 1},
            {"id": "b", "weight": 1, "actions": [{"name": "send_mail"}]},
        ],
    }
    for error, variants in cases.items():
        assert error in validate_workflow(with_variants(cart, variants)), error
    assert "steps[0].winner: one of the variants' ids, or null" in validate_workflow(
        reminder_test(winner="c")
    )
    no_test = {**cart, "steps": [{**cart["steps"][0], "winner": "a"}, *cart["steps"][1:]]}
    assert "steps[0].winner: the step has no variants" in validate_workflow(no_test)


def abandon(send_webhook, customer: int, when: datetime = T0) -> None:  # type: ignore[no-untyped-def]
    email = f"c{customer}@example.com"
    send_webhook("customers/create", payloads.customer(customer, email=email))
    send_webhook(
        "customers_email_marketing_consent/update", payloads.consent(customer, email=email)
    )
    send_webhook(
        "checkouts/create",
        payloads.checkout(f"tok-{customer}", when, customer_id=customer, email=email),
    )


def test_each_customer_gets_their_variant_and_a_winner_ends_the_test(
    services, shop, send_webhook, at
):
    with services.sessions() as session, session.begin():
        save_workflow(session, shop.id, reminder_test())
    step = next(iter(shop_workflows_of(services)["cart_abandonment"].workflow.steps))
    arm = arms_of(step)
    in_a = next(c for c, v in arm.items() if v == "a")
    in_b = next(c for c, v in arm.items() if v == "b")
    for customer in (in_a, in_b):
        abandon(send_webhook, customer)
    at(T0 + timedelta(hours=4, minutes=1))
    with services.sessions() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    got = {m.customer_external_id: (m.params.get("variant"), m.subject) for m in rows}
    assert got[str(in_a)] == ("a", "Ada, you left something in your cart")
    assert got[str(in_b)] == ("b", "Still thinking it over, Ada?")
    with services.sessions() as session:
        report = shop_report(session, session.get_one(Shop, shop.id), T0 + timedelta(days=1), 7)
    test = report["workflows"]["cart_abandonment"]["steps"]["reminder"]["ab_test"]
    assert (test["control"], test["winner"], test["leading"]) == ("a", None, None)
    assert {v: row["kept"] for v, row in test["variants"].items()} == {"a": 1, "b": 1}
    assert test["variants"]["b"]["against_control"]["ci95"] is None  # 1 against 1

    # the merchant picks b: a new version, and from then on everyone gets b
    with services.sessions() as session, session.begin():
        save_workflow(session, shop.id, reminder_test(winner="b"))
        versions = session.scalars(
            select(WorkflowConfig.version).where(WorkflowConfig.name == "cart_abandonment")
        ).all()
    assert len(versions) == 2
    another = next(c for c, v in arm.items() if v == "a" and c != in_a)
    abandon(send_webhook, another)
    at(T0 + timedelta(hours=8, minutes=1))
    with services.sessions() as session:
        latest = session.scalars(
            select(OutboxMessage).where(OutboxMessage.customer_external_id == str(another))
        ).one()
    assert (latest.params["variant"], latest.subject) == ("b", "Still thinking it over, Ada?")


def shop_workflows_of(services):  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return shop_workflows(session, session.scalars(select(Shop)).one().id)


@pytest.mark.parametrize(
    ("buyers_a", "buyers_b", "auto_winner", "picked"),
    [
        (2, 20, None, "b"),  # far ahead: its 99.9 % interval already lies above zero
        (6, 18, None, None),  # ahead at 95 % (the old rule's winner), not at 99.9 %
        (2, 20, {"enabled": False}, None),  # the merchant decides this one
    ],
)
def test_a_variant_clearly_ahead_is_picked_at_the_sweep_as_a_new_version(
    services, shop, send_webhook, client, at, monkeypatch, buyers_a, buyers_b, auto_winner, picked
):
    # a smaller sample than a live shop waits for, to keep the test quick
    monkeypatch.setattr(ab_winners, "AUTO_PICK_MIN", MIN_GROUP)
    definition = reminder_test()
    if auto_winner is not None:
        definition["steps"][0]["auto_winner"] = auto_winner
    with services.sessions() as session, session.begin():
        save_workflow(session, shop.id, definition)
    step = shop_workflows_of(services)["cart_abandonment"].workflow.steps[0]
    arms: dict[str, list[int]] = {"a": [], "b": []}
    customer = 700
    while min(len(v) for v in arms.values()) < MIN_GROUP:
        arm = choose_variant(step.variants, "cart_abandonment", "reminder", str(customer), None)
        if len(arms[arm.id]) < MIN_GROUP:
            arms[arm.id].append(customer)
        customer += 1
    buyers = set(arms["a"][:buyers_a]) | set(arms["b"][:buyers_b])
    abandon_and_buy(services, send_webhook, client, at, arms["a"] + arms["b"], buyers)
    at(T0 + timedelta(hours=8))  # a pass with its sweep
    latest = shop_workflows_of(services)["cart_abandonment"]
    assert latest.workflow.steps[0].winner == picked
    assert latest.version == (2 if picked else 1)  # the test's version, then the winner's
    with services.sessions() as session:
        report = shop_report(session, session.get_one(Shop, shop.id), T0 + timedelta(days=1), 7)
    test = report["workflows"]["cart_abandonment"]["steps"]["reminder"]["ab_test"]
    assert (test["winner"], test["leading"]) == (picked, "b")  # b leads at 95 % in all three
    low, high = test["variants"]["b"]["against_control"]["ci95"]
    difference = (buyers_b - buyers_a) / MIN_GROUP
    assert 0 < low < difference < high


def with_delay_variant(winner: str | None = None) -> dict:  # type: ignore[type-arg]
    """The reminder 4 hours after the cart (a), or 8 hours after it with another subject (b)."""
    definition = reminder_test(winner)
    variant_b = definition["steps"][0]["variants"][1]
    variant_b["delay"] = {"hours": 8, "from": "checkout_activity"}
    return definition


def reminders_of(services, customer: int) -> list[tuple[str, str, datetime]]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        rows = session.execute(
            select(OutboxMessage.params, OutboxMessage.subject, OutboxMessage.created_at).where(
                OutboxMessage.customer_external_id == str(customer),
                OutboxMessage.step_id == "reminder",
            )
        ).all()
    return [(params["variant"], subject, aware(at)) for params, subject, at in rows]


def reminder_step(services, customer: int) -> Step:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return session.scalars(
            select(Step)
            .join(Episode, Episode.id == Step.episode_id)
            .where(Episode.customer_external_id == str(customer), Step.step_id == "reminder")
        ).one()


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_a_delay_variant_decides_when_the_step_falls_due(services, shop, send_webhook, at):
    with services.sessions() as session, session.begin():
        save_workflow(session, shop.id, with_delay_variant())
    step = shop_workflows_of(services)["cart_abandonment"].workflow.steps[0]
    arm = arms_of(step)
    in_a, in_b, later_b = (
        next(c for c, v in arm.items() if v == "a"),
        *[c for c, v in arm.items() if v == "b"][:2],
    )
    for customer in (in_a, in_b):
        abandon(send_webhook, customer)
    at(T0 + timedelta(hours=4, minutes=1))
    assert aware(reminder_step(services, in_a).due_at) == T0 + timedelta(hours=4)
    assert aware(reminder_step(services, in_b).due_at) == T0 + timedelta(hours=8)
    assert [m[0] for m in reminders_of(services, in_a)] == ["a"]
    assert reminders_of(services, in_b) == []  # not due yet
    with services.sessions() as session:
        explained = explain_customer(
            session, session.get_one(Shop, shop.id), f"c{in_b}@example.com", T0
        )
    (cart,) = [w for w in explained["workflows"] if w["workflow"] == "cart_abandonment"]
    pending = cart["episodes"][0]["steps"][0]
    assert (pending["state"], pending["variant"]) == ("pending", "b")

    # the merchant picks a (4 hours) at T0+5h: a cart abandoned from then on is reminded
    # after a's delay, whatever its arm; in_b's reminder, scheduled before, keeps its due
    # time (8 hours) and sends the winner's email then
    with services.sessions() as session, session.begin():
        save_workflow(session, shop.id, with_delay_variant(winner="a"))
    at(T0 + timedelta(hours=5))
    abandon(send_webhook, later_b, T0 + timedelta(hours=5))
    at(T0 + timedelta(hours=5, minutes=1))
    assert aware(reminder_step(services, later_b).due_at) == T0 + timedelta(hours=9)
    assert aware(reminder_step(services, in_b).due_at) == T0 + timedelta(hours=8)
    at(T0 + timedelta(hours=8, minutes=1))
    assert reminders_of(services, in_b) == [
        ("a", "Ada, you left something in your cart", T0 + timedelta(hours=8, minutes=1))
    ]
    assert reminder_step(services, in_b).reason == "conditions met (variant a)"
    at(T0 + timedelta(hours=9, minutes=1))
    assert [m[0] for m in reminders_of(services, later_b)] == ["a"]


def test_delay_variants_are_validated_like_the_steps_delay():
    assert validate_workflow(with_delay_variant()) == []
    definition = with_delay_variant()
    variants = definition["steps"][0]["variants"]
    variants[0]["delay"] = {"hour": 2}
    variants[1]["delay"] = {"hours": -1, "from": "fulfillment"}
    variants[1]["dealy"] = {}
    errors = validate_workflow(definition)
    assert "steps[0].variants[0].delay.hour: unknown unit (did you mean 'hours'?)" in errors
    assert (
        "steps[0].variants[1].delay.hours: negative only when counting from expected_reorder"
        in errors
    )
    assert any(e.startswith("steps[0].variants[1].delay.from:") for e in errors)
    assert "steps[0].variants[1].dealy: unknown field (did you mean 'delay'?)" in errors


def test_the_auto_winner_setting_is_validated():
    definition = reminder_test()
    step = definition["steps"][0]
    step["auto_winner"] = {"planned_per_variant": 2000, "enabled": True}
    assert validate_workflow(definition) == []
    assert parse_workflow(definition).steps[0].auto_winner == AutoWinner(True, 2000)
    assert parse_workflow(reminder_test()).steps[0].auto_winner == AutoWinner(True, 1000)
    for setting, error in [
        ({"planned_per_variant": 99}, "planned_per_variant: a whole number from 100 to 1000000"),
        ({"planned_per_variant": 1.5}, "planned_per_variant: a whole number from 100 to 1000000"),
        ({"enabled": "yes"}, "enabled: true or false"),
        ({"planed_per_variant": 500}, "planed_per_variant: unknown field"),
        (1000, ': expected an object such as {"planned_per_variant": 1000}'),
    ]:
        step["auto_winner"] = setting
        assert any(
            e.startswith("steps[0].auto_winner") and error in e
            for e in validate_workflow(definition)
        ), (setting, validate_workflow(definition))
    cart = shipped_workflows()["cart_abandonment"]
    no_test = {**cart, "steps": [{**cart["steps"][0], "auto_winner": {}}, *cart["steps"][1:]]}
    assert "steps[0].auto_winner: the step has no variants" in validate_workflow(no_test)


def test_the_backtest_replays_each_customer_after_their_variants_delay(
    services, shop, send_webhook, at, client, clock
):
    step = parse_workflow(reminder_test()).steps[0]
    arm = arms_of(step)
    in_a = next(c for c, v in arm.items() if v == "a")
    in_b = next(c for c, v in arm.items() if v == "b")
    for customer in (in_a, in_b):
        abandon(send_webhook, customer)
    at(T0 + timedelta(hours=1))
    draft = reminder_test()
    draft["steps"][0]["variants"][1]["delay"] = {"hours": 20, "from": "checkout_activity"}
    clock.now = T0 + timedelta(hours=12)
    answer = client.post(
        "/api/workflows/cart_abandonment/backtest",
        json={"definition": draft, "days": 7},
        headers={"Authorization": f"Bearer {session_token()}"},
    )
    assert answer.status_code == 200, answer.json
    live, tested = answer.json["live"], answer.json["draft"]
    assert (live["would_send"], tested["would_send"]) == (2, 1)  # b's reminder: at 20 hours
    assert [row["subject"] for row in answer.json["changed"]] == [f"tok-{in_b}"]
