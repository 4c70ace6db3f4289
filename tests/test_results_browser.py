"""The settings page shows what each workflow brought: revenue credited to its emails, the
lift against its holdout group with the 95 % interval, and its skips split into the
merchant's own rule and the safeguards — in headless Chromium, with a screenshot."""

from __future__ import annotations

from datetime import timedelta

import pytest

from plugin.shop_settings.workflows import save_workflow
from rules.definitions import shipped_workflows
from tests.support import payloads
from tests.support.clock import T0
from tests.support.results import abandoned_carts_with_holdout
from tests.support.settings_page import (
    ARTIFACTS,
    browser_page,
    card,
    open_app,
    screenshot,
    serving,
)

pytestmark = pytest.mark.slow


def daily_label(section, role: str) -> str:  # type: ignore[no-untyped-def]
    return str(section.locator(f"[data-role='{role}'] svg").get_attribute("aria-label"))


def day_title(section, role: str, day: str) -> str:  # type: ignore[no-untyped-def]
    return str(section.locator(f"[data-role='{role}'] g[data-date='{day}'] title").text_content())


def test_revenue_lift_and_skips_per_workflow(
    app, services, shop, send_webhook, client, at, clock, tmp_path
):
    # a shopper without consent: the reminder the rule wanted, blocked by the safeguard
    email = "no-consent@example.com"
    send_webhook("customers/create", payloads.customer(999, email=email))
    send_webhook(
        "customers_email_marketing_consent/update", payloads.consent(999, email, subscribed=False)
    )
    checkout = payloads.checkout(
        "tok-999", T0, customer_id=999, email=email, accepts_marketing=False
    )
    send_webhook("checkouts/create", checkout)
    abandoned_carts_with_holdout(services, send_webhook, client, at, size=30, buyers=(18, 6))
    with services.sessions() as session, session.begin():  # an A/B test that has no data yet
        upsell = shipped_workflows()["upsell"]
        test = {
            **upsell["steps"][0],
            "variants": [{"id": "a", "weight": 50}, {"id": "b", "weight": 50}],
        }
        save_workflow(session, shop.id, {**upsell, "steps": [test, *upsell["steps"][1:]]})
    clock.now = T0 + timedelta(days=3)
    with serving(app) as base, browser_page() as page:
        open_app(page, base)
        cart = card(page, "cart_abandonment")
        assert "1,080.00" in cart.locator(".summary").inner_text()  # 18 orders of 60.00
        cart.locator("[data-role='expand']").click()
        # three notions of "converted", each labelled with what it counts
        assert "within 7 days" in cart.locator("[data-role='converted-meaning']").inner_text()
        revenue = cart.locator("[data-role='revenue']")
        assert revenue.locator("[data-role='revenue-total']").inner_text() == "1,080.00"
        conversion = revenue.locator("[data-role='conversion']").inner_text()
        assert "Converted (credited orders)" in conversion and "18 of 30 (60.0 %)" in conversion
        rule = revenue.locator("[data-role='attribution-rule']").inner_text()
        assert "within 5 days of a click" in rule and "1 day of its delivery" in rule
        lift = cart.locator("[data-role='lift']")
        assert "18 of 30 ordered within 5 days (60.0 %)" in lift.inner_text()
        assert "6 of 30 ordered within 5 days (20.0 %)" in lift.inner_text()
        # Newcombe's hybrid score interval for 18/30 − 6/30 (rules.stats, tested on its own)
        difference = lift.locator("[data-role='lift-difference']").inner_text()
        assert difference.startswith("+40.0 points (95 % interval +15.3 points to +58.6 points)")
        assert "The emails raise orders." in difference
        chart = lift.locator("svg.interval").get_attribute("aria-label")
        assert (
            chart
            == "Conversion lift, 95 % interval: +40.0 points, from +15.3 points to +58.6 points"
        )
        assert (
            "Revenue per person: +24.00" in lift.locator("[data-role='lift-revenue']").inner_text()
        )
        skips = cart.locator("[data-role='skips']")
        assert (
            "holdout group (never messaged)"
            in skips.locator("[data-role='skips-as-designed']").inner_text()
        )
        blocked = skips.locator("[data-role='skips-blocked']").inner_text()
        assert "Accepts marketing email (needs yes)" in blocked
        daily = cart.locator("[data-role='daily']")
        # 30 reminders on 2 March, the offer to the 12 who had not bought (written when the
        # clock next ran, on 4 March), all kept (no SendGrid key); 18 reminded buyers on
        # 2 March, the 6 held-out ones not counted
        label = daily_label(daily, "daily-emails")
        assert label == (
            "Emails kept (never sent) per day, Feb 3 to Mar 5: 42 kept (never sent) in total;"
            " most on Mar 2 (30)"
        )
        assert daily_label(daily, "daily-converted") == (
            "Converted (first credited order) per day, Feb 3 to Mar 5: 18 converted in total;"
            " most on Mar 2 (18)"
        )
        assert daily_label(daily, "daily-revenue") == (
            "Credited revenue per day, Feb 3 to Mar 5: 1,080.00 in total; most on Mar 2 (1,080.00)"
        )
        assert day_title(daily, "daily-emails", "2026-03-04") == "Mar 4: 12 kept (never sent)"
        assert day_title(daily, "daily-converted", "2026-02-20") == "Feb 20: 0 converted"
        assert daily.locator("svg.daily g.chart-day").count() == 3 * 31  # every day, 3 charts
        ARTIFACTS.mkdir(exist_ok=True)
        daily.screenshot(path=str(ARTIFACTS / "results-daily.png"))
        daily.locator("summary").click()
        row = daily.locator("tr[data-date='2026-03-02']").inner_text().split()
        assert row == ["Mar", "2", "0", "30", "18", "18", "1,080.00"]
        daily.locator("tbody").screenshot(path=str(ARTIFACTS / "results-daily-table.png"))
        daily.locator("summary").click()
        screenshot(page, tmp_path, "results.png")
        ARTIFACTS.mkdir(exist_ok=True)
        cart.locator("aside.side").screenshot(path=str(ARTIFACTS / "results-cart-abandonment.png"))
        upsell = card(page, "upsell")
        upsell.locator("[data-role='expand']").click()
        assert "No holdout group" in upsell.locator("[data-role='lift']").inner_text()
        empty = upsell.locator("[data-role='daily']")
        assert empty.inner_text().endswith("No emails in the last 30 days.")
        assert empty.locator("svg").count() == 0
        ab_test = upsell.locator("[data-role='ab-tests']")
        assert "Running" in ab_test.locator("h4").inner_text()
        assert "not enough data yet" in ab_test.locator("[data-variant='b']").inner_text()
        assert ab_test.locator("[data-role='auto-winner']").inner_text() == (
            "Automatic winner: 0 of the planned 1,000 recipients in the smallest variant; until"
            " then a variant wins only if its 99.9 % interval lies above the control."
        )
