"""The settings page in a headless Chromium, for the browser tests: a little shop history,
the app on a real local port, a page that may reach nothing but this machine, and the
look-ups the tests share."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import func, select
from werkzeug.serving import make_server

from plugin.storage.models import WorkflowConfig
from tests.support import payloads
from tests.support.browser import CHROMIUM, playwright_or_skip
from tests.support.clock import T0
from tests.support.session_tokens import session_token
from tests.support.shop import SHOP

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
STATIC = Path(__file__).parents[2] / "plugin" / "static"
APP_STATIC = "https://nudge.example/static/"  # the test app's NUDGE_APP_URL, its static files


def make_history(send_webhook, at) -> None:  # type: ignore[no-untyped-def]
    """A little history, so the numbers, the activity and the previews have customers."""
    shoppers = {501: True, 502: True, 503: False, 504: True}  # id -> accepts marketing
    for customer_id, subscribed in shoppers.items():
        email = f"shopper{customer_id}@example.com"
        send_webhook("customers/create", payloads.customer(customer_id, email))
        send_webhook(
            "customers_email_marketing_consent/update",
            payloads.consent(customer_id, email, subscribed=subscribed),
        )
    for token, customer_id, price in (("tok-a", 501, "60.00"), ("tok-b", 502, "9.00")) + (
        ("tok-c", 503, "80.00"),
    ):
        send_webhook(
            "checkouts/create",
            payloads.checkout(
                token,
                T0,
                price=price,
                customer_id=customer_id,
                email=f"shopper{customer_id}@example.com",
                accepts_marketing=shoppers[customer_id],
            ),
        )
    send_webhook(
        "orders/create",
        payloads.order(
            7001,
            T0,
            customer_id=504,
            email="shopper504@example.com",
            fulfilled_at=T0 + timedelta(days=1),
        ),
    )
    at(T0 + timedelta(hours=4, minutes=1))
    send_webhook(
        "orders/create",
        payloads.order(
            7002,
            T0 + timedelta(hours=6),
            checkout_token="tok-a",
            customer_id=501,
            email="shopper501@example.com",
        ),
    )
    at(T0 + timedelta(days=8, hours=1))


@contextmanager
def serving(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app on a real local port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@contextmanager
def browser_page() -> Iterator[Any]:
    """A Chromium page that reaches only this machine; it must throw nothing, and ask the
    internet for nothing but App Bridge's script (refused)."""
    sync_api = playwright_or_skip()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        outside: list[str] = []

        def only_this_machine(route: Any) -> None:
            url = route.request.url
            if urlsplit(url).hostname == "127.0.0.1":
                route.continue_()
            elif url.startswith(APP_STATIC):  # the previews' sample pictures: from disk
                route.fulfill(path=str(STATIC / urlsplit(url).path.removeprefix("/static/")))
            else:  # App Bridge's CDN, or anything else on the internet
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", only_this_machine)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.outside = outside
        yield page
        browser.close()
        assert not errors, f"the page threw: {errors}"
        assert all("cdn.shopify.com" in url for url in outside), outside


def open_app(page: Any, base: str, token: str | None | bool = None) -> None:
    query = {"shop": SHOP, "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvdGVzdC1zaG9w"}
    if token is not False:
        query["id_token"] = str(token or session_token(expires_in=600))
    page.goto(f"{base}/?{urlencode(query)}")
    page.wait_for_selector("#app[data-ready='true']")


def card(page: Any, name: str) -> Any:
    return page.locator(f"[data-workflow='{name}']")


def screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTIFACTS / name)
    return path


def api_workflow(app, name: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {session_token()}"}
    return app.test_client().get(f"/api/workflows/{name}", headers=headers).json


def saved_versions(services, name: str) -> int:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return session.scalar(
            select(func.count()).select_from(WorkflowConfig).where(WorkflowConfig.name == name)
        )
