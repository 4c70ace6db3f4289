"""A workflow's list of steps and its trigger, shaped on the settings page in a real headless
Chromium (as tests/test_settings_browser.py): a step added, moved, refused beside its own
fields, saved, found in place after a reload, then removed after a confirmation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

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

pytestmark = pytest.mark.slow


@pytest.fixture
def live_server(app, send_webhook, at) -> Iterator[str]:  # type: ignore[no-untyped-def]
    make_history(send_webhook, at)
    with serving(app) as base:
        yield base


@pytest.fixture
def page(live_server) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with browser_page() as page:
        yield page


def step_ids(workflow: Any) -> list[str]:
    return workflow.locator(".steps > [data-step]").evaluate_all(
        "els => els.map((el) => el.dataset.step)"
    )


def top_of(page: Any, element: Any, name: str, height: int) -> None:
    """A screenshot of the top of an element (a step with its email editor is long)."""
    box = element.evaluate(
        "el => { const r = el.getBoundingClientRect();"
        " return { x: r.left + scrollX, y: r.top + scrollY, width: r.width }; }"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(
        path=str(ARTIFACTS / name),
        full_page=True,
        clip={"x": box["x"], "y": box["y"], "width": box["width"], "height": height},
    )


def opened(page: Any, name: str) -> Any:
    workflow = card(page, name)
    workflow.locator("[data-role='expand']").click()
    return workflow


def test_a_step_is_added_moved_refused_in_place_saved_and_removed(page, live_server, app, services):
    shipped = shipped_workflows()["cart_abandonment"]
    open_app(page, live_server)
    abandonment = opened(page, "cart_abandonment")
    note = abandonment.locator("[data-role='enrolled-note']").inner_text()
    assert "a step you add reaches only those who enroll after you save" in note

    abandonment.locator("[data-role='add-step']").click()
    assert step_ids(abandonment) == ["reminder", "offer", "follow_up"]
    added = abandonment.locator("[data-step='follow_up']")
    # three days after the step before it, guarded as the last email step is, sending the
    # workflow's opening email
    assert added.locator("[data-role='delay-amount']").input_value() == "3"
    assert added.locator("[data-role='delay-unit']").input_value() == "days"
    assert added.locator("[data-role='delay-from']").input_value() == "previous_step"
    assert added.locator("[data-path='steps[2].actions[0].params.template']").input_value() == (
        "cart_reminder"
    )
    assert added.locator(
        "[data-path='steps[2].conditions.all[4]'] [data-role='variable']"
    ).input_value() == ("checkout_value")
    added.locator("[data-role='delay-amount']").fill("-1")  # refused: only before a re-order
    added.locator("[data-path='steps[2].actions[0].params.subject']").fill(
        "Last call: your cart is still here"
    )
    added.locator("[data-role='step-up']").click()
    assert step_ids(abandonment) == ["reminder", "follow_up", "offer"]
    added = abandonment.locator("[data-step='follow_up']")
    assert added.locator(".step-number").inner_text() == "2"
    assert added.locator("[data-role='step-up']").evaluate("el => el === document.activeElement")

    abandonment.locator("[data-role='save']").click()
    error = abandonment.locator("[data-error-for='steps[1].delay.days']")
    error.wait_for()
    assert "negative" in error.inner_text()
    # beside the moved step's own delay, not the offer's, which stood there before
    assert added.locator(".field-error").count() == 1
    assert added.locator("[data-role='delay-amount']").get_attribute("aria-invalid") == "true"
    assert abandonment.locator("[data-step='offer'] .field-error").count() == 0
    assert saved_versions(services, "cart_abandonment") == 0
    top_of(page, added, "workflow-step-refused.png", 120)

    added.locator("[data-role='delay-amount']").fill("2")
    abandonment.locator("[data-role='save']").click()
    page.wait_for_selector("[data-workflow='cart_abandonment'] .badge:text('Version 1')")

    page.reload()
    page.wait_for_selector("#app[data-ready='true']")
    abandonment = opened(page, "cart_abandonment")
    assert step_ids(abandonment) == ["reminder", "follow_up", "offer"]
    added = abandonment.locator("[data-step='follow_up']")
    assert added.locator("[data-role='delay-amount']").input_value() == "2"
    assert added.locator("[data-path='steps[1].actions[0].params.subject']").input_value() == (
        "Last call: your cart is still here"
    )
    top_of(page, added, "workflow-steps.png", 380)
    abandonment.locator(".add-step").screenshot(path=str(ARTIFACTS / "workflow-add-step.png"))
    steps = api_workflow(app, "cart_abandonment")["workflow"]["definition"]["steps"]
    assert steps[1] == {
        "id": "follow_up",
        "delay": {"days": 2, "from": "previous_step"},
        "conditions": shipped["steps"][1]["conditions"],
        "actions": [
            {
                "name": "send_email",
                "params": {
                    "template": "cart_reminder",
                    "subject": "Last call: your cart is still here",
                },
            }
        ],
    }
    assert [s["id"] for s in steps] == ["reminder", "follow_up", "offer"]
    assert steps[0] == shipped["steps"][0] and steps[2] == shipped["steps"][1]

    added.locator("[data-role='remove-step']").click()
    dialog = page.locator("[data-role='confirm-dialog']")
    assert "Follow up" in dialog.locator("h2").inner_text()
    page.screenshot(path=str(ARTIFACTS / "workflow-remove-step.png"))
    dialog.locator("[data-role='cancel']").click()
    assert step_ids(abandonment) == ["reminder", "follow_up", "offer"]
    assert abandonment.locator("[data-role='save']").is_disabled()  # nothing changed
    added.locator("[data-role='remove-step']").click()
    page.locator("[data-role='confirm-dialog'] [data-role='confirm']").click()
    assert step_ids(abandonment) == ["reminder", "offer"]
    abandonment.locator("[data-role='save']").click()
    page.wait_for_selector("[data-workflow='cart_abandonment'] .badge:text('Version 2')")
    definition = api_workflow(app, "cart_abandonment")["workflow"]["definition"]
    assert definition["steps"] == shipped["steps"]

    upsell = opened(page, "upsell")  # one step: it stays
    assert upsell.locator("[data-role='remove-step']").is_disabled()
    assert upsell.locator("[data-role='step-up']").is_disabled()
    assert upsell.locator("[data-role='step-down']").is_disabled()


def test_every_shipped_workflow_takes_an_added_step_as_it_comes(page, live_server, app):
    open_app(page, live_server)
    for name, shipped in shipped_workflows().items():
        workflow = opened(page, name)
        workflow.locator("[data-role='add-step']").click()
        workflow.locator("[data-role='save']").click()
        page.wait_for_selector(f"[data-workflow='{name}'] .badge:text('Version 1')")
        steps = api_workflow(app, name)["workflow"]["definition"]["steps"]
        assert [s["id"] for s in steps] == [s["id"] for s in shipped["steps"]] + ["follow_up"]


def test_an_orders_event_and_the_event_age_are_set_and_a_sweeps_pages(page, live_server, app):
    open_app(page, live_server)
    upsell = opened(page, "upsell")
    assert "places an order" in upsell.locator("[data-role='starts']").inner_text()
    upsell.locator("[data-role='trigger-event']").select_option("order_fulfilled")
    assert "an order is fulfilled" in upsell.locator("[data-role='starts']").inner_text()
    upsell.locator("[data-path='trigger.max_age_hours']").fill("")  # no limit
    ARTIFACTS.mkdir(exist_ok=True)
    upsell.locator(".main > .section").first.screenshot(
        path=str(ARTIFACTS / "workflow-trigger.png")
    )
    upsell.locator("[data-role='save']").click()
    page.wait_for_selector("[data-workflow='upsell'] .badge:text('Version 1')")
    trigger = api_workflow(app, "upsell")["workflow"]["definition"]["trigger"]
    assert trigger == {"event": "order_fulfilled", "subject": "order"}

    # a sweep keeps its kind: no event to pick, its own settings instead
    alert = opened(page, "sales_rep_alert")
    assert alert.locator("[data-role='trigger-event']").count() == 0
    alert.locator("[data-path='trigger.pages']").fill("/pages/pricing, /collections/bulk")
    alert.locator("[data-path='trigger.page_views']").fill("2")
    assert "pages 2 times" in alert.locator("[data-role='starts']").inner_text()
    alert.locator("[data-role='save']").click()
    page.wait_for_selector("[data-workflow='sales_rep_alert'] .badge:text('Version 1')")
    trigger = api_workflow(app, "sales_rep_alert")["workflow"]["definition"]["trigger"]
    assert trigger["pages"] == ["/pages/pricing", "/collections/bulk"]
    assert trigger["page_views"] == 2
