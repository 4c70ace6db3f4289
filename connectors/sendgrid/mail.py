"""Mail send: payloads built with sendgrid's helpers (``Mail(...).get()``), POSTed with requests.

The sendgrid package sends over urllib; Nudge sends with ``requests`` so that timeouts,
retries and test mocks (``responses``) work the same as for every other HTTP call.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3
from sendgrid.helpers.mail import (
    Asm,
    Category,
    Content,
    CustomArg,
    From,
    Header,
    Mail,
    Personalization,
    ReplyTo,
    To,
)

MAX_PERSONALIZATIONS = 1000  # SendGrid's limit per request (also 1000 recipients in all)
PERMANENT = "permanent"


@dataclass(frozen=True)
class OutgoingEmail:
    """One email to one recipient, as Nudge wants it sent."""

    to_email: str
    from_email: str
    subject: str
    to_name: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    html: str | None = None
    text: str | None = None
    template_id: str | None = None
    template_data: dict[str, Any] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    custom_args: dict[str, str] = field(default_factory=dict)
    asm_group_id: int | None = None
    unsubscribe_url: str | None = None
    send_at: int | None = None

    def __post_init__(self) -> None:
        bad = [k for k, v in self.custom_args.items() if not isinstance(v, str)]
        if bad:
            raise ValueError(f"custom_args values must be strings: {', '.join(bad)}")
        if not self.template_id and not (self.html or self.text):
            raise ValueError("an email needs html or text content, or a template_id")


@dataclass(frozen=True)
class SendResult:
    """What SendGrid answered (or why it could not be asked)."""

    ok: bool
    status: int
    message_id: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    error: str | None = None
    # the request may have reached SendGrid before the answer was lost (read timeout,
    # connection dropped mid-request): sending again blindly could deliver it twice
    ambiguous: bool = False


def _may_have_arrived(exc: requests.RequestException) -> bool:
    """False only when the request surely never reached SendGrid (no connection made)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.InvalidURL):
        return False
    if isinstance(exc, requests.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", exc.args[0])
        if isinstance(reason, urllib3.exceptions.NewConnectionError):
            return False  # refused, unreachable or unresolvable: nothing was sent
    return True


def _personalization(email: OutgoingEmail) -> Personalization:
    personalization = Personalization()
    personalization.add_to(To(email.to_email, email.to_name))
    for key, value in email.custom_args.items():
        personalization.add_custom_arg(CustomArg(key, value))
    if email.template_id:
        personalization.dynamic_template_data = dict(email.template_data)
    return personalization


def _message(first: OutgoingEmail, personalizations: Sequence[Personalization]) -> Mail:
    mail = Mail()
    mail.from_email = From(first.from_email, first.from_name)
    if first.template_id:
        mail.template_id = first.template_id
    else:
        mail.subject = first.subject
        if first.text:
            mail.add_content(Content("text/plain", first.text))
        if first.html:
            mail.add_content(Content("text/html", first.html))
    if first.template_id and first.subject:
        mail.subject = first.subject
    for personalization in personalizations:
        mail.add_personalization(personalization)
    if first.reply_to:
        mail.reply_to = ReplyTo(first.reply_to)
    for category in first.categories[:10]:
        mail.add_category(Category(category))
    if first.asm_group_id:
        mail.asm = Asm(first.asm_group_id)
    if first.unsubscribe_url:
        # RFC 8058 one-click unsubscribe, required of bulk senders by the big mailbox providers
        mail.add_header(Header("List-Unsubscribe", f"<{first.unsubscribe_url}>"))
        mail.add_header(Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    if first.send_at:
        mail.send_at = first.send_at
    return mail


def build_payload(email: OutgoingEmail) -> dict[str, Any]:
    """The /v3/mail/send JSON for one email."""
    payload: dict[str, Any] = _message(email, [_personalization(email)]).get()
    return payload


def build_batch_payloads(emails: Sequence[OutgoingEmail]) -> list[dict[str, Any]]:
    """Requests for many recipients of the same message, at most 1000 personalizations each.

    The first email gives the shared parts (sender, subject, content, headers).
    """
    if not emails:
        return []
    payloads = []
    for start in range(0, len(emails), MAX_PERSONALIZATIONS):
        chunk = emails[start : start + MAX_PERSONALIZATIONS]
        payloads.append(_message(chunk[0], [_personalization(e) for e in chunk]).get())
    return payloads


def _error_text(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        messages = [
            str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message")
        ]
        if messages:
            return f"{response.status_code}: " + "; ".join(messages)
    except (ValueError, AttributeError):
        pass
    return f"{response.status_code}: {response.text[:500]}"


def send(
    payload: dict[str, Any],
    api_key: str,
    base_url: str = "https://api.sendgrid.com",
    timeout: float = 10.0,
    session: requests.Session | None = None,
    now: Callable[[], float] = time.time,
) -> SendResult:
    """POST one payload; classify the answer. Never raises."""
    http = session or requests
    try:
        response = http.post(
            f"{base_url.rstrip('/')}/v3/mail/send",
            json=payload,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        return SendResult(
            False,
            0,
            retryable=True,
            error=f"{type(exc).__name__}: {exc}"[:500],
            ambiguous=_may_have_arrived(exc),
        )
    status = response.status_code
    if 200 <= status < 300:
        return SendResult(True, status, message_id=response.headers.get("X-Message-Id"))
    if status == 429:
        reset = response.headers.get("X-RateLimit-Reset")
        retry_after = None
        if reset and reset.strip().isdigit():
            retry_after = max(0.0, float(reset) - now())
        return SendResult(
            False, status, retryable=True, retry_after=retry_after, error=_error_text(response)
        )
    return SendResult(False, status, retryable=status >= 500, error=_error_text(response))


def retry_delay(
    attempt: int,
    retry_after: float | None = None,
    base: float = 30.0,
    cap: float = 3600.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before attempt ``attempt + 1``: capped exponential backoff with jitter.

    A server-given ``retry_after`` (rate limit reset) is a floor, never shortened by jitter.
    """
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    delay = ceiling * (0.5 + rng() / 2)
    return max(delay, retry_after or 0.0)


def suppress_in_group(
    emails: Sequence[str],
    group_id: int,
    api_key: str,
    base_url: str = "https://api.sendgrid.com",
    timeout: float = 10.0,
) -> SendResult:
    """Add addresses to an unsubscribe group (POST /v3/asm/groups/{id}/suppressions). Never raises."""
    try:
        response = requests.post(
            f"{base_url.rstrip('/')}/v3/asm/groups/{int(group_id)}/suppressions",
            json={"recipient_emails": list(emails)},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        return SendResult(False, 0, retryable=True, error=f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= response.status_code < 300:
        return SendResult(True, response.status_code)
    status = response.status_code
    return SendResult(
        False, status, retryable=status == 429 or status >= 500, error=_error_text(response)
    )
