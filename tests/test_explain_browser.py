"""The customer view and the editor's Preview impact, driven in headless Chromium against
the real app (see tests/test_settings_browser.py for how the page is served)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from plugin.storage.models import OutboxMessage
from tests.support.clock import T0
from tests.support.sendgrid_events import PUBLIC, message_event, post_events
from tests.support.settings_page import (
    ARTIFACTS,
    browser_page,
    card,
    make_history,
    open_app,
    screenshot,
    serving,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def page(app, send_webhook, at) -> Iterator[tuple[Any, str]]:  # type: ignore[no-untyped-def]
    make_history(send_webhook, at)
    with serving(app) as base, browser_page() as page:
        yield page, base


def test_customer_view_and_preview_impact(page, tmp_path):  # type: ignore[no-untyped-def]
    page, base = page
    open_app(page, base)
    view = page.locator("#customer-view")
    view.locator("[data-role='customer-email']").fill("shopper502@example.com")
    view.locator("[data-role='explain']").click()
    cart = view.locator("[data-explained='cart_abandonment']")
    cart.wait_for()
    assert cart.get_attribute("data-enrolled") == "yes"
    # the 9.00 cart: the reminder's check that failed, with the customer's value
    assert "✗ Cart value is 9.00 (needs ≥ 20)" in cart.inner_text()
    welcome = view.locator("[data-explained='welcome_series']")
    assert "not enrolled" in welcome.inner_text()
    screenshot(page, tmp_path, "customer-view.png")
    ARTIFACTS.mkdir(exist_ok=True)
    view.screenshot(path=str(ARTIFACTS / "customer-view-card.png"))

    abandonment = card(page, "cart_abandonment")
    abandonment.locator("[data-role='expand']").click()
    value_row = abandonment.locator("[data-path='steps[0].conditions.all[5]']")
    assert value_row.locator("[data-role='variable']").input_value() == "checkout_value"
    value_row.locator("[data-role='value']").fill("100")
    abandonment.locator("[data-role='preview-impact']").click()
    impact = abandonment.locator("[data-role='impact']")
    impact.wait_for()
    text = impact.inner_text()
    assert "This draft" in text and "Skipped: Cart value (needs ≥ 100)" in text
    assert "Nothing was sent or saved" in text
    screenshot(page, tmp_path, "preview-impact.png")
    abandonment.locator(".card-footer").screenshot(
        path=str(ARTIFACTS / "preview-impact-footer.png")
    )


def test_customer_view_shows_what_became_of_each_email(app, page, services, at):  # type: ignore[no-untyped-def]
    page, base = page
    services.settings["SENDGRID_EVENT_PUBLIC_KEY"] = PUBLIC
    email = "shopper501@example.com"
    with services.sessions() as session:
        [reminder] = session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.kind == "email", OutboxMessage.customer_external_id == "501"
            )
        ).all()
    moment = T0 + timedelta(hours=4, minutes=2)
    events = [
        message_event("delivered", reminder, email, moment),
        message_event("open", reminder, email, moment + timedelta(minutes=30)),
    ]
    assert post_events(app.test_client(), events).status_code == 200
    at(T0 + timedelta(hours=5))
    open_app(page, base)
    view = page.locator("#customer-view")
    view.locator("[data-role='customer-email']").fill(email)
    view.locator("[data-role='explain']").click()
    cart = view.locator("[data-explained='cart_abandonment']")
    cart.wait_for()
    states = cart.locator("[data-role='message-state']").all_inner_texts()
    assert any(text.endswith(": kept, delivered, opened") for text in states), states
