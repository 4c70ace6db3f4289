"""The settings page driven in a real headless Chromium (Playwright), against the real app
on a local port with a real SQLite database.

Skipped with the reason when Playwright or Chromium is missing, unless CI=true (then it
fails: CI installs Debian's chromium). No request may leave the machine: App Bridge's CDN
script is refused, so these also prove the page works without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import responses
from sqlalchemy import select

from plugin.shopify_app import tokens
from plugin.storage.models import OutboxMessage, Shop
from rules.definitions import shipped_workflows
from tests.support.fake_shopify import FakeAdmin, grant, token_endpoint
from tests.support.session_tokens import session_token
from tests.support.settings_page import (
    ARTIFACTS,
    api_workflow,
    browser_page,
    card,
    make_history,
    open_app,
    saved_versions,
    screenshot,
    serving,
)
from tests.support.shop import SHOP, SHOP_ADDRESS

PLAIN = {"postal_address": SHOP_ADDRESS}  # the test shop's settings before any save


@pytest.fixture
def live_server(app, send_webhook, at) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app on a real port, with a little history so the numbers and activity show."""
    make_history(send_webhook, at)
    with serving(app) as base:
        yield base


@pytest.fixture
def page(live_server) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with browser_page() as page:
        yield page


def test_toggle_condition_and_delay_are_saved_and_survive_a_reload(
    page, live_server, app, services, tmp_path
):
    open_app(page, live_server)
    abandonment = card(page, "cart_abandonment")
    assert "Cart and checkout abandonment" in abandonment.locator("h2").inner_text()
    switch = abandonment.locator("[data-role='enabled']")
    assert switch.get_attribute("aria-checked") == "true"
    switch.click()
    assert switch.get_attribute("aria-checked") == "false"

    abandonment.locator("[data-role='expand']").click()
    reminder = abandonment.locator("[data-step='reminder']")
    # the cart-value condition: a new operator and threshold
    value_row = reminder.locator("[data-path='steps[0].conditions.all[5]']")
    assert value_row.locator("[data-role='variable']").input_value() == "checkout_value"
    value_row.locator("[data-role='operator']").select_option("greater_than")
    value_row = reminder.locator("[data-path='steps[0].conditions.all[5]']")  # redrawn
    value_row.locator("[data-role='value']").fill("35")
    # and a new condition in a nested "any" group, built from the catalog
    reminder.locator("[data-role='add-group']").first.click()
    nested = reminder.locator("[data-path='steps[0].conditions.all[8]']")
    nested.locator("[data-role='group-mode']").select_option("any")
    nested = reminder.locator("[data-path='steps[0].conditions.all[8]']")
    leaf = nested.locator("[data-path='steps[0].conditions.all[8].any[0]']")
    leaf.locator("[data-role='variable']").select_option("customer_tags")
    leaf.locator("input[data-role='value']").fill("vip")
    leaf.locator("input[data-role='value']").press("Enter")
    # the delay: 4 hours -> 6 hours
    reminder.locator("[data-role='delay-amount']").fill("6")
    abandonment.locator("[data-role='save']").click()
    page.wait_for_selector("[data-workflow='cart_abandonment'] .badge:text('Version 1')")
    screenshot(page, tmp_path, "settings-saved.png")

    page.reload()
    page.wait_for_selector("#app[data-ready='true']")
    abandonment = card(page, "cart_abandonment")
    assert abandonment.locator("[data-role='enabled']").get_attribute("aria-checked") == "false"
    abandonment.locator("[data-role='expand']").click()
    reminder = abandonment.locator("[data-step='reminder']")
    row = reminder.locator("[data-path='steps[0].conditions.all[5]']")
    assert row.locator("[data-role='operator']").input_value() == "greater_than"
    assert row.locator("[data-role='value']").input_value() == "35"
    assert reminder.locator("[data-role='delay-amount']").input_value() == "6"
    assert "vip" in reminder.locator("[data-path='steps[0].conditions.all[8]']").inner_text()
    screenshot(page, tmp_path, "settings.png")

    detail = api_workflow(app, "cart_abandonment")
    workflow = detail["workflow"]
    assert workflow["enabled"] is False and workflow["version"] == 1
    reminder_def = workflow["definition"]["steps"][0]
    assert reminder_def["delay"] == {"hours": 6, "from": "checkout_activity"}
    assert reminder_def["conditions"]["all"][5] == {
        "name": "checkout_value",
        "operator": "greater_than",
        "value": 35,
    }
    assert reminder_def["conditions"]["all"][8] == {
        "any": [{"name": "customer_tags", "operator": "contains_all", "value": ["vip"]}]
    }
    assert saved_versions(services, "cart_abandonment") == 1
    assert saved_versions(services, "upsell") == 0  # only the edited workflow was saved


def test_an_invalid_value_is_shown_next_to_its_field_and_nothing_is_saved(
    page, live_server, app, services, tmp_path
):
    open_app(page, live_server)
    upsell = card(page, "upsell")
    upsell.locator("[data-role='expand']").click()
    upsell.locator("[data-role='enabled']").click()
    delay = upsell.locator("[data-role='delay-amount']")
    delay.fill("-2")  # only a delay before the expected re-order may be negative
    value = upsell.locator("[data-path='steps[0].conditions.all[0]'] [data-role='variable']")
    value.select_option("order_value")  # a numeric variable: its value input is a number
    upsell.locator("[data-path='steps[0].conditions.all[0].value']").fill("")
    upsell.locator("[data-role='save']").click()
    page.wait_for_selector("[data-workflow='upsell'] .field-error")

    delay_error = upsell.locator(".delay .field-error")
    assert "negative" in delay_error.inner_text()
    assert delay.get_attribute("aria-invalid") == "true"
    row_error = upsell.locator("[data-path='steps[0].conditions.all[0]'] .field-error")
    assert "expected a number" in row_error.inner_text()
    assert "Nothing was saved" in upsell.locator(".footer-message").inner_text()
    screenshot(page, tmp_path, "settings-errors.png")

    assert saved_versions(services, "upsell") == 0
    assert api_workflow(app, "upsell")["workflow"]["enabled"] is True
    page.reload()
    page.wait_for_selector("#app[data-ready='true']")
    upsell = card(page, "upsell")
    assert upsell.locator("[data-role='enabled']").get_attribute("aria-checked") == "true"


def test_each_sweep_says_what_it_finds_and_lead_nurturings_timing_is_saved(
    page, live_server, app, services
):
    shipped = shipped_workflows()
    swept = {name: d["trigger"] for name, d in shipped.items() if "sweep" in d["trigger"]}
    open_app(page, live_server)

    def starts(name: str) -> str:
        workflow = card(page, name)
        if workflow.locator("[data-role='expand']").get_attribute("aria-expanded") != "true":
            workflow.locator("[data-role='expand']").click()
        return workflow.locator("[data-role='starts']").inner_text()

    said = {name: starts(name) for name in swept}
    assert sorted(said) == ["lead_nurturing", "purchase_cycle", "reengagement", "sales_rep_alert"]
    cycle, lapsed = swept["purchase_cycle"], swept["reengagement"]
    lead, intent = swept["lead_nurturing"], swept["sales_rep_alert"]
    assert "expected re-order date" in said["purchase_cycle"]
    assert f"is within {cycle['lead_days']} days" in said["purchase_cycle"]
    assert (
        f"no order and no email engagement for {lapsed['inactive_days']} days"
        in (said["reengagement"])
    )
    after, within = lead["after_days"], lead["within_days"]
    assert (
        f"never ordered and subscribed between {after} and {after + within} days ago"
        in (said["lead_nurturing"])
    )
    assert (
        f"pages {intent['page_views']} times within {intent['window_hours']} hours"
        in (said["sales_rep_alert"])
    )
    assert (
        f"cart of {intent['cart_value']} or more open for {intent['cart_idle_hours']} hour"
        in (said["sales_rep_alert"])
    )
    assert [name for name, text in said.items() if "re-order" in text] == ["purchase_cycle"]

    nurturing = card(page, "lead_nurturing")
    nurturing.locator("[data-path='trigger.after_days']").fill("-3")
    nurturing.locator("[data-role='save']").click()
    error = nurturing.locator("[data-error-for='trigger.after_days']")
    error.wait_for()
    assert "not negative" in error.inner_text()
    assert saved_versions(services, "lead_nurturing") == 0

    nurturing.locator("[data-path='trigger.after_days']").fill("5")
    nurturing.locator("[data-path='trigger.within_days']").fill("10")
    assert "subscribed between 5 and 15 days ago" in starts("lead_nurturing")
    nurturing.locator("[data-role='save']").click()
    page.wait_for_selector("[data-workflow='lead_nurturing'] .badge:text('Version 1')")
    trigger = api_workflow(app, "lead_nurturing")["workflow"]["definition"]["trigger"]
    assert trigger == {**lead, "after_days": 5, "within_days": 10}

    page.reload()
    page.wait_for_selector("#app[data-ready='true']")
    assert "subscribed between 5 and 15 days ago" in starts("lead_nurturing")
    nurturing = card(page, "lead_nurturing")
    assert nurturing.locator("[data-path='trigger.within_days']").input_value() == "10"
    ARTIFACTS.mkdir(exist_ok=True)
    nurturing.screenshot(path=str(ARTIFACTS / "settings-lead-nurturing.png"))


def test_shop_wide_settings_validate_then_save(page, live_server, app, services):
    open_app(page, live_server)
    settings = page.locator("#shop-settings")
    settings.locator("[data-path='send_window.start_hour']").fill("25")
    settings.locator("[data-path='frequency_cap_hours']").fill("24")
    settings.locator("[data-path='staff_email']").fill("owner@shop.example")
    settings.locator("[data-role='save-settings']").click()
    error = settings.locator("[data-error-for='send_window.start_hour']")
    error.wait_for()
    assert "hour" in error.inner_text()
    with services.sessions() as session:
        assert session.scalar(select(Shop.settings).where(Shop.domain == SHOP)) == PLAIN

    settings.locator("[data-path='send_window.start_hour']").fill("8")
    settings.locator("[data-role='save-settings']").click()
    page.wait_for_selector("#toast:text('saved')")
    page.reload()
    page.wait_for_selector("#app[data-ready='true']")
    settings = page.locator("#shop-settings")
    assert settings.locator("[data-path='send_window.start_hour']").input_value() == "8"
    assert settings.locator("[data-path='frequency_cap_hours']").input_value() == "24"
    with services.sessions() as session:
        stored = session.scalar(select(Shop.settings).where(Shop.domain == SHOP))
    assert stored["send_window"]["start_hour"] == 8 and stored["frequency_cap_hours"] == 24
    assert stored["staff_email"] == "owner@shop.example"


def test_the_storefront_overlay_is_set_on_the_page(page, live_server, services):
    open_app(page, live_server)
    settings = page.locator("#shop-settings")
    settings.locator("[data-path='storefront.delay_seconds']").fill("9999")
    settings.locator("[data-path='storefront.offer']").fill("10% off your first order")
    settings.locator("[data-role='save-settings']").click()
    settings.locator("[data-error-for='storefront.delay_seconds']").wait_for()
    with services.sessions() as session:
        assert session.scalar(select(Shop.settings).where(Shop.domain == SHOP)) == PLAIN

    settings.locator("[data-path='storefront.delay_seconds']").fill("30")
    settings.locator("[data-path='storefront.exit_intent']").uncheck()
    settings.locator("[data-path='storefront.topics']").fill("tea, Skin Care")
    settings.locator("[data-role='save-settings']").click()
    page.wait_for_selector("#toast:text('saved')")
    with services.sessions() as session:
        overlay = session.scalar(select(Shop.settings).where(Shop.domain == SHOP))["storefront"]
    assert (overlay["delay_seconds"], overlay["exit_intent"]) == (30, False)
    assert overlay["offer"] == "10% off your first order"
    assert overlay["topics"] == ["tea", "Skin Care"]


def test_send_a_test_email_to_myself(page, live_server, services):
    with services.sessions() as session, session.begin():
        shop = session.scalar(select(Shop).where(Shop.domain == SHOP))
        shop.settings = {"staff_email": "owner@shop.example"}
    open_app(page, live_server)
    abandonment = card(page, "cart_abandonment")
    abandonment.locator("[data-role='expand']").click()
    offer = abandonment.locator("[data-step='offer']")
    offer.locator("[data-role='test-email']").click()
    result = offer.locator(".test-result")
    result.filter(has_text="Kept, not sent").wait_for()  # no SendGrid key: nothing leaves
    assert "(SendGrid is not configured)" in result.inner_text()
    assert "owner@shop.example" in result.inner_text()
    with services.sessions() as session:
        [message] = session.scalars(
            select(OutboxMessage).where(OutboxMessage.to_email == "owner@shop.example")
        ).all()
    assert message.template == "cart_offer" and message.subject.startswith("[Test]")
    assert "NUDGE-TEST" in (message.preview_html or "")  # the step's discount, as a sample


def test_a_merchant_adds_a_topic_series_and_edits_it_like_any_workflow(
    page, live_server, app, services
):
    open_app(page, live_server)
    topics = page.locator("#topics")
    topics.locator("[data-path='topic']").fill("*")
    topics.locator("[data-role='add-topic']").click()
    topics.locator("[data-error-for='topic']").wait_for()
    assert saved_versions(services, "topic_tea") == 0

    topics.locator("[data-path='topic']").fill("Tea")
    topics.locator("[data-role='add-topic']").click()
    series = card(page, "topic_tea")
    series.wait_for()
    assert "tea" in topics.locator("[data-role='topics']").inner_text()
    series.locator("[data-role='enabled']").click()  # switched off, like any other card
    series.locator("[data-role='save']").click()
    page.wait_for_selector("[data-workflow='topic_tea'] .badge:text('Version 2')")
    page.reload()
    page.wait_for_selector("#app[data-ready='true']")
    assert card(page, "topic_tea").count() == 1
    workflow = api_workflow(app, "topic_tea")["workflow"]
    assert workflow["definition"]["trigger"]["topic"] == "tea"
    assert workflow["enabled"] is False and saved_versions(services, "topic_tea") == 2


def test_first_open_after_shopify_installed_the_app_exchanges_the_token(page, live_server):
    """Shopify installed the app (managed install); Nudge has no token for the shop yet:
    the page trades its session token for one (token exchange), then shows the shop."""
    new_shop = "just-installed.myshopify.com"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as shopify:
        shopify.add_passthru("http://127.0.0.1")  # the page's own requests to the app
        admin = FakeAdmin(shopify, new_shop)
        exchange = shopify.post(token_endpoint(new_shop), json=grant("shpat_new", "shprt_new"))
        page.goto(
            f"{live_server}/?{urlencode({'shop': new_shop, 'id_token': session_token(new_shop, expires_in=600)})}"
        )
        page.wait_for_selector("#app[data-ready='true']")
        assert card(page, "cart_abandonment").is_visible()
        assert len(exchange.calls) == 1 and admin.subscriptions  # installed, webhooks registered


@pytest.mark.slow
def test_missing_scopes_are_asked_for_once_more_then_shown_with_the_link_to_approve(
    page, live_server, services, clock
):
    """The shop's token lacks scopes the app asks for: the page exchanges its session token
    once (the merchant may have approved already), then says what is missing and links to
    Shopify's page for approving it."""
    with services.sessions() as session, session.begin():
        shop = session.scalars(select(Shop).where(Shop.domain == SHOP)).one()
        partial = tokens.Grant("shpat_partial", "read_customers,read_orders", None, None, None)
        tokens.store(shop, partial, tokens.cipher(services))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as shopify:
        shopify.add_passthru("http://127.0.0.1")
        FakeAdmin(shopify, SHOP)
        exchange = shopify.post(token_endpoint(SHOP), json=grant(scope="read_customers"))
        open_app(page, live_server)
        banner = page.locator("[data-role='missing-scopes']")
        banner.wait_for()
        assert len(exchange.calls) == 1
    text = banner.inner_text()
    assert "write_customers, read_orders, read_products, write_discounts" in text
    link = banner.locator("[data-role='reauthorize']")
    assert link.get_attribute("href") == (
        f"https://{SHOP}/admin/oauth/install?client_id=test-api-key"
    )
    assert link.get_attribute("target") == "_top"


def test_a_refused_install_shows_no_data(page, live_server):
    new_shop = "refused.myshopify.com"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as shopify:
        shopify.add_passthru("http://127.0.0.1")
        refused = shopify.post(
            token_endpoint(new_shop), status=400, json={"error": "invalid_subject_token"}
        )
        page.goto(
            f"{live_server}/?{urlencode({'shop': new_shop, 'id_token': session_token(new_shop, expires_in=600)})}"
        )
        page.wait_for_selector("#app[data-ready='true']")
        assert "not installed" in page.locator("[data-role='signed-out']").inner_text()
        assert page.locator("[data-workflow]").count() == 0
        assert len(refused.calls) == 1  # asked once, not again and again


def test_a_parked_message_shows_sendgrids_words_and_is_sent_again(page, live_server, services):
    with services.sessions() as session, session.begin():
        message = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).first()
        message.state, message.attempts = "failed", 1
        message.last_error = "SendGrid 403: The from address does not match a verified Sender"
        parked = message.id
    open_app(page, live_server)
    row = page.locator(f"#failed-messages [data-message='{parked}']")
    assert "verified Sender" in row.inner_text()
    row.locator("[data-role='retry']").click()
    row.filter(has_text="Queued again").wait_for()
    with services.sessions() as session:
        assert session.get_one(OutboxMessage, parked).state == "pending"


def test_a_workflow_gets_its_own_sender(page, live_server, app):
    open_app(page, live_server)
    upsell = card(page, "upsell")
    upsell.locator("[data-role='expand']").click()
    upsell.locator("[data-path='sender.from_email']").fill("not-an-address")
    upsell.locator("[data-role='save']").click()
    upsell.locator("[data-error-for='sender.from_email']").wait_for()
    assert "sender" not in api_workflow(app, "upsell")["workflow"]["definition"]

    upsell.locator("[data-path='sender.from_email']").fill("offers@shop.example")
    upsell.locator("[data-path='sender.asm_group_id']").fill("42")
    upsell.locator("[data-role='save']").click()
    page.wait_for_selector("[data-workflow='upsell'] .badge:text('Version 1')")
    sender = api_workflow(app, "upsell")["workflow"]["definition"]["sender"]
    assert sender == {"from_email": "offers@shop.example", "asm_group_id": 42}


def test_the_page_says_which_settings_keep_mail_from_going_out(
    page, live_server, services, tmp_path
):
    open_app(page, live_server)
    screenshot(page, tmp_path, "settings-warnings.png")
    banner = page.locator("[data-role='setting-warnings']")
    settings = [item.get_attribute("data-setting") for item in banner.locator("li").all()]
    assert settings == ["NUDGE_SENDGRID_API_KEY", "NUDGE_FROM_EMAIL"]  # the test app's
    assert "never sent" in banner.inner_text()
    # the history's emails were kept, and are counted as kept, not as sent
    summary = card(page, "cart_abandonment").locator(".summary").inner_text()
    assert "0 emails sent" in summary and "kept (SendGrid is not configured)" in summary
    failed = page.locator("#failed-messages").inner_text()
    assert "none went out" in failed and "went to SendGrid" not in failed

    services.settings["SENDGRID_API_KEY"] = "SG.key"
    services.settings["FROM_EMAIL"] = "news@shop.example"
    page.reload()
    page.wait_for_selector("#app[data-ready='true']")
    assert page.locator("[data-role='setting-warnings']").count() == 0
    assert "went to SendGrid or is on its way" in page.locator("#failed-messages").inner_text()


def test_development_tokens_without_the_app_secret_say_why_the_page_cannot_sign_in(
    page, live_server, services
):
    services.settings.update(DEV_SESSION_TOKENS=True, SHOPIFY_API_SECRET=None)
    open_app(page, live_server, token=False)
    assert page.locator("[data-role='signed-out']").is_visible()
    problem = page.locator("[data-role='dev-tokens-problem']").inner_text()
    assert "NUDGE_DEV_SESSION_TOKENS is on" in problem


def test_signed_out_page_shows_no_data(page, live_server):
    open_app(page, live_server, token=False)
    assert page.locator("[data-role='signed-out']").is_visible()
    assert page.locator("[data-workflow]").count() == 0


def test_development_tokens_from_this_machine(page, live_server, services):
    services.settings["DEV_SESSION_TOKENS"] = True
    open_app(page, live_server, token=False)
    assert card(page, "upsell").is_visible()
    assert page.outside == []  # no App Bridge script is asked for outside the admin


@pytest.mark.slow
def test_relabelling_transactional_asks_in_a_dialog_that_names_the_consequence(
    page, live_server, app, services
):
    open_app(page, live_server)
    feedback = card(page, "feedback_request")
    feedback.locator("[data-role='expand']").click()
    before = saved_versions(services, "feedback_request")
    feedback.locator("select[data-path='category']").select_option("transactional")
    feedback.locator("[data-role='save']").click()
    dialog = page.locator("[data-role='confirm-dialog']")
    dialog.wait_for()
    assert "unsubscribe link" in dialog.inner_text()
    assert "never agreed to marketing" in dialog.inner_text()
    dialog.locator("[data-role='cancel']").click()
    feedback.locator("text=Not saved: it is still a marketing workflow.").wait_for()
    assert saved_versions(services, "feedback_request") == before  # kept marketing
    assert api_workflow(app, "feedback_request")["workflow"]["category"] == "marketing"

    feedback.locator("[data-role='save']").click()
    page.locator("[data-role='confirm-dialog'] [data-role='confirm']").click()
    page.wait_for_selector("#toast:text('saved')")
    answer = api_workflow(app, "feedback_request")
    assert answer["workflow"]["category"] == "transactional"
    assert answer["versions"][0]["note"].startswith("Relabelled transactional, confirmed")
