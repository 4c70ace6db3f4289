"""The plugin's script for the Checkout block's opt-in box, in headless Chromium.

WooCommerce's Checkout block sends its contact fields, the box among them, only with the
order (seen with WooCommerce 8.9: docs/woocommerce.md). The script tells the cart each change
of the box through ``wc.blocksCheckout.extensionCartUpdate`` (namespace ``nudge``), so a
cart left after ticking it reaches Nudge as consenting. Here the page has the box as the block
renders it and a stand-in for WooCommerce's function that records its calls. Skipped with the
reason when Playwright or Chromium is missing, unless CI=true (then it fails).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors import woocommerce
from tests.support.browser import CHROMIUM, playwright_or_skip

SCRIPT = Path(woocommerce.__file__).parent / "wordpress" / "nudge" / "assets" / "block-consent.js"

# The contact section as the Checkout block renders it (WooCommerce 8.9), plus another box.
PAGE = """<!doctype html><html><head><meta charset="utf-8"></head><body>
<input id="email" type="email">
<input id="contact-nudge/accepts-marketing" class="wc-block-components-checkbox__input"
       type="checkbox">
<input id="checkbox-control-0" type="checkbox">
</body></html>"""
RECORDER = """window.calls = [];
window.wc = { blocksCheckout: { extensionCartUpdate: function (args) {
  window.calls.push(args); return Promise.resolve({}); } } };"""

pytestmark = pytest.mark.slow


@pytest.fixture
def page() -> Iterator[Any]:
    sync_api = playwright_or_skip()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_context().new_page()
        page.set_default_timeout(10_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.errors = errors
        yield page
        browser.close()


def test_each_change_of_the_box_is_told_to_the_cart(page):  # type: ignore[no-untyped-def]
    page.set_content(PAGE)
    page.add_script_tag(content=RECORDER)
    page.add_script_tag(path=str(SCRIPT))
    page.check("#contact-nudge\\/accepts-marketing")
    page.uncheck("#contact-nudge\\/accepts-marketing")
    page.check("#checkbox-control-0")  # another box says nothing
    page.fill("#email", "shopper@example.com")
    assert page.evaluate("window.calls") == [
        {"namespace": "nudge", "data": {"accepts_marketing": True}},
        {"namespace": "nudge", "data": {"accepts_marketing": False}},
    ]
    assert page.errors == []


def test_without_woocommerces_checkout_package_the_box_breaks_nothing(page):  # type: ignore[no-untyped-def]
    page.set_content(PAGE)
    page.add_script_tag(path=str(SCRIPT))
    page.check("#contact-nudge\\/accepts-marketing")
    assert page.is_checked("#contact-nudge\\/accepts-marketing")
    assert page.errors == []
