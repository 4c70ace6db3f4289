"""The settings page for a WooCommerce merchant: a signed, short-lived link from the plugin
opens a cookie session (HttpOnly, Secure, SameSite); changes need its CSRF token; one
store's session never reaches another's data."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from plugin.shopify_app import webhook_secrets
from plugin.shopify_app.crypto import TokenCipher
from plugin.storage.models import Shop
from plugin.woocommerce_app.sessions import COOKIE, LINK_SECONDS, link_signature

STORE_A, SECRET_A = "a-store.example.com", "secret-of-store-a"
STORE_B, SECRET_B = "b-store.example.com", "secret-of-store-b"


@pytest.fixture
def stores(services, clock):  # type: ignore[no-untyped-def]
    clock.now = datetime.fromtimestamp(int(time.time()), UTC)
    box = TokenCipher(services.settings["SECRET_KEY"])
    with services.sessions() as session, session.begin():
        for domain, secret, cap in ((STORE_A, SECRET_A, 20), (STORE_B, SECRET_B, 30)):
            row = Shop(domain=domain, platform="woocommerce", settings={"frequency_cap_hours": cap})
            webhook_secrets.store(row, secret, box)
            session.add(row)


def link(store: str, secret: str, services, ahead: int = 60) -> str:  # type: ignore[no-untyped-def]
    expires = int(services.now().timestamp()) + ahead
    query = {"store": store, "expires": expires, "sig": link_signature(store, expires, secret)}
    return "/woocommerce/settings?" + urlencode(query)


def open_session(client, services, store: str = STORE_A, secret: str = SECRET_A) -> str:  # type: ignore[no-untyped-def]
    """Follow the plugin's link; return the page's CSRF token."""
    response = client.get(link(store, secret, services))
    assert response.status_code == 302 and response.headers["Location"] == f"/?store={store}"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for flag in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/"):
        assert flag in cookie
    page = client.get(f"/?store={store}")
    html = page.get_data(as_text=True)
    assert f'<meta name="nudge-store" content="{store}">' in html
    assert "app-bridge.js" not in html  # it would send a WooCommerce merchant to Shopify
    token = html.split('name="nudge-csrf-token" content="', 1)[1].split('"', 1)[0]
    assert len(token) >= 24
    return token


def test_the_link_opens_the_page_and_the_api_for_that_store_only(client, services, stores):
    csrf = open_session(client, services)
    settings = client.get("/api/settings")
    assert settings.status_code == 200
    assert settings.json["settings"]["frequency_cap_hours"] == 20  # A's, not B's
    workflows = client.get("/api/workflows")
    assert workflows.status_code == 200 and workflows.json["workflows"]

    change = {"frequency_cap_hours": 48}
    assert client.put("/api/settings", json=change).status_code == 403  # no CSRF token
    wrong = client.put("/api/settings", json=change, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    ok = client.put("/api/settings", json=change, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200
    with services.sessions() as session:
        windows = dict(session.execute(select(Shop.domain, Shop.settings)).all())
    assert windows[STORE_A]["frequency_cap_hours"] == 48
    assert windows[STORE_B]["frequency_cap_hours"] == 30  # untouched


BAD_LINKS = [
    lambda s: link(STORE_B, SECRET_A, s),  # signed with another store's secret
    lambda s: link(STORE_A, SECRET_A, s, ahead=-1),  # expired
    lambda s: link(STORE_A, SECRET_A, s, ahead=LINK_SECONDS + 60),  # too long-lived
    lambda s: link("unknown.example.com", SECRET_A, s),
    lambda s: link(STORE_A, SECRET_A, s).replace("sig=", "sig=x"),
    lambda s: "/woocommerce/settings?store=" + STORE_A,
]


def test_a_bad_link_opens_nothing(client, services, stores):
    for make in BAD_LINKS:
        response = client.get(make(services))
        assert response.status_code == 401
        assert "Set-Cookie" not in response.headers
    assert client.get("/api/settings").status_code == 401


def test_a_forged_or_foreign_cookie_is_refused(client, services, stores):
    client.set_cookie(COOKIE, "forged.value.sig")
    assert client.get("/api/settings").status_code == 401
    # a Shopify shop's name cannot be slipped into a store session
    with services.sessions() as session, session.begin():
        session.add(Shop(domain="x.myshopify.com", platform="shopify", settings={}))
    assert client.get(link("x.myshopify.com", SECRET_A, services)).status_code == 401


def test_head_on_the_link_opens_no_session(client, services, stores):
    response = client.head(link(STORE_A, SECRET_A, services))
    assert response.status_code == 204 and "Set-Cookie" not in response.headers


@pytest.mark.slow
def test_the_page_works_in_a_browser_on_the_cookie_session(app, services, stores):
    """The plugin's link in headless Chromium: the page loads the store's workflows and
    saves a switch with its CSRF token, without App Bridge or a session token."""
    from tests.support.settings_page import browser_page, card, serving

    services.settings["APP_URL"] = "http://127.0.0.1"  # the cookie is not Secure over http
    with serving(app) as base, browser_page() as page:
        page.goto(base + link(STORE_A, SECRET_A, services))
        page.wait_for_selector("#app[data-ready='true']")
        upsell = card(page, "upsell")
        switch = upsell.locator("[data-role='enabled']")
        assert switch.get_attribute("aria-checked") == "true"
        switch.click()
        upsell.locator("[data-role='save']").click()  # sent with the page's CSRF token
        page.wait_for_selector("[data-workflow='upsell'] .badge:text('Version 1')")
    with services.sessions() as session:
        shop_a = session.scalars(select(Shop.id).where(Shop.domain == STORE_A)).one()
    from plugin.shop_settings.workflows import shop_workflows

    with services.sessions() as session:
        assert shop_workflows(session, shop_a)["upsell"].enabled is False
