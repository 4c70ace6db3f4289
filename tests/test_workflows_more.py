"""Welcome series, topic nurture, lead nurturing and the sales-rep alert, end to end:
signed webhooks and storefront requests in, enrollments, decisions and outbox rows out."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from plugin.identity import visitor_token
from plugin.shop_settings.workflows import save_workflow, shop_workflows
from plugin.storage.models import Episode, Step
from rules.definitions import shipped_workflows
from tests.support import payloads
from tests.support.clock import T0
from tests.support.shop import SHOP
from tests.support.workflows import enable, episodes, new_subscriber, outbox

VID = "visitor-0123456789abcdef"


def iso(at: datetime) -> str:
    return at.isoformat()


def steps(services, workflow: str) -> dict[str, tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        rows = session.execute(
            select(Step.step_id, Step.state, Step.reason)
            .join(Episode, Episode.id == Step.episode_id)
            .where(Episode.workflow == workflow)
        ).all()
    return {step_id: (state, reason) for step_id, state, reason in rows}


# --- welcome series --------------------------------------------------------------------------


def test_welcome_series_sends_now_then_two_and_five_days_later(send_webhook, services, at):
    enable(services, "welcome_series")
    new_subscriber(send_webhook, T0)
    at(T0 + timedelta(minutes=5))
    assert [m.template for m in outbox(services, "welcome_series")] == ["welcome"]
    at(T0 + timedelta(days=2, minutes=5))
    at(T0 + timedelta(days=5, minutes=5))
    sent = outbox(services, "welcome_series")
    assert [m.template or m.kind for m in sent] == [
        "welcome",
        "welcome_bestsellers",
        "create_discount",
        "welcome_offer",
    ]
    assert all(m.to_email in ("ada@example.com", None) for m in sent)
    # the links identify the reader to the storefront script with a signed token
    assert "nudge_t=" in sent[0].preview_html
    [episode] = episodes(services, "welcome_series")
    assert episode.state == "completed"


def test_welcome_series_is_off_until_the_merchant_switches_it_on(send_webhook, services, at):
    new_subscriber(send_webhook, T0)
    at(T0 + timedelta(minutes=5))
    assert episodes(services, "welcome_series") == []
    with services.sessions() as session:
        assert shop_workflows(session, 1)["welcome_series"].enabled is False


def test_first_order_exits_the_welcome_series(send_webhook, services, at):
    enable(services, "welcome_series")
    new_subscriber(send_webhook, T0)
    at(T0 + timedelta(minutes=5))
    send_webhook("orders/create", payloads.order(9001, T0 + timedelta(days=1)))
    at(T0 + timedelta(days=6))
    [episode] = episodes(services, "welcome_series")
    assert episode.state == "exited" and episode.exit_reason == "exit: order_placed"
    assert [m.template for m in outbox(services, "welcome_series")] == ["welcome"]
    assert steps(services, "welcome_series")["best_sellers"][0] == "cancelled"


def test_welcome_step_is_skipped_once_consent_is_withdrawn(send_webhook, services, at):
    enable(services, "welcome_series")
    new_subscriber(send_webhook, T0)
    at(T0 + timedelta(minutes=5))
    send_webhook(
        "customers_email_marketing_consent/update",
        payloads.consent(subscribed=False, at=iso(T0 + timedelta(days=1))),
    )
    at(T0 + timedelta(days=2, minutes=5))
    state, reason = steps(services, "welcome_series")["best_sellers"]
    assert state == "skipped" and reason is not None and "Accepts marketing email: no" in reason


def test_already_subscribed_customers_are_not_welcomed_again(send_webhook, services, at):
    enable(services, "welcome_series")
    # imported: created now, but subscribed long before (consent time from the old store)
    send_webhook(
        "customers/create",
        payloads.customer(777, email="old@example.com", created_at=iso(T0), updated_at=iso(T0)),
    )
    send_webhook(
        "customers_email_marketing_consent/update",
        payloads.consent(777, email="old@example.com", at="2024-05-01T10:00:00+00:00"),
    )
    # a new subscriber, who later unsubscribes and subscribes again
    new_subscriber(send_webhook, T0)
    at(T0 + timedelta(minutes=5))
    send_webhook(
        "customers_email_marketing_consent/update",
        payloads.consent(subscribed=False, at=iso(T0 + timedelta(hours=1))),
    )
    send_webhook(
        "customers_email_marketing_consent/update",
        payloads.consent(at=iso(T0 + timedelta(hours=2))),
    )
    at(T0 + timedelta(hours=3))
    assert [e.customer_external_id for e in episodes(services, "welcome_series")] == ["501"]


# --- topic nurture -----------------------------------------------------------------------------


def topic_series(topic: str) -> dict:
    definition = shipped_workflows()["topic_nurture"]
    definition["name"] = f"topic_{topic}"
    definition["title"] = f"Topic: {topic}"
    definition["trigger"]["topic"] = topic
    definition["default_enabled"] = True
    return definition


def add_topic(services, topic: str) -> None:  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        save_workflow(session, 1, topic_series(topic), enabled=True)


def tag(send_webhook, tags: list[str], customer_id: int = 501) -> None:  # type: ignore[no-untyped-def]
    send_webhook(
        "customer.tags_added",
        {"customerId": f"gid://shopify/Customer/{customer_id}", "tags": tags},
    )


def test_a_topic_tag_enrolls_in_that_topics_series_every_three_days(
    send_webhook, services, at, clock
):
    add_topic(services, "skincare")
    enable(services, "topic_nurture")
    new_subscriber(send_webhook, T0)
    clock.now = T0 + timedelta(minutes=1)
    tag(send_webhook, ["vip", "topic:skincare"])
    at(T0 + timedelta(minutes=5))
    # its own series, not the catch-all
    assert [e.subject for e in episodes(services, "topic_skincare")] == ["topic:skincare:501"]
    assert episodes(services, "topic_nurture") == []
    at(T0 + timedelta(days=3, minutes=5))
    at(T0 + timedelta(days=6, minutes=5))
    sent = outbox(services, "topic_skincare")
    assert [m.template for m in sent] == ["topic_nurture", "topic_guide", "topic_picks"]
    assert "skincare" in sent[0].subject


def test_a_topic_without_its_own_series_goes_to_the_catch_all(send_webhook, services, at, clock):
    add_topic(services, "skincare")
    enable(services, "topic_nurture")
    new_subscriber(send_webhook, T0)
    clock.now = T0 + timedelta(minutes=1)
    tag(send_webhook, ["topic:Hair Care"])
    at(T0 + timedelta(minutes=5))
    assert episodes(services, "topic_skincare") == []
    [episode] = episodes(services, "topic_nurture")
    assert episode.subject == "topic:hair-care:501"
    [first] = outbox(services, "topic_nurture")
    assert "hair care" in first.subject


def test_topic_series_skips_without_consent_and_exits_on_order(send_webhook, services, at, clock):
    enable(services, "topic_nurture")
    send_webhook("customers/create", payloads.customer(created_at=iso(T0), updated_at=iso(T0)))
    clock.now = T0 + timedelta(minutes=1)
    tag(send_webhook, ["topic:tea"])
    at(T0 + timedelta(minutes=5))
    state, reason = steps(services, "topic_nurture")["introduction"]
    assert state == "skipped" and "Accepts marketing email: no" in (reason or "")
    send_webhook("orders/create", payloads.order(9002, T0 + timedelta(days=1)))
    at(T0 + timedelta(days=1, hours=1))
    [episode] = episodes(services, "topic_nurture")
    assert episode.state == "exited"
    assert outbox(services, "topic_nurture") == []


def test_topic_workflows_validate_their_topic(services, shop):
    bad = topic_series("skincare")
    bad["trigger"]["topic"] = "Skin Care!"
    with services.sessions() as session, pytest.raises(ValueError, match="trigger.topic"):
        save_workflow(session, shop.id, bad)


# --- lead nurturing ---------------------------------------------------------------------------


def test_lead_nurturing_after_seven_days_then_every_four_until_an_order(send_webhook, services, at):
    enable(services, "lead_nurturing")
    new_subscriber(send_webhook, T0)
    new_subscriber(send_webhook, T0, customer_id=502, email="bo@example.com")
    send_webhook(
        "orders/create",
        payloads.order(9003, T0 + timedelta(days=1), customer_id=502, email="bo@example.com"),
    )
    at(T0 + timedelta(days=6))
    assert episodes(services, "lead_nurturing") == []  # not a lead for 7 days yet
    at(T0 + timedelta(days=7, hours=1))
    # the buyer is not a lead at all
    assert [e.customer_external_id for e in episodes(services, "lead_nurturing")] == ["501"]
    at(T0 + timedelta(days=11, hours=1))
    assert [m.template for m in outbox(services, "lead_nurturing")] == [
        "lead_guide",
        "lead_stories",
    ]
    send_webhook("orders/create", payloads.order(9004, T0 + timedelta(days=12)))
    at(T0 + timedelta(days=16))
    [episode] = episodes(services, "lead_nurturing")
    assert episode.state == "exited"
    assert steps(services, "lead_nurturing")["offer"][0] == "cancelled"


def test_switching_lead_nurturing_on_leaves_long_standing_subscribers_alone(
    send_webhook, services, at
):
    new_subscriber(send_webhook, T0)  # subscribed long before the merchant switched it on
    at(T0 + timedelta(days=60))
    new_subscriber(send_webhook, T0 + timedelta(days=55), customer_id=502, email="bo@example.com")
    at(T0 + timedelta(days=61))
    enable(services, "lead_nurturing")
    at(T0 + timedelta(days=62, hours=1))  # the next daily sweep
    assert [e.customer_external_id for e in episodes(services, "lead_nurturing")] == ["502"]


def test_lead_nurturing_step_skipped_for_an_unsubscribed_lead(send_webhook, services, at):
    enable(services, "lead_nurturing")
    new_subscriber(send_webhook, T0)
    at(T0 + timedelta(days=7, hours=1))
    send_webhook(
        "customers_email_marketing_consent/update",
        payloads.consent(subscribed=False, at=iso(T0 + timedelta(days=8))),
    )
    at(T0 + timedelta(days=11, hours=1))
    state, reason = steps(services, "lead_nurturing")["stories"]
    assert state == "skipped" and "Accepts marketing email: no" in (reason or "")


# --- sales-rep alert --------------------------------------------------------------------------


def view(client, services, path: str, customer: str | None = "501", vid: str = VID):  # type: ignore[no-untyped-def]
    body = {"vid": vid, "type": "page_view", "path": path, "title": path.strip("/")}
    if customer is not None:
        body["t"] = visitor_token(services.settings["SECRET_KEY"], 1, customer)
    response = client.post(f"/storefront/{SHOP}/events", data=json.dumps(body))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_sales_rep_alert_after_three_high_intent_views_goes_to_the_assigned_rep(
    send_webhook, client, services, at, clock
):
    enable(services, "sales_rep_alert", settings={"staff_email": "owner@shop.example"})
    new_subscriber(send_webhook, T0)
    send_webhook("orders/create", payloads.order(9005, T0 - timedelta(days=30)))
    clock.now = T0 + timedelta(minutes=1)
    tag(send_webhook, ["rep:dana@shop.example"])
    at(T0 + timedelta(minutes=2))
    view(client, services, "/products/kettle")
    view(client, services, "/pages/pricing")
    view(client, services, "/pages/wholesale")
    assert episodes(services, "sales_rep_alert") == []
    view(client, services, "/pages/pricing")  # the third high-intent view
    at(T0 + timedelta(minutes=10))
    [alert] = outbox(services, "sales_rep_alert")
    assert alert.kind == "notify_staff" and alert.to_email == "dana@shop.example"
    assert "Ada Lovelace" in alert.subject
    for shown in ("/pages/pricing", "/pages/wholesale", "products/kettle", "1 order"):
        assert shown in alert.preview_html
    # at most one alert per customer per window
    for _ in range(3):
        view(client, services, "/pages/pricing")
    at(T0 + timedelta(hours=5))
    assert len(outbox(services, "sales_rep_alert")) == 1
    clock.now = T0 + timedelta(days=3, hours=1)
    for _ in range(3):
        view(client, services, "/pages/pricing")
    at(T0 + timedelta(days=3, hours=2))
    assert len(outbox(services, "sales_rep_alert")) == 2


def test_anonymous_views_never_alert(send_webhook, client, services, at, clock):
    enable(services, "sales_rep_alert", settings={"staff_email": "owner@shop.example"})
    new_subscriber(send_webhook, T0)
    clock.now = T0 + timedelta(minutes=1)
    for _ in range(5):
        # a visitor claiming to be customer 501 without a signed token is still anonymous
        body = {"vid": VID, "type": "page_view", "path": "/pages/pricing", "customer_id": "501"}
        assert client.post(f"/storefront/{SHOP}/events", data=json.dumps(body)).status_code == 200
    at(T0 + timedelta(hours=1))
    assert episodes(services, "sales_rep_alert") == []


def test_a_large_abandoned_cart_alerts_the_staff_address(send_webhook, services, at):
    enable(services, "sales_rep_alert", settings={"staff_email": "owner@shop.example"})
    new_subscriber(send_webhook, T0)
    send_webhook("checkouts/create", payloads.checkout("big", T0, price="450.00"))
    send_webhook("checkouts/create", payloads.checkout("small", T0, price="40.00", customer_id=502))
    at(T0 + timedelta(minutes=30))
    assert episodes(services, "sales_rep_alert") == []  # not idle for an hour yet
    at(T0 + timedelta(hours=1, minutes=5))
    [alert] = outbox(services, "sales_rep_alert")
    assert alert.to_email == "owner@shop.example"
    assert "450.00" in alert.preview_html
    [episode] = episodes(services, "sales_rep_alert")
    assert episode.customer_external_id == "501"
