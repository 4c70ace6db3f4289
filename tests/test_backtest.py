"""`nudge backtest` replays what the worker applies besides the rules: the shop's send
window and frequency cap, consent and suppressions as they stood at each decision, and the
sweeps that start time-triggered workflows."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from plugin.cli import main
from tests.support import payloads
from tests.support.clock import T0
from tests.support.sendgrid_events import PUBLIC, post_events
from tests.support.workflows import enable, subscribe

SHOP = "test-shop.myshopify.com"


@pytest.fixture
def runner(services, monkeypatch):  # type: ignore[no-untyped-def]
    """`nudge` on the test app's database."""
    monkeypatch.setenv("NUDGE_DATABASE_URL", services.settings["DATABASE_URL"])
    monkeypatch.setenv("NUDGE_SECRET_KEY", services.settings["SECRET_KEY"])
    return CliRunner()


def _live(runner, workflow: str = "cart_abandonment") -> dict:  # type: ignore[no-untyped-def]
    shown = runner.invoke(main, ["workflows", "show", SHOP, workflow])
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.output[shown.output.index("{") :])


def _backtest(runner, tmp_path, end: datetime, draft: dict | None = None, **options) -> dict:  # type: ignore[no-untyped-def]
    workflow = options.pop("workflow", "cart_abandonment")
    args = ["backtest", SHOP, workflow, "--json", "--now", end.isoformat()]
    if draft is not None:
        path = tmp_path / "draft.json"
        path.write_text(json.dumps(draft))
        args += ["--definition", str(path)]
    args += [str(part) for pair in options.items() for part in (f"--{pair[0]}", pair[1])]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    report: dict = json.loads(result.output)
    return report


def _sooner_offer(live: dict, hours: int) -> dict:
    """The draft: the offer ``hours`` after the checkout's activity instead of 24."""
    draft = copy.deepcopy(live)
    draft["steps"][1]["delay"]["hours"] = hours
    return draft


@pytest.mark.parametrize("capped_action", ["drop", "defer"])
def test_a_draft_that_sends_more_often_than_the_cap_shows_the_cap(
    send_webhook, at, services, runner, tmp_path, capped_action
):
    enable(services, settings={"capped_action": capped_action})
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-ada", T0))
    at(T0 + timedelta(minutes=1))
    # the offer two hours after the reminder, inside the 16-hour cap
    draft = _sooner_offer(_live(runner), hours=6)
    report = _backtest(runner, tmp_path, T0 + timedelta(days=3), draft)
    assert report["live"]["would_send"] == 2 and report["live"]["held"] == {}
    if capped_action == "drop":
        assert report["draft"]["would_send"] == 1
        assert report["draft"]["skipped"] == {"frequency cap (dropped)": 1}
    else:  # deferred to the cap's release (T0+20 h, 06:00), then the window's opening
        assert report["draft"]["would_send"] == 2
        assert report["draft"]["held"] == {"frequency cap": 1, "outside send window": 1}
    [changed] = report["changed"]
    assert "offer: sends" in changed["live"] and "frequency cap" in changed["draft"]


def test_the_send_window_moves_a_send_and_what_follows_it(
    send_webhook, at, services, runner, tmp_path
):
    subscribe(send_webhook)
    evening = T0.replace(hour=20)  # the reminder falls due at midnight, outside 09-21
    send_webhook("checkouts/create", payloads.checkout("tok-ada", evening))
    # she orders at 05:00, before the window opens: the reminder waits, and never goes
    send_webhook("orders/create", payloads.order(9001, evening + timedelta(hours=9)))
    at(evening + timedelta(hours=10))
    report = _backtest(runner, tmp_path, evening + timedelta(days=3))
    live = report["live"]
    assert live["held"] == {"outside send window": 1}
    assert live["would_send"] == 0 and live["converted"] == 0
    enable(services, settings={"send_window": {"start_hour": 0, "end_hour": 24}})
    always = _backtest(runner, tmp_path, evening + timedelta(days=3))["live"]
    assert always["held"] == {} and always["would_send"] == 1 and always["converted"] == 1


def test_consent_is_replayed_as_it_stood_at_each_decision(
    send_webhook, at, services, client, runner, tmp_path
):
    """Ada unsubscribes (a SendGrid unsubscribe) and Cy withdraws consent in the shop
    (customers/update), both halfway through: each gets sends before and none after."""
    services.settings["SENDGRID_EVENT_PUBLIC_KEY"] = PUBLIC
    subscribe(send_webhook)
    cy = {"email": "cy@example.com", "customer_id": 503}
    send_webhook("customers/create", payloads.customer(503, email="cy@example.com"))
    send_webhook(
        "customers_email_marketing_consent/update",
        payloads.consent(503, email="cy@example.com"),
    )
    halfway = T0 + timedelta(days=10)
    for day in (0, 20):
        moment = T0 + timedelta(days=day)
        send_webhook("checkouts/create", payloads.checkout(f"tok-ada-{day}", moment))
        send_webhook("checkouts/create", payloads.checkout(f"tok-cy-{day}", moment, **cy))
    unsubscribe = {
        "email": "ada@example.com",
        "event": "unsubscribe",
        "timestamp": int(halfway.timestamp()),
        "sg_event_id": "unsub-ada",
        "nudge_shop": SHOP,
    }
    assert post_events(client, [unsubscribe]).status_code == 200
    send_webhook(
        "customers_email_marketing_consent/update",
        payloads.consent(503, email="cy@example.com", subscribed=False, at=halfway.isoformat()),
    )
    at(T0 + timedelta(days=21))
    report = _backtest(runner, tmp_path, T0 + timedelta(days=25), days=30)["live"]
    # before: reminder and offer for each; after: both steps skipped for each
    assert report["enrolled"] == 4
    assert report["would_send"] == 4
    assert report["skipped"] == {"Accepts marketing email (needs yes)": 4}


def test_a_stricter_reengagement_draft_replays_its_own_sweeps(
    send_webhook, at, services, client, runner, tmp_path
):
    """Ada's last order was 150 days before the end, Cy's 100 and Eve's 150 (but she
    clicked an email 70 days before the end); Max never ordered. The live sweep (90 days
    inactive) finds Ada and Cy; a draft asking for 120 days finds only Ada, and later."""
    services.settings["SENDGRID_EVENT_PUBLIC_KEY"] = PUBLIC
    end = (T0 + timedelta(days=200)).replace(hour=12)
    people = {501: ("ada", 150), 503: ("cy", 100), 504: ("eve", 150), 505: ("max", None)}
    for number, (name, days_ago) in people.items():
        email = f"{name}@example.com"
        send_webhook("customers/create", payloads.customer(number, email=email))
        send_webhook("customers_email_marketing_consent/update", payloads.consent(number, email))
        if days_ago is not None:
            placed = end - timedelta(days=days_ago)
            send_webhook(
                "orders/create",
                payloads.order(9000 + number, placed, customer_id=number, email=email),
            )
    click = {
        "email": "eve@example.com",
        "event": "click",
        "timestamp": int((end - timedelta(days=70)).timestamp()),
        "sg_event_id": "click-eve",
        "nudge_shop": SHOP,
        "url": "https://x/",
    }
    assert post_events(client, [click]).status_code == 200
    at(end)
    live = _live(runner, "reengagement")
    draft = copy.deepcopy(live)
    draft["trigger"]["inactive_days"] = 120
    for condition in draft["steps"][0]["conditions"]["all"]:
        if condition["name"] in ("days_since_last_order", "days_since_last_engagement"):
            condition["value"] = 120
    report = _backtest(runner, tmp_path, end, draft, workflow="reengagement", days=60)
    assert report["live"]["enrolled"] == 2 and report["draft"]["enrolled"] == 1
    assert report["draft"]["would_send"] < report["live"]["would_send"]
    changed = {row["subject"]: row for row in report["changed"]}
    assert set(changed) == {"501", "503"}  # Ada later, Cy never
    assert changed["503"]["draft"] is None and changed["503"]["live"].startswith("winback: sends")
    assert "not due yet" in changed["501"]["draft"]


def test_the_purchase_cycle_sweep_is_replayed_with_the_rhythm_as_it_stood(
    send_webhook, at, services, runner, tmp_path
):
    """Ada ordered 95 and 65 days before the end (every 30 days: due again 35 days before
    the end), and again 20 days before; Cy 110, 90 and 70 days before (due 50 days before).
    The reorder sweep finds each 3 days before, on their rhythm then (Ada's is 37.5 days
    now); a draft asking for three orders reminds only Cy."""
    end = (T0 + timedelta(days=200)).replace(hour=12)
    people = {501: ("ada", (95, 65, 20)), 503: ("cy", (110, 90, 70))}
    for number, (name, ages) in people.items():
        email = f"{name}@example.com"
        send_webhook("customers/create", payloads.customer(number, email=email))
        send_webhook("customers_email_marketing_consent/update", payloads.consent(number, email))
        for n, days_ago in enumerate(ages):
            placed = end - timedelta(days=days_ago)
            order = payloads.order(number * 10 + n, placed, customer_id=number, email=email)
            send_webhook("orders/create", order)
    at(end)
    live = _live(runner, "purchase_cycle")
    draft = copy.deepcopy(live)
    rhythm = draft["steps"][0]["conditions"]["all"][0]["any"][0]["all"]
    next(c for c in rhythm if c["name"] == "orders_count")["value"] = 3
    report = _backtest(runner, tmp_path, end, draft, workflow="purchase_cycle", days=60)
    assert report["live"]["enrolled"] == report["draft"]["enrolled"] == 2
    assert report["live"]["would_send"] == 2 and report["draft"]["would_send"] == 1
    [changed] = report["changed"]
    assert changed["subject"] == "5011"  # Ada's latest order
    assert changed["live"] == "remind: sends" and "skipped" in changed["draft"]


def test_a_replayed_sweep_refuses_whom_the_pipeline_enrolled_before_the_window(
    send_webhook, at, services, runner, tmp_path
):
    """The pipeline's own sweep enrolled Ada 70 days before the end, inside re-engagement's
    180-day gap: the replayed sweeps of the last 60 days find only Cy."""
    enable(services, "reengagement")
    end = (T0 + timedelta(days=200)).replace(hour=12)
    for number, name, days_ago in ((501, "ada", 170), (503, "cy", 100)):
        email = f"{name}@example.com"
        send_webhook("customers/create", payloads.customer(number, email=email))
        send_webhook("customers_email_marketing_consent/update", payloads.consent(number, email))
        placed = end - timedelta(days=days_ago)
        send_webhook(
            "orders/create", payloads.order(9000 + number, placed, customer_id=number, email=email)
        )
    at(end - timedelta(days=70))  # the live sweep finds Ada (lapsed), not Cy (not yet)
    report = _backtest(runner, tmp_path, end, workflow="reengagement", days=60)["live"]
    assert report["enrolled"] == 1
    assert report["would_send"] >= 1
