"""`nudge report` and the results behind it, end to end: webhooks in, a reminder kept,
SendGrid's signed events, an order, and what is credited to which message."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from plugin.cli import main
from plugin.results.report import shop_report
from plugin.storage.models import OutboxMessage, Shop
from rules.scheduling import in_holdout
from rules.stats import MIN_GROUP, newcombe_difference
from tests.support import payloads
from tests.support.clock import T0
from tests.support.results import abandoned_carts_with_holdout, with_cart_holdout
from tests.support.sendgrid_events import PUBLIC, message_event, post_events
from tests.support.session_tokens import session_token

TREATED, HELD_OUT, NO_CONSENT = 502, 501, 503


def abandon(send_webhook, customer: int, consent: bool = True) -> None:  # type: ignore[no-untyped-def]
    email = f"c{customer}@example.com"
    send_webhook("customers/create", payloads.customer(customer, email=email))
    send_webhook(
        "customers_email_marketing_consent/update",
        payloads.consent(customer, email=email, subscribed=consent),
    )
    checkout = payloads.checkout(
        f"tok-{customer}", T0, customer_id=customer, email=email, accepts_marketing=consent
    )
    send_webhook("checkouts/create", checkout)


def buy(send_webhook, customer: int, hours: float, price: str = "60.00") -> None:  # type: ignore[no-untyped-def]
    send_webhook(
        "orders/create",
        payloads.order(
            9000 + customer,
            T0 + timedelta(hours=hours),
            checkout_token=f"tok-{customer}",
            customer_id=customer,
            email=f"c{customer}@example.com",
            price=price,
        ),
    )


@pytest.fixture
def story(services, shop, send_webhook, client, at):  # type: ignore[no-untyped-def]
    """Three abandoned checkouts under a 50 % holdout: one reminded, who clicks and buys;
    one held out, who buys anyway; one without consent, whose reminder is blocked."""
    assert not in_holdout(str(TREATED), "cart_abandonment", 50)
    assert in_holdout(str(HELD_OUT), "cart_abandonment", 50)
    services.settings["SENDGRID_EVENT_PUBLIC_KEY"] = PUBLIC
    with_cart_holdout(services, 50)
    for customer in (TREATED, HELD_OUT):
        abandon(send_webhook, customer)
    abandon(send_webhook, NO_CONSENT, consent=False)
    at(T0 + timedelta(hours=4, minutes=1))
    with services.sessions() as session:
        [reminder] = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email"))
    assert (reminder.customer_external_id, reminder.state) == (str(TREATED), "kept")
    email = f"c{TREATED}@example.com"
    events = [
        message_event("delivered", reminder.id, email, T0 + timedelta(hours=4, minutes=2)),
        message_event("open", reminder.id, email, T0 + timedelta(hours=5)),
        message_event("click", reminder.id, email, T0 + timedelta(hours=5), url="https://x/"),
    ]
    assert post_events(client, events).status_code == 200
    buy(send_webhook, TREATED, hours=30)  # past the delivery's day, inside the click's 5
    buy(send_webhook, HELD_OUT, hours=6, price="25.00")
    at(T0 + timedelta(days=2))
    return reminder


def test_an_order_after_a_click_is_credited_to_the_message_and_holdouts_never_are(services, story):
    with services.sessions() as session:
        shop = session.scalars(select(Shop)).one()
        report = shop_report(session, shop, T0 + timedelta(days=3), days=7)
    cart = report["workflows"]["cart_abandonment"]
    counts = {k: cart[k] for k in ("sent", "kept", "delivered", "opened", "clicked")}
    assert counts == {"sent": 0, "kept": 1, "delivered": 1, "opened": 1, "clicked": 1}
    # the held-out buyer's 25.00 is nobody's: only the reminded customer's order is credited
    assert (cart["recipients"], cart["converted"], cart["orders"], cart["revenue"]) == (
        1,
        1,
        1,
        60.0,
    )
    assert cart["conversion_rate"] == 1.0 and cart["revenue_per_recipient"] == 60.0
    assert cart["steps"]["reminder"]["revenue"] == 60.0
    lift = cart["lift"]
    assert (lift["treated"], lift["holdout"]) == (1, 1)
    assert (lift["treated_rate"], lift["holdout_rate"], lift["difference"]) == (1.0, 1.0, 0.0)
    assert lift["ci95"] is None and lift["enough_data"] is False  # 1 against 1
    assert lift["revenue_per_recipient"]["difference"] == 60.0 - 25.0
    # both of the customer's steps met the missing consent
    assert cart["skipped"]["blocked"] == {"Accepts marketing email (needs yes)": 2}
    assert cart["skipped"]["as_designed"]["holdout group (never messaged)"] == 1

    # a period that starts after the email, before the order: the order is the period's,
    # the email is not (it counts for the period it was written in)
    with services.sessions() as session:
        later = shop_report(session, session.scalars(select(Shop)).one(), T0 + timedelta(days=3), 2)
    cart = later["workflows"]["cart_abandonment"]
    assert (cart["kept"], cart["recipients"], cart["orders"], cart["revenue"]) == (0, 0, 1, 60.0)
    assert cart["converted"] == 0 and cart["conversion_rate"] is None


def test_a_shorter_click_window_credits_nothing_and_the_settings_refuse_nonsense(
    services, story, client
):
    headers = {"Authorization": f"Bearer {session_token()}"}
    for bad in ({"click_window_days": 0}, {"delivery_window_days": -1}, {"x": 1}, "5"):
        response = client.put("/api/settings", json={"attribution": bad}, headers=headers)
        assert response.status_code == 422, bad
        assert "attribution" in json.dumps(response.json)
    windows = {"click_window_days": 1, "delivery_window_days": 1}
    saved = client.put("/api/settings", json={"attribution": windows}, headers=headers)
    assert saved.status_code == 200, saved.json
    with services.sessions() as session:
        shop = session.scalars(select(Shop)).one()
        cart = shop_report(session, shop, T0 + timedelta(days=3), days=7)["workflows"][
            "cart_abandonment"
        ]
    assert (cart["converted"], cart["revenue"]) == (0, 0.0)  # the order came 25 h after the click


def test_nudge_report_prints_json_and_tables(services, story, monkeypatch):
    monkeypatch.setenv("NUDGE_DATABASE_URL", services.settings["DATABASE_URL"])
    monkeypatch.setenv("NUDGE_SECRET_KEY", "test-secret-key-0123456789abcdef")
    runner = CliRunner()
    args = ["report", "test-shop.myshopify.com", "--days", "7", "--now", "2026-03-05T10:00:00Z"]
    result = runner.invoke(main, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    cart = json.loads(result.output)["workflows"]["cart_abandonment"]
    assert set(cart["lift"]) >= {"treated_rate", "holdout_rate", "difference", "ci95"}
    assert (cart["delivered"], cart["clicked"], cart["converted"], cart["revenue"]) == (
        1,
        1,
        1,
        60.0,
    )
    tables = runner.invoke(main, args, catch_exceptions=False).output
    assert "cart_abandonment" in tables and "60.00" in tables
    assert "not enough" in tables  # 1 against 1: no interval yet


def test_the_page_reads_the_same_report_and_refuses_a_bad_period(services, story, client, clock):
    headers = {"Authorization": f"Bearer {session_token()}"}
    assert client.get("/api/report").status_code == 401
    for bad in ("0", "-1", "abc", "3651", "²", "1e3"):
        assert client.get(f"/api/report?days={bad}", headers=headers).status_code == 422, bad
    clock.now = T0 + timedelta(days=3)
    answer = client.get("/api/report?days=7", headers=headers)
    assert answer.status_code == 200
    with services.sessions() as session:
        shop = session.scalars(select(Shop)).one()
        assert answer.json == json.loads(json.dumps(shop_report(session, shop, clock.now, 7)))
    assert answer.json["workflows"]["cart_abandonment"]["revenue"] == 60.0


def test_with_enough_people_the_lift_gets_its_newcombe_interval(
    services, shop, send_webhook, client, at
):
    size, buyers = MIN_GROUP, (18, 6)
    abandoned_carts_with_holdout(services, send_webhook, client, at, size, buyers)
    with services.sessions() as session:
        report = shop_report(session, session.scalars(select(Shop)).one(), T0 + timedelta(days=3))
    cart = report["workflows"]["cart_abandonment"]
    assert (cart["recipients"], cart["delivered"], cart["converted"]) == (size, size, buyers[0])
    assert cart["revenue"] == 60.0 * buyers[0]  # the held-out buyers' orders are nobody's
    lift = cart["lift"]
    assert (lift["treated"], lift["holdout"]) == (size, size)
    expected = newcombe_difference(buyers[0], size, buyers[1], size)
    assert lift["difference"] == pytest.approx(expected.estimate)
    assert lift["ci95"] == pytest.approx([expected.low, expected.high])
    assert lift["ci95"][0] > 0  # 18 of 30 against 6 of 30
    revenue = lift["revenue_per_recipient"]
    assert revenue["difference"] == pytest.approx(60.0 * (buyers[0] - buyers[1]) / size)
    assert revenue["ci95"][0] < revenue["difference"] < revenue["ci95"][1]


def days_add_up(report: dict) -> None:  # type: ignore[type-arg]
    """Every workflow's days sum to its totals, and every day of the period is there."""
    for name, row in report["workflows"].items():
        days = row["daily"]
        dates = [day["date"] for day in days]
        assert dates == sorted(set(dates)), name
        assert date.fromisoformat(dates[-1]) - date.fromisoformat(dates[0]) == timedelta(
            days=len(dates) - 1
        ), name  # no gaps
        for key in ("sent", "kept", "converted", "orders"):
            assert sum(day[key] for day in days) == row[key], (name, key)
        assert sum(day["revenue"] for day in days) == pytest.approx(row["revenue"]), name


def test_the_daily_series_has_every_day_and_counts_each_buyer_once(services, story):
    with services.sessions() as session:
        shop = session.scalars(select(Shop)).one()
        report = shop_report(session, shop, T0 + timedelta(days=3), days=7)
    days_add_up(report)
    assert report["timezone"] == "UTC"  # the shop has none of its own
    daily = report["workflows"]["cart_abandonment"]["daily"]
    # from the period's start (26 Feb, 10:00) to its end (5 Mar, 10:00): 8 calendar days
    assert [day["date"] for day in daily][::7] == ["2026-02-26", "2026-03-05"]
    busy = {day["date"]: day for day in daily if any(day[k] for k in day if k != "date")}
    assert busy == {
        # the reminder, kept; the held-out shopper's 25.00 that day is nobody's
        "2026-03-02": {"date": "2026-03-02", "sent": 0, "kept": 1, "converted": 0, "orders": 0}
        | {"revenue": 0.0},
        "2026-03-03": {"date": "2026-03-03", "sent": 0, "kept": 0, "converted": 1, "orders": 1}
        | {"revenue": 60.0},
    }


def test_the_days_follow_the_shops_time_zone(services, story, send_webhook, client, at):
    # a second order from the reminded shopper at 04:30 UTC on 4 March: 23:30 on 3 March in
    # New York, still within the click's 5 days
    late = T0.replace(day=4, hour=4, minute=30)
    email = f"c{TREATED}@example.com"
    order = payloads.order(9999, late, customer_id=TREATED, email=email, price="40.00")
    send_webhook("orders/create", order)
    at(T0 + timedelta(days=3))

    def cart_days(timezone: str) -> dict[str, dict]:  # type: ignore[type-arg]
        headers = {"Authorization": f"Bearer {session_token()}"}
        saved = client.put("/api/settings", json={"timezone": timezone}, headers=headers)
        assert saved.status_code == 200, saved.json
        answer = client.get("/api/report?days=7", headers=headers).json
        assert answer["timezone"] == timezone
        days_add_up(answer)
        return {d["date"]: d for d in answer["workflows"]["cart_abandonment"]["daily"]}

    utc = cart_days("UTC")
    assert [utc["2026-03-03"][k] for k in ("converted", "orders", "revenue")] == [1, 1, 60.0]
    # a second order is no second conversion
    assert [utc["2026-03-04"][k] for k in ("converted", "orders", "revenue")] == [0, 1, 40.0]
    new_york = cart_days("America/New_York")
    assert [new_york["2026-03-03"][k] for k in ("converted", "orders", "revenue")] == [1, 2, 100.0]
    assert new_york["2026-03-04"]["orders"] == 0


def test_with_many_buyers_the_days_add_up_and_holdouts_never_count(
    services, shop, send_webhook, client, at
):
    abandoned_carts_with_holdout(services, send_webhook, client, at, MIN_GROUP, (18, 6))
    with services.sessions() as session:
        report = shop_report(session, session.scalars(select(Shop)).one(), T0 + timedelta(days=3))
    days_add_up(report)
    daily = report["workflows"]["cart_abandonment"]["daily"]
    assert len(daily) == 31  # 30 days, partial at both ends
    on_the_day = next(day for day in daily if day["date"] == "2026-03-02")
    # 30 reminders; 18 reminded and 6 held-out shoppers bought: only the 18 count
    assert (on_the_day["kept"], on_the_day["converted"], on_the_day["orders"]) == (30, 18, 18)
    # the next day, the 12 reminded shoppers who did not buy get the offer
    assert [day["kept"] for day in daily if day["kept"]] == [30, 12]


def test_a_time_zone_nudge_does_not_know_gives_utc_days(services, story):
    with services.sessions() as session, session.begin():
        shop = session.scalars(select(Shop)).one()
        shop.settings = {**shop.settings, "timezone": "Mars/Olympus_Mons"}  # stored before checks
    with services.sessions() as session:
        report = shop_report(session, session.scalars(select(Shop)).one(), T0 + timedelta(days=3))
    assert report["timezone"] == "UTC"
    days_add_up(report)
