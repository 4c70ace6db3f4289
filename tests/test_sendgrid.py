"""SendGrid payloads against the official schema, limits, and how answers are classified."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import requests
import responses

from connectors import sendgrid

SCHEMA = json.loads(
    (
        Path(__file__).parent / "fixtures" / "sendgrid" / "mail_send_request.lenient.schema.json"
    ).read_text()
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
URL = "https://sendgrid.test/v3/mail/send"


def email(**kw) -> sendgrid.OutgoingEmail:  # type: ignore[no-untyped-def]
    base = dict(
        to_email="ann@example.com",
        to_name="Ann",
        from_email="shop@example.com",
        from_name="Shop",
        subject="Hello",
        html="<p>Hi</p>",
        text="Hi",
        categories=("nudge", "cart_abandonment"),
        custom_args={"nudge_message_id": "7"},
    )
    return sendgrid.OutgoingEmail(**{**base, **kw})


def test_html_email_with_unsubscribe_headers_matches_the_schema():
    payload = sendgrid.build_payload(
        email(
            unsubscribe_url="https://app.example/unsubscribe/x",
            asm_group_id=12,
            reply_to="help@example.com",
        )
    )
    VALIDATOR.validate(payload)
    assert payload["headers"] == {
        "List-Unsubscribe": "<https://app.example/unsubscribe/x>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert payload["asm"] == {"group_id": 12}
    assert payload["personalizations"][0]["custom_args"] == {"nudge_message_id": "7"}
    assert [c["type"] for c in payload["content"]] == ["text/plain", "text/html"]


def test_dynamic_template_email_matches_the_schema():
    payload = sendgrid.build_payload(
        email(
            html=None,
            text=None,
            template_id="d-123",
            template_data={"first_name": "Ann", "items": [{"title": "Beans"}]},
        )
    )
    VALIDATOR.validate(payload)
    assert payload["template_id"] == "d-123" and "content" not in payload
    assert payload["personalizations"][0]["dynamic_template_data"]["first_name"] == "Ann"


def test_custom_args_must_be_strings():
    with pytest.raises(ValueError, match="strings"):
        email(custom_args={"nudge_message_id": 7})


def test_batches_never_exceed_1000_personalizations():
    emails = [email(to_email=f"c{n}@example.com") for n in range(2500)]
    payloads = sendgrid.build_batch_payloads(emails)
    assert [len(p["personalizations"]) for p in payloads] == [1000, 1000, 500]
    for payload in payloads:
        VALIDATOR.validate(payload)
        assert sum(len(p["to"]) for p in payload["personalizations"]) <= 1000
        assert all(
            isinstance(v, str)
            for p in payload["personalizations"]
            for v in p["custom_args"].values()
        )


@responses.activate
def test_send_classifies_answers():
    payload = sendgrid.build_payload(email())
    responses.post(URL, status=202, headers={"X-Message-Id": "abc"})
    assert sendgrid.send(payload, "key", "https://sendgrid.test") == sendgrid.SendResult(
        True, 202, message_id="abc"
    )
    responses.replace(responses.POST, URL, status=429, headers={"X-RateLimit-Reset": "1000060"})
    limited = sendgrid.send(payload, "key", "https://sendgrid.test", now=lambda: 1_000_000.0)
    assert (limited.retryable, limited.retry_after) == (True, 60.0)
    responses.replace(responses.POST, URL, status=503, body="busy")
    assert sendgrid.send(payload, "key", "https://sendgrid.test").retryable
    responses.replace(
        responses.POST,
        URL,
        status=401,
        json={"errors": [{"message": "The provided authorization grant is invalid"}]},
    )
    denied = sendgrid.send(payload, "key", "https://sendgrid.test")
    assert (
        not denied.retryable and denied.error == "401: The provided authorization grant is invalid"
    )
    responses.replace(responses.POST, URL, body=requests.exceptions.ConnectTimeout("slow"))
    timeout = sendgrid.send(payload, "key", "https://sendgrid.test")
    assert timeout.retryable and not timeout.ok and "ConnectTimeout" in (timeout.error or "")


def test_retry_delay_grows_is_capped_and_honours_the_reset():
    delays = [sendgrid.retry_delay(n, rng=lambda: 1.0) for n in range(1, 12)]
    assert delays == sorted(delays) and delays[0] == 30 and max(delays) == 3600
    assert sendgrid.retry_delay(1, rng=lambda: 0.0) == 15
    assert sendgrid.retry_delay(1, retry_after=500, rng=lambda: 0.0) == 500
