"""A/B tests of a step: validated variants, stable assignment by weight, each variant's
email written and reported, and a winner that ends the test as a new version."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from plugin.results import ab_winners
from plugin.results.report import shop_report
from plugin.shop_settings.workflows import save_workflow, shop_workflows
from plugin.storage.models import OutboxMessage, Shop, WorkflowConfig
from rules.definitions import shipped_workflows
from rules.stats import MIN_GROUP
from rules.validation import validate_workflow
from rules.variants import Variant, choose_variant
from tests.support import payloads
from tests.support.clock import T0
from tests.support.results import abandon_and_buy

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


def abandon(send_webhook, customer: int) -> None:  # type: ignore[no-untyped-def]
    email = f"c{customer}@example.com"
    send_webhook("customers/create", payloads.customer(customer, email=email))
    send_webhook(
        "customers_email_marketing_consent/update", payloads.consent(customer, email=email)
    )
    send_webhook(
        "checkouts/create",
        payloads.checkout(f"tok-{customer}", T0, customer_id=customer, email=email),
    )


def test_each_customer_gets_their_variant_and_a_winner_ends_the_test(
    services, shop, send_webhook, at
):
    with services.sessions() as session, session.begin():
        save_workflow(session, shop.id, reminder_test())
    step = next(iter(shop_workflows_of(services)["cart_abandonment"].workflow.steps))
    arm = {
        c: choose_variant(step.variants, "cart_abandonment", "reminder", str(c), None).id
        for c in range(600, 640)
    }
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


def test_a_variant_clearly_ahead_is_picked_at_the_sweep_as_a_new_version(
    services, shop, send_webhook, client, at, monkeypatch
):
    # a smaller sample than a live shop waits for, to keep the test quick
    monkeypatch.setattr(ab_winners, "AUTO_PICK_MIN", MIN_GROUP)
    with services.sessions() as session, session.begin():
        save_workflow(session, shop.id, reminder_test())
    step = shop_workflows_of(services)["cart_abandonment"].workflow.steps[0]
    arms: dict[str, list[int]] = {"a": [], "b": []}
    customer = 700
    while min(len(v) for v in arms.values()) < MIN_GROUP:
        arm = choose_variant(step.variants, "cart_abandonment", "reminder", str(customer), None)
        if len(arms[arm.id]) < MIN_GROUP:
            arms[arm.id].append(customer)
        customer += 1
    buyers = set(arms["a"][:6]) | set(arms["b"][:18])
    abandon_and_buy(services, send_webhook, client, at, arms["a"] + arms["b"], buyers)
    at(T0 + timedelta(hours=8))  # a pass with its sweep
    latest = shop_workflows_of(services)["cart_abandonment"]
    assert latest.workflow.steps[0].winner == "b"
    assert latest.version == 2  # the test's version, then the winner's
    with services.sessions() as session:
        report = shop_report(session, session.get_one(Shop, shop.id), T0 + timedelta(days=1), 7)
    test = report["workflows"]["cart_abandonment"]["steps"]["reminder"]["ab_test"]
    assert (test["winner"], test["leading"]) == ("b", "b")
    low, high = test["variants"]["b"]["against_control"]["ci95"]
    assert 0 < low < 0.4 < high  # 18 of 30 against 6 of 30
