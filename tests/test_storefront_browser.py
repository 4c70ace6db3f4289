"""The storefront script in headless Chromium.

Elsewhere than Shopify: a test storefront (its own little server, so another origin than the
app) includes the script from the app on a real local port, and says the visitor consented.
On Shopify: a storefront as Shopify serves it with the app embed on (tests.support.app_proxy):
the script from the extension's assets, every call through the app proxy on the same origin,
consent from the Customer Privacy API. Skipped with the reason when Playwright or Chromium is
missing, unless CI=true (then it fails).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from werkzeug.serving import make_server

from plugin.cli import main
from plugin.shop_settings.workflows import set_enabled
from plugin.storage.models import Episode, OutboxMessage, PageView, Shop
from tests.support.app_proxy import CUSTOMER_COOKIE, ShopifyStorefront
from tests.support.browser import CHROMIUM, playwright_or_skip
from tests.support.shop import SHOP

CONSENTED = "<script>window.nudgeConsent = true</script>"


def storefront_page(app_url: str, title: str, consent: str = CONSENTED, tag: str = "") -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
{consent}<script src="{app_url}/storefront/{SHOP}/nudge.js" {tag} defer></script></head>
<body><h1>{title}</h1><p>Tea, coffee and the things that go with them.</p></body></html>"""


@pytest.fixture
def overlay_settings(services, shop) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The shop's overlay, set on the settings page: shown after a second, with topics."""
    storefront = {
        "delay_seconds": 1,
        "exit_intent": False,
        "headline": "Ten percent off your first order",
        "offer": "Join the list and get 10% off.",
        "topics": ["tea", "coffee"],
    }
    with services.sessions() as session, session.begin():
        row = session.get_one(Shop, shop.id)
        row.settings = {**row.settings, "name": "Northwind Tea", "storefront": storefront}
        set_enabled(session, shop.id, "topic_nurture", True)
    return storefront


@pytest.fixture
def app_url(app, overlay_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with serving(app) as url:
        yield url


@contextmanager
def serving(wsgi_app: Any) -> Iterator[str]:
    """Serve ``wsgi_app`` on a free local port; yield its base URL."""
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def storefront_server(app_url: str, consent: str = CONSENTED, tag: str = "") -> Any:
    """A storefront on another port: a page per path, each including the script."""

    def pages(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = storefront_page(app_url, environ.get("PATH_INFO") or "/", consent, tag).encode()
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body]

    return pages


@pytest.fixture
def storefront(app_url) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with serving(storefront_server(app_url)) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Any]:
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
    return sent_and_answered(answer.value)


def sent_and_answered(response: Any) -> dict[str, Any]:
    return {"sent": json.loads(response.request.post_data), "answer": response.json()}


def requests_made(page: Any) -> list[str]:
    """Every URL the page asks for from now on."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def what_the_page_keeps(page: Any) -> dict[str, Any]:
    return page.evaluate(
        "() => ({local: {...localStorage}, session: {...sessionStorage}, cookie: document.cookie})"
    )


def page_views(services) -> list[tuple[str, str | None, str]]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        rows = session.execute(
            select(PageView.visitor_id, PageView.customer_external_id, PageView.path)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


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


# --- consent, elsewhere than Shopify ------------------------------------------------------


def nothing_kept_or_sent(page: Any, urls: list[str], services) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_timeout(1500)  # past the script's start and a consent cookie's next look
    assert [u for u in urls if "/storefront/" in u and not u.endswith("/nudge.js")] == []
    kept = what_the_page_keeps(page)
    assert kept["local"] == {} and kept["session"] == {} and "nudge" not in kept["cookie"]
    assert page_views(services) == []


def test_nothing_is_kept_or_sent_before_the_site_says_the_visitor_consented(
    browser, app_url, services
):
    with serving(storefront_server(app_url, consent="")) as url:
        page = new_page(browser)
        urls = requests_made(page)
        page.goto(url + "/pages/about")
        nothing_kept_or_sent(page, urls, services)
        with page.expect_response(re.compile(r"/storefront/.+/events$")) as answer:
            page.evaluate("document.dispatchEvent(new Event('nudge:consent'))")
        assert sent_and_answered(answer.value)["sent"]["type"] == "page_view"
        vid = what_the_page_keeps(page)["local"]["nudge_vid"]
        assert page_views(services) == [(vid, None, "/pages/about")]


def test_the_consent_banners_cookie_is_the_signal_when_the_tag_names_it(browser, app_url, services):
    tag = 'data-consent-cookie="cmplz_statistics=allow"'
    with serving(storefront_server(app_url, consent="", tag=tag)) as url:
        page = new_page(browser)
        urls = requests_made(page)
        page.goto(url + "/")
        page.evaluate("document.cookie = 'cmplz_statistics=deny; path=/'")  # declined
        nothing_kept_or_sent(page, urls, services)
        with page.expect_response(re.compile(r"/storefront/.+/events$")):
            page.evaluate("document.cookie = 'cmplz_statistics=allow; path=/'")  # accepted
        assert len(page_views(services)) == 1


# --- on Shopify: the theme app extension, the app proxy, the Customer Privacy API ---------


@pytest.fixture
def extension(tmp_path: Path) -> Path:
    """The theme app extension as `nudge app extension` writes it."""
    result = CliRunner().invoke(main, ["app", "extension", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [folder] = (tmp_path / "extensions").iterdir()
    return folder


@contextmanager
def shopify_storefront(
    app, services, extension, design_mode=False, **theme
) -> Iterator[tuple[ShopifyStorefront, str]]:  # type: ignore[no-untyped-def]
    shop = ShopifyStorefront(
        app,
        extension,
        secret=services.settings["SHOPIFY_API_SECRET"],
        now=services.now,
        settings=theme,
        design_mode=design_mode,
    )
    with serving(shop) as url:
        yield shop, url


def consent(page: Any, allowed: bool) -> None:
    """The visitor answers the cookie banner, which tells the Customer Privacy API (loading
    it first, as Shopify's banner does)."""
    page.evaluate(
        """() => window.Shopify.customerPrivacy || window.Shopify.loadFeatures(
            [{name: "consent-tracking-api", version: "0.1"}], () => {})"""
    )
    page.wait_for_function("() => window.Shopify.customerPrivacy")
    page.evaluate(
        """(allowed) => window.Shopify.customerPrivacy.setTrackingConsent(
            {analytics: allowed, marketing: allowed, preferences: allowed, sale_of_data: allowed},
            () => {})""",
        allowed,
    )


def test_on_shopify_the_embed_loads_its_asset_and_calls_the_app_proxy_after_consent(
    browser, app, services, overlay_settings, extension
):
    with shopify_storefront(app, services, extension) as (storefront, url):
        page = new_page(browser)
        page.context.add_cookies([{"name": CUSTOMER_COOKIE, "value": "501", "url": url}])
        urls = requests_made(page)
        page.goto(url + "/collections/tea")
        assert url + "/cdn/assets/nudge.js" in urls  # loaded by the embed's schema
        consent(page, allowed=False)
        page.wait_for_timeout(500)
        assert storefront.forwarded == [] and what_the_page_keeps(page)["local"] == {}

        with page.expect_response(re.compile(r"/apps/nudge/events$")) as answer:
            consent(page, allowed=True)
        seen = sent_and_answered(answer.value)
        assert seen["answer"]["identified"] is True and seen["answer"]["overlay"] is not None
        overlay = page.locator("#nudge-overlay")
        overlay.wait_for(state="visible")
        assert overlay_settings["headline"] in overlay.inner_text()
        vid = what_the_page_keeps(page)["local"]["nudge_vid"]
        assert page_views(services) == [(vid, "501", "/collections/tea")]
        # one origin: the page, Shopify's CDN stand-in and the app proxy, nothing else
        assert all(u.startswith(url + "/") for u in urls), urls
        assert url + "/cdn/assets/nudge-overlay.js" in urls
        assert storefront.forwarded == ["/events", "/events"]  # the view, the overlay shown


def test_the_theme_editor_can_switch_the_overlay_off_on_its_theme(
    browser, app, services, overlay_settings, extension
):
    with shopify_storefront(app, services, extension, overlay_enabled=False) as (_, url):
        page = new_page(browser)
        urls = requests_made(page)
        page.goto(url + "/")
        with page.expect_response(re.compile(r"/apps/nudge/events$")) as answer:
            consent(page, allowed=True)
        assert sent_and_answered(answer.value)["sent"]["want_overlay"] is False
        page.wait_for_timeout(1500)  # past the app's delay
        assert page.locator("#nudge-overlay").count() == 0
        assert not [u for u in urls if u.endswith("nudge-overlay.js")]  # never even loaded


def test_the_theme_editors_delay_comes_before_the_apps(
    browser, app, services, shop, overlay_settings, extension
):
    with services.sessions() as session, session.begin():
        row = session.get_one(Shop, shop.id)
        row.settings = {**row.settings, "storefront": {**overlay_settings, "delay_seconds": 600}}
    with shopify_storefront(app, services, extension, delay_seconds=0) as (_, url):
        page = new_page(browser)
        page.goto(url + "/")
        consent(page, allowed=True)
        page.locator("#nudge-overlay").wait_for(state="visible")  # not ten minutes later


def test_nothing_is_recorded_in_the_theme_editor(
    browser, app, services, overlay_settings, extension
):
    with shopify_storefront(app, services, extension, design_mode=True) as (storefront, url):
        page = new_page(browser)
        page.goto(url + "/")
        consent(page, allowed=True)
        page.wait_for_timeout(1500)
        assert storefront.forwarded == [] and page_views(services) == []
