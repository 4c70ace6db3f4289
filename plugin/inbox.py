"""Process the durable inbox: stored deliveries become facts, then enrollments.

A delivery is marked processed in the same transaction that applies its facts, so a crash
leaves it pending (to be processed again, whole) and two workers never apply it twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.registry import CONNECTORS
from plugin import enrollment, facts_store
from plugin.models import Delivery, Shop
from plugin.services import Services
from rules.events import Event


@dataclass
class InboxStats:
    """What one pass over the inbox did."""

    processed: int = 0
    failed: int = 0
    events: int = 0


class DeliveryRejected(Exception):
    """The stored body cannot become events; kept as 'failed' with this message."""


def process_inbox(services: Services, now: datetime | None = None, limit: int = 500) -> InboxStats:
    """Process every pending delivery, oldest first."""
    stats = InboxStats()
    while True:
        with services.sessions() as session:
            ids = session.scalars(
                select(Delivery.id)
                .where(Delivery.status == "pending")
                .order_by(Delivery.id)
                .limit(limit)
            ).all()
        if not ids:
            return stats
        for delivery_id in ids:
            _process_one(services, delivery_id, now or services.now(), stats)


def _process_one(services: Services, delivery_id: int, now: datetime, stats: InboxStats) -> None:
    try:
        with services.sessions() as session, session.begin():
            claimed = session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == "pending")
                .values(status="processed", processed_at=now, attempts=Delivery.attempts + 1)
            )
            if claimed.rowcount != 1:
                return
            delivery = session.get_one(Delivery, delivery_id)
            stats.events += apply_delivery(session, delivery, now)
            stats.processed += 1
    except DeliveryRejected as exc:
        _mark_failed(services, delivery_id, str(exc))
        stats.failed += 1


def _mark_failed(services: Services, delivery_id: int, error: str) -> None:
    with services.sessions() as session, session.begin():
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(status="failed", error=error[:2000], attempts=Delivery.attempts + 1)
        )


def apply_delivery(session: Session, delivery: Delivery, now: datetime) -> int:
    """Turn one delivery into events, apply them to the facts and the engine; count events."""
    connector = CONNECTORS.get(delivery.source)
    shop = session.get(Shop, delivery.shop_id) if delivery.shop_id is not None else None
    if connector is None or shop is None:
        raise DeliveryRejected(f"no connector or shop for source {delivery.source!r}")
    try:
        payload = json.loads(delivery.body)
        events = connector.to_events(delivery.topic, payload)
    except connector.UnknownTopic:
        delivery.status = "ignored"
        return 0
    except (ValueError, connector.MalformedPayload) as exc:
        raise DeliveryRejected(f"{type(exc).__name__}: {exc}") from exc
    for event in events:
        apply_event(session, shop, event, now)
    return len(events)


def apply_event(session: Session, shop: Shop, event: Event, now: datetime) -> None:
    """Merge one event into the facts, then let workflows react to it."""
    facts_store.apply_event(session, shop.id, event)
    session.flush()
    enrollment.on_event(session, shop, event, now)
