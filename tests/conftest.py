"""Shared fixtures, in the manner of Flask's tutorial: app, client, runner, plus a signed
webhook sender and a clock the test moves by hand.

Fixtures only: what test modules import lives in tests/support/.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from plugin import create_app
from plugin.services import Services
from plugin.storage.models import Shop
from tests.support.clock import Clock
from tests.support.database import database_url_for_test
from tests.support.scale_services import release_held
from tests.support.shop import API_KEY, APP_SECRET, SHOP, SHOP_ADDRESS, SHOP_SECRET
from tests.support.webhooks import WebhookSender


@pytest.fixture(autouse=True)
def _release_shared_services():
    """Let another test run on this machine have the Redis databases and PostgreSQL
    databases this test held (tests.support.scale_services.hold)."""
    yield
    release_held()


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    """On a PostgreSQL pass (NUDGE_TEST_DATABASE_URL set), run only the tests that use the
    database it names: the others never touch it, and the SQLite pass has run them."""
    if not os.environ.get("NUDGE_TEST_DATABASE_URL"):
        return
    kept = [item for item in items if "database_url" in getattr(item, "fixturenames", ())]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The test's own database: SQLite in its folder, or the PostgreSQL named by
    NUDGE_TEST_DATABASE_URL with a clean schema. Tests take it through this fixture, so a
    PostgreSQL pass knows which tests to run."""
    return database_url_for_test(tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))


@pytest.fixture
def app(database_url: str, clock: Clock):  # type: ignore[no-untyped-def]
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key-0123456789abcdef",
            "SHOPIFY_API_KEY": API_KEY,
            "SHOPIFY_API_SECRET": APP_SECRET,
            "SENDGRID_API_KEY": None,
            "APP_URL": "https://nudge.example",
        }
    )
    Services.of(app).clock = clock
    server_errors: list[str] = []

    @app.after_request
    def _no_server_errors(response):  # type: ignore[no-untyped-def]
        # TESTING propagates exceptions; this also catches a 5xx returned on purpose.
        if response.status_code >= 500:
            server_errors.append(f"{response.status_code} {response.get_data(as_text=True)[:200]}")
        return response

    yield app
    Services.of(app).dispose()
    assert not server_errors, f"requests answered with a server error: {server_errors}"


@pytest.fixture
def services(app) -> Services:  # type: ignore[no-untyped-def]
    return Services.of(app)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def runner(app):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture
def shop(services: Services) -> Shop:
    with services.sessions() as session, session.begin():
        row = Shop(
            domain=SHOP,
            platform="shopify",
            access_token="tok",
            webhook_secret=SHOP_SECRET,
            settings={"postal_address": SHOP_ADDRESS},
        )
        session.add(row)
    return row


@pytest.fixture
def at(clock, services):  # type: ignore[no-untyped-def]
    """Move the clock to ``when`` and run everything due, like `nudge run-due --now`."""
    from plugin.pipeline.worker import run_once

    def run(when: datetime):  # type: ignore[no-untyped-def]
        clock.now = when
        return run_once(services, when)

    return run


@pytest.fixture
def send_webhook(client, shop) -> WebhookSender:  # type: ignore[no-untyped-def]
    return WebhookSender(client)
