"""SendGrid's faults as delivery meets them: rate limits wait for the reset, transient
errors back off (capped, with jitter), permanent refusals are parked with SendGrid's words."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
import responses
from sqlalchemy import select

from plugin.pipeline import delivery
from plugin.pipeline.delivery import deliver_pending
from plugin.storage.models import OutboxMessage
from tests.support.clock import T0
from tests.support.workflows import queue_reminder

SEND_URL = "https://sendgrid.test/v3/mail/send"
NOW = T0 + timedelta(hours=4, minutes=2)


def _email(services) -> OutboxMessage:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")).one()


@pytest.fixture
def queued(send_webhook, services):  # type: ignore[no-untyped-def]
    queue_reminder(send_webhook, services)
    services.settings.update(SENDGRID_API_KEY="SG.k", SENDGRID_BASE_URL="https://sendgrid.test")
    return services


@responses.activate
def test_a_rate_limit_waits_until_sendgrids_reset(queued):
    reset = int(NOW.timestamp()) + 900  # well beyond the first backoff (at most 30 s)
    responses.post(SEND_URL, status=429, headers={"X-RateLimit-Reset": str(reset)})
    assert deliver_pending(queued, NOW).retried == 1
    message = _email(queued)
    assert message.state == "pending"
    assert message.next_attempt_at.timestamp() >= reset
    deliver_pending(queued, message.next_attempt_at - timedelta(seconds=1))
    assert len(responses.calls) == 1  # not a request before the reset


@responses.activate
def test_requests_carry_a_timeout_and_one_recipient(queued):
    responses.post(SEND_URL, status=202)
    deliver_pending(queued, NOW)
    [call] = responses.calls
    assert call.request.req_kwargs["timeout"]
    assert len(json.loads(call.request.body)["personalizations"]) == 1


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("fault", ["503", "connection refused"])
def test_transient_faults_back_off_exponentially_capped_then_park(queued, fault):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        if fault == "503":
            mocked.post(SEND_URL, status=503, body="busy")
        else:
            queued.settings["SENDGRID_BASE_URL"] = _closed_port()
            mocked.add_passthru(queued.settings["SENDGRID_BASE_URL"])
        now, waits = NOW, []
        for _ in range(delivery.MAX_ATTEMPTS - 1):
            deliver_pending(queued, now)
            message = _email(queued)
            assert message.state == "pending", message.last_error  # a plain retry
            waits.append((message.next_attempt_at - now).total_seconds())
            now = message.next_attempt_at
        deliver_pending(queued, now)
    # each wait lies in [half, all] of its ceiling 30 s * 2^(n-1), capped at an hour
    for attempt, wait in enumerate(waits, start=1):
        ceiling = min(3600.0, 30.0 * 2 ** (attempt - 1))
        assert ceiling / 2 <= wait <= ceiling, (attempt, wait)
    assert waits[-1] > waits[0] * 8  # it grows
    message = _email(queued)
    assert (message.state, message.attempts) == ("failed", delivery.MAX_ATTEMPTS)
    assert message.last_error


@pytest.mark.parametrize("status", [400, 401, 403, 413])
@responses.activate
def test_a_refusal_is_parked_with_sendgrids_text_and_never_retried_by_itself(queued, status):
    text = {400: "Invalid from", 401: "bad key", 403: "access forbidden", 413: "too large"}
    responses.post(SEND_URL, status=status, json={"errors": [{"message": text[status]}]})
    assert deliver_pending(queued, NOW).failed == 1
    message = _email(queued)
    assert (message.state, message.last_error) == ("failed", f"{status}: {text[status]}")
    deliver_pending(queued, NOW + timedelta(days=2))
    assert len(responses.calls) == 1
