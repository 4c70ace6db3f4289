"""A shop's own webhook secret is encrypted at rest, like its Admin API tokens."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import select, text

from connectors import woocommerce
from plugin import create_app
from plugin.cli import main
from plugin.services import Services
from plugin.shopify_app import tokens
from plugin.storage.models import Delivery, Shop

WOO_SHOP = "woo.example.com"
SECRET = "woo-webhook-secret-4f1c"
KEY = "webhook-secrets-test-key-0123456789abcdef"


def raw_shop_row(services: Services) -> str:
    """Every column of the shop's row as the database holds it."""
    with services.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM shops WHERE domain = :d"), {"d": WOO_SHOP}).one()
    return " ".join(str(value) for value in row)


def deliver(client) -> int:  # type: ignore[no-untyped-def]
    body = json.dumps({"id": 1, "email": "ann@example.com"}).encode()
    response = client.post(
        f"/webhooks/woocommerce/{WOO_SHOP}",
        data=body,
        headers={
            "X-WC-Webhook-Topic": "customer.created",
            "X-WC-Webhook-Signature": woocommerce.sign(body, SECRET),
            "X-WC-Webhook-Delivery-ID": f"d-{body.hex()[:8]}",
        },
    )
    return response.status_code


def test_a_secret_given_to_shop_add_is_stored_encrypted_and_verifies(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'nudge.sqlite3'}"
    monkeypatch.setenv("NUDGE_DATABASE_URL", url)
    monkeypatch.setenv("NUDGE_SECRET_KEY", KEY)
    added = CliRunner().invoke(
        main, ["shop", "add", WOO_SHOP, "--platform", "woocommerce", "--webhook-secret", SECRET]
    )
    assert added.exit_code == 0, added.output
    app = create_app({"TESTING": True})
    services = Services.of(app)
    try:
        assert SECRET not in raw_shop_row(services)
        assert deliver(app.test_client()) == 200
        with services.sessions() as session:
            assert session.scalars(select(Delivery.status)).all() == ["pending"]
    finally:
        services.dispose()


def test_a_plaintext_secret_from_before_is_read_then_moved_to_the_encrypted_column(
    client, services
):
    with services.sessions() as session, session.begin():
        session.add(Shop(domain=WOO_SHOP, platform="woocommerce", webhook_secret=SECRET))
    assert SECRET in raw_shop_row(services)
    assert deliver(client) == 200
    assert SECRET not in raw_shop_row(services)
    with services.sessions() as session:
        shop = session.scalars(select(Shop)).one()
    assert tokens.cipher(services).decrypt(shop.webhook_secret_encrypted or "") == SECRET
    services.webhook_credentials.clear()  # read again from the row: the encrypted one
    assert deliver(client) == 200
