"""The demo's stand-in for SendGrid's side of an email: what recipients' mailboxes report.

Nothing leaves the machine in the demo, so no real SendGrid reports deliveries, opens or
clicks. This plays that part: each email the workflows keep is "delivered" a minute or two
later, opened by some recipients hours later, clicked by some of those; each event is
posted, when the simulated clock reaches it, to the real ``POST /webhooks/sendgrid``,
signed with a key made for the run, carrying the custom args Nudge sends with every email.
Which email is opened or clicked is drawn from a seeded generator, so runs repeat.
"""

from __future__ import annotations

import base64
import heapq
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from connectors.sendgrid import events as sendgrid_events
from plugin.services import Services
from plugin.storage.models import OutboxMessage

OPEN_RATE = 0.45
CLICK_RATE = 0.3  # of those who open
DELIVERED_AFTER = (timedelta(seconds=20), timedelta(minutes=3))
OPENED_AFTER = (timedelta(minutes=5), timedelta(hours=30))
CLICKED_AFTER = (timedelta(seconds=10), timedelta(minutes=10))


class Mailbox:
    """Recipients' mail servers and readers, reporting through the signed event webhook."""

    def __init__(self, seed: int, shop_domain: str):
        self.rng = random.Random(seed)
        self.shop_domain = shop_domain
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._seen = datetime.min.replace(tzinfo=UTC)  # when kept emails were last taken
        self._due: list[tuple[datetime, int, dict[str, Any]]] = []
        self._sequence = 0
        self.posted = 0

    @property
    def public_key(self) -> str:
        """What ``NUDGE_SENDGRID_EVENT_PUBLIC_KEY`` holds: base64 DER, as SendGrid shows it."""
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def deliver(self, client: Any, services: Services, now: datetime, kept_now: bool) -> None:
        """Take the emails kept since the last call (when the pass just made kept some),
        then post every event now due."""
        if kept_now:
            with services.sessions() as session:
                kept = session.execute(
                    select(OutboxMessage.id, OutboxMessage.to_email, OutboxMessage.workflow)
                    .where(
                        OutboxMessage.sent_at > self._seen,  # kept since the last call
                        OutboxMessage.kind == "email",
                        OutboxMessage.state == "kept",
                        OutboxMessage.episode_id.is_not(None),
                    )
                    .order_by(OutboxMessage.id)
                ).all()
            self._seen = now
            for message_id, email, workflow in kept:
                if email:
                    self._schedule(message_id, email, workflow, now)
        batch = []
        while self._due and self._due[0][0] <= now:
            batch.append(heapq.heappop(self._due)[2])
        if batch:
            self._post(client, batch)

    def _schedule(self, message_id: int, email: str, workflow: str, now: datetime) -> None:
        delivered = now + _between(self.rng, DELIVERED_AFTER)
        self._add(delivered, "delivered", message_id, email, workflow)
        if self.rng.random() < OPEN_RATE:
            opened = delivered + _between(self.rng, OPENED_AFTER)
            self._add(opened, "open", message_id, email, workflow)
            if self.rng.random() < CLICK_RATE:
                clicked = opened + _between(self.rng, CLICKED_AFTER)
                self._add(clicked, "click", message_id, email, workflow)

    def _add(self, at: datetime, kind: str, message_id: int, email: str, workflow: str) -> None:
        self._sequence += 1
        event = {
            "email": email,
            "event": kind,
            "timestamp": int(at.timestamp()),
            "sg_event_id": f"demo-{kind}-{message_id}",
            "sg_message_id": f"demo-{message_id}.filter0001",
            "nudge_message_id": str(message_id),
            "nudge_shop": self.shop_domain,
            "nudge_workflow": workflow,
        }
        if kind == "click":
            event["url"] = f"https://{self.shop_domain}/?utm_source=nudge"
        heapq.heappush(self._due, (at, self._sequence, event))

    def _post(self, client: Any, batch: list[dict[str, Any]]) -> None:
        body = json.dumps(batch).encode()
        stamp = str(int(time.time()))  # the request's own time: the signature must be fresh
        signature = self._key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        response = client.post(
            "/webhooks/sendgrid",
            data=body,
            headers={
                sendgrid_events.SIGNATURE_HEADER: base64.b64encode(signature).decode(),
                sendgrid_events.TIMESTAMP_HEADER: stamp,
            },
            content_type="application/json",
        )
        if response.status_code != 200:
            raise RuntimeError(
                f"the event webhook refused the demo's events: {response.status_code}"
            )
        self.posted += len(batch)


def _between(rng: random.Random, bounds: tuple[timedelta, timedelta]) -> timedelta:
    low, high = bounds
    return low + (high - low) * rng.random()
