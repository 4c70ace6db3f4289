"""Outbox delivery to SendGrid (mocked at the network edge with `responses`)."""

from __future__ import annotations

import json
from datetime import timedelta

import jsonschema
import pytest
import responses
from sqlalchemy import select

from plugin.pipeline.delivery import deliver_pending
from plugin.pipeline.worker import run_once
from plugin.storage.models import OutboxMessage
from tests.support import payloads
from tests.support.clock import T0
from tests.support.recorded import FIXTURES
from tests.support.workflows import subscribe

SEND_URL = "https://sendgrid.test/v3/mail/send"
SCHEMA = json.loads((FIXTURES / "sendgrid" / "mail_send_request.lenient.schema.json").read_text())


@pytest.fixture
def keyed(services):  # type: ignore[no-untyped-def]
    services.settings["SENDGRID_API_KEY"] = "SG.test-key"
    services.settings["SENDGRID_BASE_URL"] = "https://sendgrid.test"
    return services


def _queue_reminder(send_webhook, services) -> None:  # type: ignore[no-untyped-def]
    """Get one abandonment reminder into the outbox, undelivered."""
    services.settings["SENDGRID_API_KEY"] = None
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-d", T0))
    from plugin.pipeline.due_steps import run_due
    from plugin.pipeline.inbox import process_inbox

    process_inbox(services, T0)
    run_due(services, T0 + timedelta(hours=4, minutes=1))
    services.settings["SENDGRID_API_KEY"] = "SG.test-key"
    services.settings["SENDGRID_BASE_URL"] = "https://sendgrid.test"


def _message(services) -> OutboxMessage:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")).one()


@responses.activate
def test_sent_payload_matches_the_official_schema(send_webhook, services):
    _queue_reminder(send_webhook, services)
    responses.post(SEND_URL, status=202, headers={"X-Message-Id": "sg-msg-1"})
    stats = deliver_pending(services, T0 + timedelta(hours=4, minutes=2))
    assert stats.sent == 1
    [call] = responses.calls
    assert call.request.headers["Authorization"] == "Bearer SG.test-key"
    body = json.loads(call.request.body)
    jsonschema.Draft202012Validator(SCHEMA).validate(body)
    custom_args = body.get("custom_args") or body["personalizations"][0]["custom_args"]
    assert all(isinstance(v, str) for v in custom_args.values())
    assert custom_args["nudge_workflow"] == "cart_abandonment"
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert body["headers"]["List-Unsubscribe"].startswith("<https://nudge.example/unsubscribe/")
    message = _message(services)
    assert (message.state, message.provider_message_id) == ("sent", "sg-msg-1")


@responses.activate
def test_rate_limit_and_server_errors_are_retried_later(send_webhook, services):
    _queue_reminder(send_webhook, services)
    now = T0 + timedelta(hours=4, minutes=2)
    reset = int(now.timestamp()) + 120
    responses.post(SEND_URL, status=429, headers={"X-RateLimit-Reset": str(reset)})
    stats = deliver_pending(services, now)
    assert stats.retried == 1
    message = _message(services)
    assert message.state == "pending" and message.next_attempt_at > now
    responses.replace(responses.POST, SEND_URL, status=503)
    deliver_pending(services, message.next_attempt_at)
    message = _message(services)
    assert message.state == "pending" and message.attempts == 2
    responses.replace(responses.POST, SEND_URL, status=202, headers={"X-Message-Id": "sg-2"})
    deliver_pending(services, message.next_attempt_at)
    assert _message(services).state == "sent"


@responses.activate
def test_permanent_error_is_parked_with_sendgrids_text(send_webhook, services):
    _queue_reminder(send_webhook, services)
    responses.post(
        SEND_URL,
        status=400,
        json={
            "errors": [
                {
                    "message": "The from address does not match a verified Sender Identity.",
                    "field": "from",
                }
            ]
        },
    )
    stats = deliver_pending(services, T0 + timedelta(hours=4, minutes=2))
    assert stats.failed == 1
    message = _message(services)
    assert message.state == "failed"
    assert "verified Sender Identity" in (message.last_error or "")
    deliver_pending(services, T0 + timedelta(days=1))
    assert len(responses.calls) == 1  # a permanent failure is never retried by itself


@responses.activate
def test_without_a_key_nothing_leaves_the_machine(send_webhook, services):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-k", T0))
    run_once(services, T0)
    run_once(services, T0 + timedelta(hours=4, minutes=1))
    assert len(responses.calls) == 0
    message = _message(services)
    assert message.state == "kept" and message.preview_html


@responses.activate
def test_a_parked_message_can_be_retried_by_hand(send_webhook, services, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from plugin.cli import main

    _queue_reminder(send_webhook, services)
    responses.post(SEND_URL, status=403, json={"errors": [{"message": "access forbidden"}]})
    deliver_pending(services, T0 + timedelta(hours=4, minutes=2))
    message = _message(services)
    monkeypatch.setenv("NUDGE_DATABASE_URL", services.settings["DATABASE_URL"])
    listing = CliRunner().invoke(main, ["outbox", "--json"], catch_exceptions=False).output
    assert json.loads(listing.splitlines()[0])["last_error"] == "403: access forbidden"
    result = CliRunner().invoke(
        main, ["outbox", "--retry", str(message.id)], catch_exceptions=False
    )
    assert "re-queued 1 of 1" in result.output
    responses.replace(responses.POST, SEND_URL, status=202, headers={"X-Message-Id": "ok"})
    deliver_pending(services, T0 + timedelta(hours=5))
    assert _message(services).state == "sent"


@responses.activate
def test_a_workflows_own_sender_overrides_the_shops(send_webhook, services):
    from plugin.shop_settings.workflows import save_workflow, shop_workflows
    from plugin.storage.models import Shop

    with services.sessions() as session, session.begin():
        shop = session.scalars(select(Shop)).one()
        shop.settings = {
            **shop.settings,
            "from_email": "shop@shop.example",
            "from_name": "The Shop",
            "reply_to": "help@shop.example",
            "asm_group_id": 11,
        }
        definition = dict(shop_workflows(session, shop.id)["cart_abandonment"].definition)
        definition["sender"] = {
            "from_email": "carts@shop.example",
            "from_name": None,  # unset: the shop's
            "reply_to": "carts-help@shop.example",
            "asm_group_id": 42,
        }
        save_workflow(session, shop.id, definition)
    _queue_reminder(send_webhook, services)
    responses.post(SEND_URL, status=202, headers={"X-Message-Id": "sg-msg-2"})
    assert deliver_pending(services, T0 + timedelta(hours=4, minutes=2)).sent == 1
    body = json.loads(responses.calls[0].request.body)
    jsonschema.Draft202012Validator(SCHEMA).validate(body)
    assert body["from"] == {"email": "carts@shop.example", "name": "The Shop"}
    assert body["reply_to"] == {"email": "carts-help@shop.example"}
    assert body["asm"]["group_id"] == 42
