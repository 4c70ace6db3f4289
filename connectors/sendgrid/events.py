"""SendGrid's signed Event Webhook: verify it, turn its events into Nudge events.

SendGrid signs ``timestamp + raw body`` with ECDSA P-256 / SHA-256; the base64 DER signature
and the timestamp come in ``X-Twilio-Email-Event-Webhook-Signature`` and ``-Timestamp``.
It retries for 24 hours, so the same ``sg_event_id`` may arrive more than once.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connectors.errors import MalformedPayload
from connectors.headers import header
from rules import events as ev
from rules.events import Event
from rules.facts import Engagement

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
ENGAGED = frozenset({"open", "click"})
DELIVERED = frozenset({"delivered"})
SUPPRESSING = frozenset({"bounce", "dropped", "spamreport", "unsubscribe", "group_unsubscribe"})


def load_public_key(text: str) -> ec.EllipticCurvePublicKey | None:
    """The key as SendGrid shows it (base64 DER), or PEM; None if it is neither."""
    try:
        if "BEGIN PUBLIC KEY" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text.strip(), validate=True))
    except (ValueError, binascii.Error, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePublicKey) else None


def verify(
    headers: Mapping[str, str],
    raw_body: bytes,
    public_key: str,
    now: float | None = None,
    max_age_seconds: int = 600,
) -> bool:
    """Check the ECDSA signature and that the timestamp is recent; never raises."""
    key = load_public_key(public_key or "")
    signature, timestamp = header(headers, SIGNATURE_HEADER), header(headers, TIMESTAMP_HEADER)
    if key is None or not signature or not timestamp or not timestamp.strip().isdigit():
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > max_age_seconds:
        return False  # a replayed or delayed request
    try:
        key.verify(
            base64.b64decode(signature, validate=True),
            timestamp.encode() + raw_body,
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def to_events(payload: Any) -> list[tuple[str, Event]]:
    """(sg_event_id, Event) for each delivery, engagement or suppression; other events
    (processed, deferred) are skipped."""
    if not isinstance(payload, list):
        raise MalformedPayload("the event webhook sends a JSON array")
    result = []
    for index, item in enumerate(payload):
        if not isinstance(item, dict):
            raise MalformedPayload(f"[{index}]: expected an object")
        kind, email, stamp = item.get("event"), item.get("email"), item.get("timestamp")
        if kind not in ENGAGED | DELIVERED | SUPPRESSING:
            continue  # processed, deferred: nothing to act on
        if (
            not isinstance(email, str)
            or not email
            or isinstance(stamp, bool)
            or not isinstance(stamp, int | float)
        ):
            raise MalformedPayload(f"[{index}]: needs 'email' and a numeric 'timestamp'")
        event_id = str(item.get("sg_event_id") or f"{kind}:{email}:{stamp}")
        occurred = datetime.fromtimestamp(stamp, UTC)
        ours = {k: str(v) for k, v in item.items() if isinstance(k, str) and k.startswith("nudge_")}
        data: dict[str, object] = {"sg_event_id": event_id, **ours}
        engagement = Engagement(
            kind=kind,
            email=email,
            occurred_at=occurred,
            message_id=ours.get("nudge_message_id"),
            url=item.get("url") if isinstance(item.get("url"), str) else None,
        )
        event_kind = (
            ev.EMAIL_ENGAGED
            if kind in ENGAGED
            else ev.EMAIL_DELIVERED
            if kind in DELIVERED
            else ev.EMAIL_SUPPRESSED
        )
        result.append(
            (event_id, Event(event_kind, occurred_at=occurred, engagement=engagement, data=data))
        )
    return result
