"""SendGrid's signed event webhook as SendGrid sends it: a key pair, and signed posts."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connectors.sendgrid import events as sg_events
from tests.support.shop import SHOP

PRIVATE = ec.generate_private_key(ec.SECP256R1())
PUBLIC = base64.b64encode(
    PRIVATE.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


def post_events(client: Any, events: list[dict[str, Any]]) -> Any:
    """POST a batch to /webhooks/sendgrid, signed now (the events carry their own times)."""
    body = json.dumps(events).encode()
    stamp = str(int(time.time()))
    signature = PRIVATE.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    headers = {
        sg_events.SIGNATURE_HEADER: base64.b64encode(signature).decode(),
        sg_events.TIMESTAMP_HEADER: stamp,
    }
    return client.post(
        "/webhooks/sendgrid", data=body, headers=headers, content_type="application/json"
    )


def message_event(kind: str, message_id: int, email: str, at: datetime, **extra: Any) -> dict:
    """One event about a message Nudge sent, with the custom args it sent it with."""
    return {
        "email": email,
        "event": kind,
        "timestamp": int(at.timestamp()),
        "sg_event_id": f"{kind}-{message_id}-{int(at.timestamp())}",
        "sg_message_id": f"sg-{message_id}.filter0001",
        "nudge_shop": SHOP,
        "nudge_message_id": str(message_id),
        **extra,
    }
