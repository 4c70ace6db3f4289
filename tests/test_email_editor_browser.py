"""The email editor and its live preview, driven in a real headless Chromium against the
real app (see tests/support/settings_page.py): every built-in email is previewed and
photographed to tests/artifacts/, and a merchant's edits are previewed, checked and saved."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from plugin.emails.render import EDITABLE
from rules.definitions import shipped_workflows
from tests.support.settings_page import (
    ARTIFACTS,
    api_workflow,
    browser_page,
    card,
    make_history,
    open_app,
    saved_versions,
    serving,
)

STATIC = Path(__file__).parents[1] / "plugin" / "static"
APP_URL = "https://nudge.example"  # the test app's NUDGE_APP_URL


@pytest.fixture
def live_server(app, send_webhook, at) -> Iterator[str]:  # type: ignore[no-untyped-def]
    make_history(send_webhook, at)
    with serving(app) as base:
        yield base


@pytest.fixture
def page(live_server) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with browser_page() as page:
        # the sample products' pictures live at the app's public URL: served from disk here
        page.context.route(
            f"{APP_URL}/static/**",
            lambda route: route.fulfill(
                path=str(STATIC / urlsplit(route.request.url).path.removeprefix("/static/"))
            ),
        )
        yield page


def shipped_emails() -> dict[str, list[tuple[str, str]]]:
    """Workflow -> (step id, template) of each step that sends an email."""
    found: dict[str, list[tuple[str, str]]] = {}
    for name, definition in shipped_workflows().items():
        for step in definition["steps"]:
            for action in step["actions"]:
                if action["name"] == "send_email":
                    found.setdefault(name, []).append((step["id"], action["params"]["template"]))
    return found


def expand(workflow: Any) -> None:
    if workflow.locator("[data-role='expand']").get_attribute("aria-expanded") != "true":
        workflow.locator("[data-role='expand']").click()


def previewed(step: Any, has_text: str) -> Any:
    """The step's preview (asked for once in view) once its frame shows ``has_text``."""
    step.locator("[data-role='email-preview']").scroll_into_view_if_needed()
    frame = step.frame_locator("[data-role='preview-frame']")
    frame.locator("body", has_text=has_text).wait_for()
    return frame


def test_every_built_in_email_is_previewed_with_its_placeholders_filled(page, live_server):
    open_app(page, live_server)
    photographed = set()
    for name, emails in shipped_emails().items():
        workflow = card(page, name)
        expand(workflow)
        for step_id, template in emails:
            step = workflow.locator(f"[data-step='{step_id}']")
            preview = step.locator("[data-role='email-preview']")
            preview.scroll_into_view_if_needed()
            preview.locator("[data-role='preview-sample']").check()
            preview.locator("[data-role='preview-customer']", has_text="sample").wait_for()
            frame = previewed(step, "Hi Alex,")
            subject = preview.locator("[data-role='preview-subject']").inner_text()
            preheader = preview.locator("[data-role='preview-preheader']").inner_text()
            body = frame.locator("body").inner_text()
            assert subject and preheader and "Sample" not in subject
            for shown in (subject, preheader, body):
                assert "{" not in shown and "}" not in shown, (template, shown)
            assert "test-shop.myshopify.com" in body  # {shop_name}: the shop's domain here
            ARTIFACTS.mkdir(exist_ok=True)
            preview.screenshot(path=str(ARTIFACTS / f"email-{template}.png"))
            photographed.add(template)
        workflow.locator("[data-role='expand']").click()
    assert photographed == EDITABLE


def test_the_upsell_preview_shows_product_cards_that_link_back_with_tracking(page, live_server):
    open_app(page, live_server)
    upsell = card(page, "upsell")
    expand(upsell)
    step = upsell.locator("[data-step='recommend']")
    step.locator("[data-role='preview-sample']").check()
    frame = previewed(step, "Ceramic pour-over dripper")
    image = frame.locator("img[alt='Ceramic pour-over dripper']")
    assert image.get_attribute("src") == f"{APP_URL}/static/emails/sample-dripper.png"
    assert image.evaluate("img => img.complete && img.naturalWidth") > 0  # it loaded
    cards = frame.locator("[data-block='products']")
    text = cards.inner_text()
    assert "$32.00" in text and "$40.00" in text  # the price, and the one it replaces
    assert cards.locator("s", has_text="$40.00").count() == 1
    link = cards.locator("a", has_text="Ceramic pour-over dripper").get_attribute("href")
    query = parse_qs(urlsplit(link).query)
    assert urlsplit(link).path == "/products/sample-dripper"
    assert query["utm_source"] == ["nudge"] and query["utm_campaign"] == ["upsell"]
    assert query["utm_content"] == ["recommend"] and query["nudge_t"] == ["preview"]


def test_a_merchant_edits_an_email_sees_it_live_and_saves_it(
    page, live_server, app, services, tmp_path
):
    open_app(page, live_server)
    abandonment = card(page, "cart_abandonment")
    expand(abandonment)
    step = abandonment.locator("[data-step='reminder']")
    preview = step.locator("[data-role='email-preview']")
    email = "steps[0].actions[0].params"
    # asked for once in view: the workflow's latest customer, with their own cart
    preview.scroll_into_view_if_needed()
    preview.locator("[data-role='preview-customer']", has_text="shopper").wait_for()
    previewed(step, "Total")

    step.locator(f"[data-path='{email}.subject']").fill("{name}, your cart is waiting")
    preview.locator(
        "[data-role='preview-subject']", has_text="Ada, your cart is waiting"
    ).wait_for()

    assert step.locator("[data-role='reset-blocks']").count() == 0  # the design's blocks
    text = step.locator(f"[data-path='{email}.blocks[1].text']")
    text.fill("Hello {nmae}, your things are still here.")
    assert step.locator("[data-role='reset-blocks']").count() == 1  # now the step's own
    error = step.locator(f"[data-error-for='{email}.blocks[1].text']")
    error.wait_for()
    assert "unknown placeholder {nmae} (did you mean {name}?)" in error.inner_text()
    assert text.get_attribute("aria-invalid") == "true"
    text.fill("Hello ")
    step.locator(".placeholders summary").click()
    step.locator("[data-placeholder='first_name']").click()  # typed where the cursor was
    text.press("End")
    text.type(", your things are still here.")
    assert text.input_value() == "Hello {first_name}, your things are still here."
    previewed(step, "Hello Ada, your things are still here.")
    assert step.locator(".field-error").count() == 0

    step.locator("[data-role='new-block-type']").select_option("button")
    step.locator("[data-role='add-block']").click()
    blocks = step.locator(".blocks > li")
    types = [b.get_attribute("data-block") for b in blocks.all()]
    assert types == ["heading", "text", "products", "button", "products", "button", "footer"]
    step.locator(f"[data-path='{email}.blocks[5].label']").fill("See our tea")
    step.locator(f"[data-path='{email}.blocks[5].url']").fill("{shop_url}/collections/tea")
    step.locator(f"[data-path='{email}.blocks[0]'] [data-role='move-down']").click()  # heading
    step.locator(f"[data-path='{email}.blocks[6]'] [data-role='remove-block']").click()  # footer
    frame = previewed(step, "See our tea")
    tea = frame.locator("a", has_text="See our tea").get_attribute("href")
    assert tea.startswith("https://test-shop.myshopify.com/collections/tea?")
    assert "Thanks for reading" not in frame.locator("body").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    step.screenshot(path=str(ARTIFACTS / "email-editor.png"))

    abandonment.locator("[data-role='save']").click()
    page.wait_for_selector("[data-workflow='cart_abandonment'] .badge:text('Version 1')")
    params = api_workflow(app, "cart_abandonment")["workflow"]["definition"]["steps"][0]
    params = params["actions"][0]["params"]
    assert params["subject"] == "{name}, your cart is waiting"
    assert [b["type"] for b in params["blocks"]] == [
        "text",
        "heading",
        "products",
        "button",
        "products",
        "button",
    ]
    assert params["blocks"][0]["text"] == "Hello {first_name}, your things are still here."
    assert params["blocks"][5] == {
        "type": "button",
        "label": "See our tea",
        "url": "{shop_url}/collections/tea",
    }

    page.reload()
    page.wait_for_selector("#app[data-ready='true']")
    abandonment = card(page, "cart_abandonment")
    expand(abandonment)
    step = abandonment.locator("[data-step='reminder']")

    def types() -> list[str]:
        return [b.get_attribute("data-block") for b in step.locator(".blocks > li").all()]

    assert types() == ["text", "heading", "products", "button", "products", "button"]
    shown = step.locator(f"[data-path='{email}.blocks[0].text']").input_value()
    assert shown == "Hello {first_name}, your things are still here."
    step.locator("[data-role='reset-blocks']").click()  # back to the template's design
    assert types() == ["heading", "text", "products", "button", "products", "footer"]
    previewed(step, "You left a few things in your cart")
    assert saved_versions(services, "cart_abandonment") == 1


def test_an_invalid_email_is_refused_at_save_with_the_field_marked(page, live_server, services):
    open_app(page, live_server)
    upsell = card(page, "upsell")
    expand(upsell)
    step = upsell.locator("[data-step='recommend']")
    email = "steps[0].actions[0].params"
    step.locator("[data-role='new-block-type']").select_option("button")
    step.locator("[data-role='add-block']").click()
    url = step.locator(f"[data-path='{email}.blocks[4].url']")
    url.fill("javascript:alert(1)")
    upsell.locator("[data-role='save']").click()
    error = upsell.locator(f"[data-error-for='{email}.blocks[4].url']")
    error.wait_for()
    assert re.search(r"a link starting with https://", error.inner_text())
    assert "Nothing was saved" in upsell.locator(".footer-message").inner_text()
    assert saved_versions(services, "upsell") == 0
