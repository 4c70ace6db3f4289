"""The storefront script in headless Chromium, on a storefront of another origin.

A test storefront (its own little server, so another origin than the app) includes the
script from the app on a real local port. Skipped with the reason when Playwright or Chromium is
missing, unless CI=true (then it fails).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from plugin.shop_settings.workflows import set_enabled
from plugin.storage.models import Episode, OutboxMessage, Shop
from tests.support.browser import CHROMIUM, playwright_or_skip
from tests.support.shop import SHOP


def storefront_page(app_url: str, title: str) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<script src="{app_url}/storefront/{SHOP}/nudge.js" defer></script></head>
<body><h1>{title}</h1><p>Tea, coffee and the things that go with them.</p></body></html>"""


@pytest.fixture
def app_url(app, services, shop) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        row = session.get_one(Shop, shop.id)
        row.settings = {
            "name": "Northwind Tea",
            "storefront": {
                "delay_seconds": 1,
                "exit_intent": False,
                "headline": "Ten percent off your first order",
                "offer": "Join the list and get 10% off.",
                "topics": ["tea", "coffee"],
            },
        }
        set_enabled(session, shop.id, "topic_nurture", True)
    server, thread, url = serve(app)
    yield url
    server.shutdown()
    thread.join(5)


def serve(wsgi_app: Any) -> tuple[Any, threading.Thread, str]:
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture
def storefront(app_url) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A storefront on another port: a page per path, each including the script."""

    def pages(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = storefront_page(app_url, environ.get("PATH_INFO") or "/").encode()
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body]

    server, thread, url = serve(pages)
    yield url
    server.shutdown()
    thread.join(5)


@pytest.fixture
def browser(app_url) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    sync_api = playwright_or_skip()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


def new_page(browser) -> Any:  # type: ignore[no-untyped-def]
    """A page in a new browser context: a new session, with empty storage."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    return context.new_page()


def visit(page: Any, url: str) -> dict[str, Any]:
    """Open a storefront page; return what the script sent and was answered."""
    with page.expect_response(re.compile(r"/storefront/.+/events$")) as answer:
        page.goto(url)
    response = answer.value
    return {"sent": json.loads(response.request.post_data), "answer": response.json()}


def test_overlay_signup_confirm_enrolls_in_the_topic_series_once_per_session(
    browser, app_url, storefront, services, at, clock
):
    page = new_page(browser)
    first = visit(page, storefront + "/pages/about")
    assert first["sent"]["want_overlay"] is True and first["answer"]["overlay"] is not None
    overlay = page.locator("#nudge-overlay")
    overlay.wait_for(state="visible")  # after the merchant's delay
    assert "Ten percent off" in overlay.inner_text()
    overlay.locator("input[name=email]").fill("zoe@example.com")
    overlay.locator("select[name=topic]").select_option("coffee")
    overlay.locator("input[name=consent]").check()
    overlay.locator("button[type=submit]").click()
    page.get_by_text("check your inbox to confirm").wait_for()

    with services.sessions() as session:
        [message] = session.scalars(
            select(OutboxMessage).where(OutboxMessage.workflow == "storefront_signup")
        ).all()
        assert session.scalars(select(Episode)).all() == []  # nobody enrolled before confirming
    link = re.search(r'href="https://nudge\.example(/storefront/[^"]+)"', message.preview_html)
    assert link
    page.goto(app_url + link.group(1))
    page.locator("#confirm").click()
    page.get_by_text("You are subscribed").wait_for()
    at(clock.now + timedelta(minutes=1))
    with services.sessions() as session:
        [episode] = session.scalars(select(Episode)).all()
        sent = session.scalars(
            select(OutboxMessage).where(OutboxMessage.workflow == "topic_nurture")
        ).all()
    assert (episode.workflow, episode.subject) == (
        "topic_nurture",
        "topic:coffee:email:zoe@example.com",
    )
    assert [m.to_email for m in sent] == ["zoe@example.com"] and "coffee" in sent[0].subject

    # back on the storefront in the same session: no overlay is asked for, none appears
    again = visit(page, storefront + "/collections/coffee")
    assert again["sent"]["want_overlay"] is False and again["answer"]["overlay"] is None
    page.wait_for_timeout(1500)  # past the delay, so a scheduled overlay would be showing
    assert page.locator("#nudge-overlay").count() == 0


def test_a_dismissed_overlay_does_not_come_back_in_the_same_session(browser, storefront):
    page = new_page(browser)
    visit(page, storefront + "/")
    page.locator("#nudge-overlay").wait_for(state="visible")
    page.locator("#nudge-overlay .nudge-close").click()
    assert page.locator("#nudge-overlay").count() == 0
    again = visit(page, storefront + "/pages/about")
    assert again["sent"]["want_overlay"] is False
    page.wait_for_timeout(1500)
    assert page.locator("#nudge-overlay").count() == 0
    # a new session (another browser context) is offered it again
    fresh = visit(new_page(browser), storefront + "/")
    assert fresh["answer"]["overlay"] is not None
