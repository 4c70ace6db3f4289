"""SendGrid's signed event webhook: ECDSA over timestamp + raw body, then engagement and
suppression facts tied to the shop and message through the custom args Nudge sent."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from connectors.sendgrid import events as sg_events
from plugin.storage.models import Delivery, EngagementRow, Episode, Suppression
from tests.support import payloads
from tests.support.clock import T0
from tests.support.shop import SHOP
from tests.support.workflows import emails, subscribe

PRIVATE = ec.generate_private_key(ec.SECP256R1())
PUBLIC = base64.b64encode(
    PRIVATE.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


def signed(body: bytes, timestamp: int | None = None, key=PRIVATE) -> dict[str, str]:  # type: ignore[no-untyped-def]
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        sg_events.SIGNATURE_HEADER: base64.b64encode(signature).decode(),
        sg_events.TIMESTAMP_HEADER: stamp,
    }


def event(kind: str, event_id: str, email: str = "ada@example.com", **extra) -> dict:  # type: ignore[no-untyped-def]
    return {
        "email": email,
        "event": kind,
        "timestamp": int(T0.timestamp()),
        "sg_event_id": event_id,
        "nudge_shop": SHOP,
        "nudge_message_id": "1",
        **extra,
    }


@pytest.fixture
def keyed(services):  # type: ignore[no-untyped-def]
    services.settings["SENDGRID_EVENT_PUBLIC_KEY"] = PUBLIC
    return services


def post(client, batch: list, headers: dict | None = None, body: bytes | None = None):  # type: ignore[no-untyped-def]
    raw = body if body is not None else json.dumps(batch).encode()
    return client.post(
        "/webhooks/sendgrid",
        data=raw,
        headers=headers if headers is not None else signed(raw),
        content_type="application/json",
    )


def test_signature_checks():
    body = b'[{"event": "open"}]'
    now = time.time()
    assert sg_events.verify(signed(body, int(now)), body, PUBLIC, now=now)
    assert not sg_events.verify(signed(body, int(now)), body + b" ", PUBLIC, now=now)
    other = ec.generate_private_key(ec.SECP256R1())
    assert not sg_events.verify(signed(body, int(now), key=other), body, PUBLIC, now=now)
    assert not sg_events.verify(signed(body, int(now) - 3600), body, PUBLIC, now=now)  # stale
    assert not sg_events.verify({}, body, PUBLIC, now=now)
    assert not sg_events.verify(signed(body, int(now)), body, "not a key", now=now)
    pem = (
        PRIVATE.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert sg_events.verify(signed(body, int(now)), body, pem, now=now)


def test_unsigned_or_unconfigured_is_401(client, shop, services):
    batch = [event("open", "e1")]
    assert post(client, batch, headers={}).status_code == 401  # no key configured, no signature
    services.settings["SENDGRID_EVENT_PUBLIC_KEY"] = PUBLIC
    assert post(client, batch, headers={}).status_code == 401
    assert post(client, batch).status_code == 200


def test_signed_garbage_is_kept_as_failed_and_acknowledged(client, services, shop, keyed):
    for raw in (b"{", b'{"event": "open"}', b"[" * 5000 + b"]" * 5000):
        response = post(client, [], body=raw, headers=signed(raw))
        assert (response.status_code, response.json["status"]) == (200, "failed")
    with services.sessions() as session:
        assert set(session.scalars(select(Delivery.status))) == {"failed"}


def test_unsubscribe_suppresses_and_click_ends_reengagement(client, send_webhook, keyed, at):
    subscribe(send_webhook)
    send_webhook("orders/create", payloads.order(5001, T0 - timedelta(days=120)))
    at(T0)
    assert [m.template for m in emails(keyed, "reengagement")] == ["winback"]
    batch = [
        event("delivered", "e0"),
        event("click", "e1", url="https://shop/x"),
        event("unsubscribe", "e2", email="bob@example.com"),
    ]
    assert post(client, batch).status_code == 200
    assert post(client, batch).json["status"] == "duplicate"  # SendGrid retried the same batch
    post(
        client,
        [
            event("click", "e1", url="https://shop/x"),
            event("open", "e3", email="stranger@example.com", nudge_shop="other.myshopify.com"),
        ],
    )
    at(T0 + timedelta(hours=1))
    with keyed.sessions() as session:
        # e0, e1 and e2 once each (e2 as the message's event and as a suppression);
        # e3's shop unknown
        kinds = session.execute(select(EngagementRow.kind, EngagementRow.message_id)).all()
        assert sorted(kinds) == [("click", 1), ("delivered", 1), ("unsubscribe", 1)]
        [suppression] = session.scalars(select(Suppression)).all()
        assert (suppression.email, suppression.scope, suppression.reason) == (
            "bob@example.com",
            "marketing",
            "unsubscribe",
        )
        [episode] = session.scalars(select(Episode).where(Episode.workflow == "reengagement")).all()
        assert (episode.state, episode.exit_reason) == ("exited", "exit: email_engaged")
    at(T0 + timedelta(days=20))
    assert [m.template for m in emails(keyed, "reengagement")] == ["winback"]


def test_a_delivery_is_recorded_for_attribution_but_is_no_engagement(
    client, send_webhook, keyed, at
):
    subscribe(send_webhook)
    send_webhook("orders/create", payloads.order(5001, T0 - timedelta(days=120)))
    at(T0)
    [message] = emails(keyed, "reengagement")
    delivered = event("delivered", "d1", nudge_message_id=str(message.id))
    assert post(client, [delivered]).status_code == 200
    at(T0 + timedelta(hours=1))
    with keyed.sessions() as session:
        [row] = session.scalars(select(EngagementRow)).all()
        assert (row.kind, row.message_id) == ("delivered", message.id)
        [episode] = session.scalars(select(Episode).where(Episode.workflow == "reengagement")).all()
        assert episode.state == "active"  # a delivery is not the engagement that ends it
