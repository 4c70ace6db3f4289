"""Shared fixtures, in the manner of Flask's tutorial: app, client, runner, plus a signed
webhook sender and a clock the test moves by hand."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import create_engine, text

from plugin import create_app
from plugin.services import Services
from plugin.storage.models import Shop
from tests.scale_services import release_held

SHOP = "test-shop.myshopify.com"
SHOP_SECRET = "test-webhook-secret"
FIXTURES = Path(__file__).parent / "fixtures"


def database_url_for_test(tmp_path: Path) -> str:
    """SQLite in the test's folder, or the PostgreSQL named by NUDGE_TEST_DATABASE_URL."""
    url = os.environ.get("NUDGE_TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path / 'nudge.sqlite3'}"
    engine = create_engine(url)
    with engine.begin() as conn:  # a clean schema per test
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(autouse=True)
def _release_shared_services():
    """Let another test run on this machine have the Redis databases and PostgreSQL
    databases this test held (tests.scale_services.hold)."""
    yield
    release_held()


class Clock:
    """A clock tests set by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, iso: str) -> datetime:
        self.now = datetime.fromisoformat(iso).astimezone(UTC)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))


@pytest.fixture
def app(tmp_path: Path, clock: Clock):  # type: ignore[no-untyped-def]
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url_for_test(tmp_path),
            "SECRET_KEY": "test-secret-key",
            "SHOPIFY_API_KEY": "test-api-key",
            "SHOPIFY_API_SECRET": "test-app-secret-0123456789abcdef0123456789",
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
            settings={},
        )
        session.add(row)
    return row


def shopify_signature(body: bytes, secret: str = SHOP_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class WebhookSender:
    """Post Shopify deliveries the way Shopify does: raw JSON bytes, signed headers."""

    def __init__(self, client: Any):
        self.client = client
        self.count = 0

    def __call__(
        self,
        topic: str,
        payload: Any,
        *,
        webhook_id: str | None = None,
        secret: str = SHOP_SECRET,
        shop: str = SHOP,
        headers: dict[str, str] | None = None,
    ):  # type: ignore[no-untyped-def]
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.count += 1
        sent = {
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-Webhook-Id": webhook_id or f"delivery-{self.count}",
            "X-Shopify-Hmac-Sha256": shopify_signature(body, secret),
            "Content-Type": "application/json",
        }
        sent.update(headers or {})
        return self.client.post("/webhooks/shopify", data=body, headers=sent)


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


def session_token(
    shop: str = SHOP,
    *,
    secret: str = "test-app-secret-0123456789abcdef0123456789",
    audience: str = "test-api-key",
    expires_in: int = 60,
    not_before_in: int = -5,
) -> str:
    """A Shopify session token as App Bridge makes it (HS256, signed with the app secret)."""
    now = int(time.time())
    claims = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": audience,
        "sub": "42",
        "exp": now + expires_in,
        "nbf": now + not_before_in,
        "iat": now,
        "jti": f"jti-{now}",
        "sid": "session-1",
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def load_fixture(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()
