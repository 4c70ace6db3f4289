"""Ask SendGrid's Email Activity API whether it accepted a message (GET /v3/messages).

Used when a send's answer was lost (the process died, or the connection broke after the
request went out): SendGrid may or may not have the message, and sending again blindly
could deliver it twice. The API is a paid add-on and the key needs "Email Activity"
access; without them SendGrid answers 401/403/404 and the question cannot be answered.
Its limit is 6 requests a minute, so lookups are few and a 429 means "ask later".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import requests

FOUND = "found"  # SendGrid has a message with these custom args: it was accepted
ABSENT = "absent"  # SendGrid has none: it never arrived
UNAVAILABLE = "unavailable"  # this account or key has no Email Activity access
UNKNOWN = "unknown"  # could not tell now (rate limit, 5xx, network): ask again later


@dataclass(frozen=True)
class Lookup:
    """SendGrid's answer to "did you accept this message?"."""

    outcome: str
    message_id: str | None = None
    retry_after: float | None = None
    error: str | None = None


def activity_query(custom_args: Mapping[str, str]) -> str:
    """The Email Activity query matching every given custom arg (``unique_args`` there)."""
    clauses = []
    for key, value in sorted(custom_args.items()):
        if '"' in value or "'" in key:
            raise ValueError(f"cannot quote custom arg {key!r} in an activity query")
        clauses.append(f"unique_args['{key}']=\"{value}\"")
    return " AND ".join(clauses)


def find_message(
    custom_args: Mapping[str, str],
    api_key: str,
    base_url: str = "https://api.sendgrid.com",
    timeout: float = 10.0,
    now: Callable[[], float] = time.time,
) -> Lookup:
    """Look a message up by the custom args Nudge sent with it. Never raises."""
    try:
        response = requests.get(
            f"{base_url.rstrip('/')}/v3/messages",
            params={"query": activity_query(custom_args), "limit": "1"},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        return Lookup(UNKNOWN, error=f"{type(exc).__name__}: {exc}"[:500])
    status = response.status_code
    if status in (401, 403, 404):
        return Lookup(UNAVAILABLE, error=f"{status}: {response.text[:300]}")
    if status != 200:
        reset = response.headers.get("X-RateLimit-Reset", "")
        retry_after = max(0.0, float(reset) - now()) if reset.strip().isdigit() else None
        return Lookup(UNKNOWN, retry_after=retry_after, error=f"{status}: {response.text[:300]}")
    try:
        messages = response.json().get("messages")
    except (ValueError, AttributeError):
        messages = None
    if not isinstance(messages, list):
        return Lookup(UNKNOWN, error=f"{status}: unexpected answer {response.text[:200]}")
    if not messages:
        return Lookup(ABSENT)
    first = messages[0] if isinstance(messages[0], dict) else {}
    return Lookup(FOUND, message_id=str(first.get("msg_id") or "") or None)
