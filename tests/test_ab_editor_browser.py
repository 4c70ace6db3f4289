"""The step editor's A/B test, driven in a real headless Chromium against the real app (see
tests/support/settings_page.py): variants with their own subject and delay are saved and
come back after a reload, a bad setting is shown next to its field, and picking a winner
asks first, then saves a new version."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

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
SUBJECT_B = "Still thinking it over, {first_name|friend}?"


@pytest.fixture
def live_server(app, send_webhook, at) -> Iterator[str]:  # type: ignore[no-untyped-def]
    make_history(send_webhook, at)
    with serving(app) as base:
        yield base


@pytest.fixture
def page(live_server) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with browser_page() as page:
        yield page


def reminder_of(page: Any) -> Any:
    abandonment = card(page, "cart_abandonment")
    if abandonment.locator("[data-role='expand']").get_attribute("aria-expanded") != "true":
        abandonment.locator("[data-role='expand']").click()
    return abandonment.locator("[data-step='reminder']")


def test_a_delay_and_subject_variant_is_saved_and_a_winner_picked(
    page, live_server, app, services, tmp_path
):
    open_app(page, live_server)
    reminder = reminder_of(page)
    reminder.locator("[data-role='add-ab-test']").click()
    variant_b = reminder.locator("[data-variant='b']")
    variant_b.locator("[data-role='variant-weight']").fill("30")
    splits = reminder.locator("[data-role='split']").all_inner_texts()
    assert splits == ["62.5 % of customers", "37.5 % of customers"]
    variant_b.locator("[data-role='variant-subject']").fill(SUBJECT_B)
    variant_b.locator("[data-role='variant-delay']").fill("8")
    # a planned sample below the minimum: refused, shown beside its field, nothing saved
    reminder.locator("[data-role='planned-per-variant']").fill("50")
    abandonment = card(page, "cart_abandonment")
    abandonment.locator("[data-role='save']").click()
    error = reminder.locator(".auto-winner .field-error")
    error.wait_for()
    assert "a whole number from 100 to 1000000" in error.inner_text()
    planned = reminder.locator("[data-role='planned-per-variant']")
    assert planned.get_attribute("aria-invalid") == "true"
    assert saved_versions(services, "cart_abandonment") == 0
    planned.fill("2000")
    abandonment.locator("[data-role='save']").click()
    page.wait_for_selector("[data-workflow='cart_abandonment'] .badge:text('Version 1')")

    step = api_workflow(app, "cart_abandonment")["workflow"]["definition"]["steps"][0]
    assert step["variants"] == [
        {"id": "a", "weight": 50},
        {
            "id": "b",
            "weight": 30,
            "actions": [
                {
                    "name": "send_email",
                    "params": {"template": "cart_reminder", "subject": SUBJECT_B},
                }
            ],
            "delay": {"hours": 8, "from": "checkout_activity"},
        },
    ]
    assert step["auto_winner"] == {"planned_per_variant": 2000}

    page.reload()
    page.wait_for_selector("#app[data-ready='true']")
    reminder = reminder_of(page)
    variant_b = reminder.locator("[data-variant='b']")
    assert variant_b.locator("[data-role='variant-subject']").input_value() == SUBJECT_B
    assert variant_b.locator("[data-role='variant-delay']").input_value() == "8"
    assert variant_b.locator("[data-role='variant-weight']").input_value() == "30"
    variant_a = reminder.locator("[data-variant='a']")
    assert variant_a.locator("[data-role='variant-subject']").input_value() == ""  # the step's
    assert reminder.locator("[data-role='planned-per-variant']").input_value() == "2000"

    # picking the winner asks first; "Keep testing" changes nothing
    variant_b.locator("[data-role='pick-winner']").click()
    dialog = page.locator("[data-role='confirm-dialog']")
    assert "Make Variant B the winner?" in dialog.inner_text()
    dialog.locator("[data-role='cancel']").click()
    assert saved_versions(services, "cart_abandonment") == 1
    variant_b.locator("[data-role='pick-winner']").click()
    page.locator("[data-role='confirm-dialog'] [data-role='confirm']").click()
    page.wait_for_selector("[data-workflow='cart_abandonment'] .badge:text('Version 2')")
    step = api_workflow(app, "cart_abandonment")["workflow"]["definition"]["steps"][0]
    assert step["winner"] == "b"
    reminder = reminder_of(page)
    assert reminder.locator("[data-role='ab-status']").inner_text() == "Winner: Variant B"
    assert "saved (version 2)" in page.locator("#toast").inner_text()
    page.locator("#toast").evaluate("toast => { toast.hidden = true; }")  # off the picture
    test = reminder.locator("[data-role='ab-test']")
    test.scroll_into_view_if_needed()
    shot = tmp_path / "ab-test-editor.png"
    test.screenshot(path=str(shot))
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)
