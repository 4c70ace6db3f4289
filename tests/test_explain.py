"""`nudge explain`, the customer view's API, refusals recorded, /api/activity?customer=,
and backtests (`nudge backtest`, the editor's impact preview) that write nothing."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from plugin.cli import main
from plugin.pipeline.explain import orders_after_messages
from plugin.pipeline.outbox import unsubscribe_token
from plugin.shopify_app.compliance import erase_customer
from plugin.storage.models import Base, CustomerRefusal, OutboxMessage, RefusalCount
from tests.support import payloads
from tests.support.clock import T0
from tests.support.sendgrid_events import PUBLIC, message_event, post_events
from tests.support.session_tokens import session_token
from tests.support.workflows import subscribe

SHOP = "test-shop.myshopify.com"
BOB = "bob@example.com"


def auth(shop: str = SHOP) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token(shop) if shop != SHOP else session_token()}"}


def _store(send_webhook, at) -> None:  # type: ignore[no-untyped-def]
    """Ada abandons a checkout and is reminded; Bob's checkout arrives ten days late."""
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-ada", T0))
    send_webhook(
        "checkouts/create",
        payloads.checkout("tok-bob", T0 - timedelta(days=10), email=BOB, customer_id=502),
    )
    at(T0 + timedelta(hours=4, minutes=1))


@pytest.fixture
def runner(services, monkeypatch):  # type: ignore[no-untyped-def]
    """`nudge` on the test app's database."""
    monkeypatch.setenv("NUDGE_DATABASE_URL", services.settings["DATABASE_URL"])
    monkeypatch.setenv("NUDGE_SECRET_KEY", services.settings["SECRET_KEY"])
    return CliRunner()


def _explain(runner, email: str) -> dict:  # type: ignore[no-untyped-def]
    result = runner.invoke(main, ["explain", SHOP, email, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _workflow(explained: dict, name: str) -> dict:
    return next(w for w in explained["workflows"] if w["workflow"] == name)


def test_explain_shows_each_condition_and_the_message_state(send_webhook, at, runner):
    _store(send_webhook, at)
    cart = _workflow(_explain(runner, "Ada@Example.com"), "cart_abandonment")
    assert cart["enrolled"] and cart["why_not"] is None
    [episode] = cart["episodes"]
    reminder = episode["steps"][0]
    assert reminder["state"] == "fired"
    checks = reminder["conditions"]["checks"]
    assert checks and all(check["passed"] for check in checks), checks
    assert not reminder["conditions"]["changed_since"]
    value = next(c for c in checks if c["variable"] == "checkout_value")
    assert value["actual"] == "60.00" and value["operator"] == "≥"
    assert episode["steps"][1]["state"] == "pending"
    [message] = episode["messages"]
    assert message["state"] == "kept" and message["step"] == "reminder"


def test_a_step_decided_before_an_unsubscribe_shows_the_consent_it_had(
    send_webhook, at, runner, client, services, clock
):
    _store(send_webhook, at)  # Ada reminded while she accepted marketing email
    clock.now += timedelta(minutes=30)
    token = unsubscribe_token(services.settings["SECRET_KEY"], 1, "ada@example.com")
    assert client.post(f"/unsubscribe/{token}").status_code == 200  # then she says no
    at(clock.now + timedelta(hours=1))
    explained = _explain(runner, "ada@example.com")
    assert explained["customer"]["accepts_marketing"] is False  # her record now
    [episode] = _workflow(explained, "cart_abandonment")["episodes"]
    reminder = episode["steps"][0]
    assert reminder["state"] == "fired"
    checks = {c["variable"]: c for c in reminder["conditions"]["checks"]}
    assert checks["accepts_marketing"]["actual"] is True and checks["accepts_marketing"]["passed"]
    assert reminder["conditions"]["held"]  # as it was decided, not as it would be now


def test_a_no_recorded_after_the_decision_shows_the_checkbox_the_step_was_decided_on(
    send_webhook, at, runner, clock
):
    """The record keeps only its latest answer: before it, the buyer's checkbox stood in."""
    _store(send_webhook, at)
    later = (clock.now + timedelta(days=2)).isoformat()
    send_webhook(
        "customers_email_marketing_consent/update", payloads.consent(subscribed=False, at=later)
    )
    at(clock.now + timedelta(days=2, hours=1))
    [episode] = _workflow(_explain(runner, "ada@example.com"), "cart_abandonment")["episodes"]
    checks = {c["variable"]: c for c in episode["steps"][0]["conditions"]["checks"]}
    assert checks["accepts_marketing"]["passed"], checks["accepts_marketing"]


def test_a_fired_step_whose_facts_changed_since_says_so(send_webhook, at, runner, clock):
    _store(send_webhook, at)  # reminded about a cart of 60.00
    send_webhook("checkouts/update", payloads.checkout("tok-ada", clock.now, price="10.00"))
    at(clock.now + timedelta(minutes=5))
    [episode] = _workflow(_explain(runner, "ada@example.com"), "cart_abandonment")["episodes"]
    reminder = episode["steps"][0]
    assert reminder["state"] == "fired" and reminder["conditions"]["changed_since"]
    value = next(c for c in reminder["conditions"]["checks"] if c["variable"] == "checkout_value")
    assert value["actual"] == "10.00" and not value["passed"]  # today's cart, not the one decided
    text = runner.invoke(main, ["explain", SHOP, "ada@example.com"])
    assert "re-checked on facts that changed since" in text.output


def test_a_customer_never_enrolled_says_why(send_webhook, at, runner, services):
    _store(send_webhook, at)
    bob = _explain(runner, BOB)
    cart = _workflow(bob, "cart_abandonment")
    assert not cart["enrolled"]
    assert cart["why_not"] == "event older than the trigger's window"
    assert cart["latest_refusal"]["subject"] == "tok-bob"
    # welcome_series is off: Ada's subscription came while it was
    welcome = _workflow(_explain(runner, "ada@example.com"), "welcome_series")
    assert welcome["why_not"] == "workflow off when its trigger came"
    with services.sessions() as session:
        counts = {
            (row.workflow, row.reason): row.count for row in session.scalars(select(RefusalCount))
        }
        kept = session.scalar(select(func.count()).select_from(CustomerRefusal))
    assert counts[("cart_abandonment", "stale_event")] == 1
    assert counts[("welcome_series", "workflow_off")] >= 1
    assert kept == 2  # one per customer and workflow, however often refused
    with services.sessions() as session, session.begin():  # customers/redact erases them
        erase_customer(session, 1, "502", BOB)
    with services.sessions() as session:
        left = session.scalars(select(CustomerRefusal.customer_external_id)).all()
    assert left == ["501"]


def test_explain_of_an_unknown_address_is_refused(shop, runner):
    result = runner.invoke(main, ["explain", SHOP, "nobody@example.com"])
    assert result.exit_code == 1 and "no customer" in result.output


def test_customer_view_api_is_token_protected_and_shop_isolated(send_webhook, at, client, services):
    from plugin.storage.models import Shop

    _store(send_webhook, at)
    other = "other-shop.myshopify.com"
    with services.sessions() as session, session.begin():
        session.add(Shop(domain=other, platform="shopify", settings={}))
    url = "/api/customers/explain?email=ada@example.com"
    assert client.get(url).status_code == 401
    answer = client.get(url, headers=auth())
    assert answer.status_code == 200
    assert _workflow(answer.json, "cart_abandonment")["enrolled"]
    assert client.get(url, headers=auth(other)).status_code == 404  # another shop's customer
    assert client.get("/api/customers/explain?email=x", headers=auth()).status_code == 422


def test_activity_keeps_the_customer_asked_for(send_webhook, at, client):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-ada", T0))
    send_webhook(
        "checkouts/create", payloads.checkout("tok-cy", T0, email="cy@example.com", customer_id=503)
    )
    at(T0 + timedelta(hours=4, minutes=1))
    everyone = client.get("/api/activity", headers=auth()).json["activity"]
    assert {row["customer"] for row in everyone} == {"501", "503"}
    for asked in ("503", "cy@example.com"):
        rows = client.get(f"/api/activity?customer={asked}", headers=auth()).json["activity"]
        assert rows and {row["customer"] for row in rows} == {"503"}


def test_orders_after_messages_names_the_latest_message_before_each():
    messages = [
        {"id": 1, "workflow": "a", "sent_at": "2026-03-02T10:00:00+00:00"},
        {"id": 2, "workflow": "b", "sent_at": "2026-03-04T10:00:00+00:00"},
    ]
    orders = [
        {"id": "o1", "created_at": "2026-03-01T10:00:00+00:00"},
        {"id": "o2", "created_at": "2026-03-03T10:00:00+00:00"},
        {"id": "o3", "created_at": "2026-03-05T10:00:00+00:00"},
    ]
    found = orders_after_messages(messages, orders)
    assert [(o["id"], o["after_message"]) for o in found] == [("o2", 1), ("o3", 2)]


def _row_counts(services) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def _stricter(runner, tmp_path):  # type: ignore[no-untyped-def]
    shown = runner.invoke(main, ["workflows", "show", SHOP, "cart_abandonment"])
    assert shown.exit_code == 0, shown.output
    definition = json.loads(shown.output[shown.output.index("{") :])
    strict = copy.deepcopy(definition)
    for step in strict["steps"]:
        for condition in step["conditions"]["all"]:
            if condition["name"] == "checkout_value":
                condition["value"] = 100
    path = tmp_path / "strict.json"
    path.write_text(json.dumps(strict))  # as shown: the CLI takes "enabled" and "version" back
    return {k: v for k, v in strict.items() if k not in ("enabled", "version")}, path


def _two_checkouts(send_webhook, at) -> None:  # type: ignore[no-untyped-def]
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-ada", T0))
    send_webhook("customers/create", payloads.customer(503, email="cy@example.com"))
    send_webhook(
        "customers_email_marketing_consent/update",
        payloads.consent(503, email="cy@example.com"),
    )
    send_webhook(
        "checkouts/create",
        payloads.checkout("tok-cy", T0, email="cy@example.com", customer_id=503, price="150.00"),
    )
    at(T0 + timedelta(hours=1))


def test_backtest_of_a_stricter_draft_sends_less_and_writes_nothing(
    send_webhook, at, runner, services, tmp_path
):
    _two_checkouts(send_webhook, at)
    _strict, path = _stricter(runner, tmp_path)
    before = _row_counts(services)
    end = (T0 + timedelta(days=2)).isoformat()
    result = runner.invoke(
        main,
        ["backtest", SHOP, "cart_abandonment", "--definition", str(path), "--json", "--now", end],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["live"]["enrolled"] == report["draft"]["enrolled"] == 2
    assert report["live"]["would_send"] == 4  # reminder and offer, both customers
    assert report["draft"]["would_send"] == 2  # Ada's 60.00 cart no longer qualifies
    assert sum(report["draft"]["skipped"].values()) == 2
    assert [row["subject"] for row in report["changed"]] == ["tok-ada"]
    assert _row_counts(services) == before  # nothing was written
    text = runner.invoke(main, ["backtest", SHOP, "cart_abandonment", "--now", end])
    assert text.exit_code == 0 and "would send" in text.output


def test_preview_impact_answers_before_a_save(send_webhook, at, client, runner, tmp_path, clock):
    _two_checkouts(send_webhook, at)
    strict, _path = _stricter(runner, tmp_path)
    clock.now = T0 + timedelta(days=2)
    url = "/api/workflows/cart_abandonment/backtest"
    answer = client.post(url, json={"definition": strict, "days": 7}, headers=auth())
    assert answer.status_code == 200, answer.json
    assert answer.json["draft"]["would_send"] < answer.json["live"]["would_send"]
    assert client.post(url, json={"days": 0}, headers=auth()).status_code == 422
    bad = {**strict, "steps": "no"}
    assert client.post(url, json={"definition": bad}, headers=auth()).status_code == 422
    assert client.post(url, data=b"{nope", headers=auth()).status_code == 400
    sweep = client.post("/api/workflows/lead_nurturing/backtest", json={}, headers=auth())
    assert sweep.status_code == 422 and "sweep" in sweep.json["error"]
    assert client.post(url, json={}).status_code == 401


def test_each_message_says_delivered_opened_clicked_and_bounced(
    send_webhook, at, runner, client, services
):
    services.settings["SENDGRID_EVENT_PUBLIC_KEY"] = PUBLIC
    _two_checkouts(send_webhook, at)
    at(T0 + timedelta(hours=4, minutes=1))  # both reminders kept
    with services.sessions() as session:
        ids = dict(
            session.execute(
                select(OutboxMessage.customer_external_id, OutboxMessage.id).where(
                    OutboxMessage.kind == "email"
                )
            ).all()
        )
    ada, cy = "ada@example.com", "cy@example.com"
    moment = T0 + timedelta(hours=4, minutes=2)
    events = [
        message_event("delivered", ids["501"], ada, moment),
        message_event("open", ids["501"], ada, moment + timedelta(hours=1)),
        message_event("click", ids["501"], ada, moment + timedelta(hours=1), url="https://x/"),
        message_event("bounce", ids["503"], cy, moment),
    ]
    assert post_events(client, events).status_code == 200
    at(T0 + timedelta(hours=5))
    expected = {ada: ["kept", "delivered", "opened", "clicked"], cy: ["kept", "bounced"]}
    for email, states in expected.items():
        [episode] = _workflow(_explain(runner, email), "cart_abandonment")["episodes"]
        [message] = episode["messages"]
        assert [message["state"], *(e["state"] for e in message["events"])] == states
        answer = client.get(f"/api/customers/explain?email={email}", headers=auth())
        [episode] = _workflow(answer.json, "cart_abandonment")["episodes"]
        assert [e["state"] for e in episode["messages"][0]["events"]] == states[1:]
    text = runner.invoke(main, ["explain", SHOP, ada])
    assert text.exit_code == 0 and "kept" in text.output and "delivered" in text.output
