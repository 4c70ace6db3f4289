"""Webhook intake: signatures over raw bytes, clear errors, the durable inbox, dedup."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from plugin.storage.models import Delivery
from tests.support.recorded import load_fixture
from tests.support.shop import SHOP
from tests.support.webhooks import shopify_signature


def _deliveries(services):  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return session.scalars(select(Delivery).order_by(Delivery.id)).all()


def test_signed_delivery_is_stored_raw_and_acknowledged(send_webhook, services):
    body = load_fixture("shopify/checkouts_update.json")
    response = send_webhook("checkouts/update", body, webhook_id="abc-1")
    assert response.status_code == 200
    assert response.json["status"] == "accepted"
    [stored] = _deliveries(services)
    assert stored.body == body  # byte-exact: the signature was checked over these bytes
    assert (stored.topic, stored.delivery_id, stored.status) == (
        "checkouts/update",
        "abc-1",
        "pending",
    )


def test_repeated_delivery_is_stored_once(send_webhook, services):
    body = load_fixture("shopify/orders_create.json")
    first = send_webhook("orders/create", body, webhook_id="same")
    second = send_webhook("orders/create", body, webhook_id="same")
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json["status"] == "duplicate"
    assert len(_deliveries(services)) == 1


def test_wrong_secret_is_401_and_stores_nothing(send_webhook, services):
    response = send_webhook("orders/create", {"id": 1}, secret="not-the-secret")
    assert response.status_code == 401
    assert _deliveries(services) == []


def test_tampered_body_is_401(client, shop, services):
    body = json.dumps({"id": 1, "total_price": "10.00"}).encode()
    headers = {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Hmac-Sha256": shopify_signature(body),
    }
    response = client.post(
        "/webhooks/shopify", data=body.replace(b"10.00", b"99.00"), headers=headers
    )
    assert response.status_code == 401
    assert _deliveries(services) == []


def test_missing_signature_is_401(client, shop):
    response = client.post(
        "/webhooks/shopify",
        data=b"{}",
        headers={"X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": SHOP},
    )
    assert response.status_code == 401


def test_unknown_shop_is_401(send_webhook):
    response = send_webhook("orders/create", {"id": 1}, shop="someone-else.myshopify.com")
    assert response.status_code == 401


def test_missing_topic_or_shop_header_is_400(client, shop):
    body = b'{"id": 1}'
    response = client.post(
        "/webhooks/shopify",
        data=body,
        headers={"X-Shopify-Shop-Domain": SHOP, "X-Shopify-Hmac-Sha256": shopify_signature(body)},
    )
    assert response.status_code == 400
    response = client.post(
        "/webhooks/shopify",
        data=body,
        headers={
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": shopify_signature(body),
        },
    )
    assert response.status_code == 400


UNREADABLE = {
    b"{not json": "not JSON",
    b"[1, 2]": "expected a JSON object",
    b"\xff\xfe\x00": "not UTF-8",
    b"": "not JSON",
    b'{"a": ' * 4000 + b"1" + b"}" * 4000: "nested more than 64 deep",
    b'{"email": "\\ud800"}': "lone surrogate",
    b'{"email": "\xed\xa0\x80"}': "not UTF-8",  # a surrogate encoded in UTF-8
    b'{"total": NaN}': "NaN is not a JSON number",
}


def test_a_signed_body_that_cannot_be_read_is_kept_as_failed_and_acknowledged(
    send_webhook, services
):
    """Signed, so not lost; sending it again would not make it readable: 200, kept failed."""
    for body in UNREADABLE:
        response = send_webhook("orders/create", body)
        assert response.status_code == 200, body[:40]
        assert response.json["status"] == "failed"
    stored = _deliveries(services)
    assert [d.body for d in stored] == list(UNREADABLE)
    for delivery, reason in zip(stored, UNREADABLE.values(), strict=True):
        assert delivery.status == "failed" and reason in (delivery.error or ""), delivery.error
    again = send_webhook("orders/create", b"{not json", webhook_id="delivery-1")
    assert (again.status_code, again.json["status"]) == (200, "duplicate")


def test_oversized_body_is_413(send_webhook, app, services):
    body = b'{"pad": "' + b"x" * (app.config["MAX_CONTENT_LENGTH"] + 10) + b'"}'
    response = send_webhook("orders/create", body)
    assert response.status_code == 413
    assert _deliveries(services) == []


def test_unknown_topic_is_recorded_and_acknowledged(send_webhook, services):
    response = send_webhook("collections/update", {"id": 5})
    assert response.status_code == 200
    assert response.json["status"] == "ignored"
    [stored] = _deliveries(services)
    assert (stored.topic, stored.status) == ("collections/update", "ignored")


def test_healthz(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_no_rule_work_happens_on_the_request(send_webhook, services):
    send_webhook("checkouts/update", load_fixture("shopify/checkouts_update.json"))
    with services.sessions() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "pending")
            )
            == 1
        )


def test_consent_topic_as_shopify_sends_it_is_processed(send_webhook, services, at, clock):
    from datetime import timedelta

    from plugin.storage.models import CustomerRow
    from tests.support import payloads

    send_webhook("customers/create", payloads.customer())
    send_webhook("customers_email_marketing_consent/update", payloads.consent(subscribed=True))
    at(clock.now)
    # Shopify's sample has consent_updated_at null; the later delivery must still win
    unsubscribe = payloads.consent(subscribed=False)
    unsubscribe["email_marketing_consent"]["consent_updated_at"] = None
    response = send_webhook(
        "customers/email_marketing_consent_update", unsubscribe
    )  # the other spelling
    assert response.json["status"] == "accepted"
    at(clock.now + timedelta(minutes=1))
    with services.sessions() as session:
        assert session.scalars(select(CustomerRow.accepts_marketing)).one() is False
        assert set(session.scalars(select(Delivery.status))) == {"processed"}


def test_a_rotated_webhook_secret_takes_effect_at_once(send_webhook, services):
    """Shop credentials are remembered between requests; a new secret must not be refused."""
    from plugin.storage.models import Shop

    assert send_webhook("customers/create", {"id": 1}).status_code == 200  # now remembered
    with services.sessions() as session, session.begin():
        session.scalar(select(Shop)).webhook_secret = "rotated-secret"
    assert send_webhook("customers/create", {"id": 2}, secret="rotated-secret").status_code == 200
    refused = send_webhook("customers/create", {"id": 3})  # the old secret no longer works
    assert refused.status_code == 401
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 2
