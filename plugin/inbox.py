"""Process the durable inbox: stored deliveries become facts, then enrollments.

A delivery is marked processed in the transaction that applies its facts, so a crash
leaves it pending (to be processed again, whole), and a second worker's claim finds it
no longer pending: it is never applied twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors import shopify
from connectors.errors import MalformedPayload
from connectors.registry import CONNECTORS
from connectors.sendgrid import events as sendgrid_events
from plugin import compliance, enrollment, facts_store
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


def process_inbox(services: Services, now: datetime | None = None, limit: int = 200) -> InboxStats:
    """Process every pending delivery, oldest first, ``limit`` per transaction."""
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
        _process_batch(services, list(ids), now or services.now(), stats)


def _process_batch(services: Services, ids: list[int], now: datetime, stats: InboxStats) -> None:
    """Claim and apply a batch in one transaction; a body that cannot become events is
    rejected before anything is written for it."""
    with services.sessions() as session, session.begin():
        claimed = session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.status == "pending")
            .values(status="processed", processed_at=now, attempts=Delivery.attempts + 1)
            .returning(Delivery.id)
        ).all()
        deliveries = session.scalars(
            select(Delivery).where(Delivery.id.in_(claimed)).order_by(Delivery.id)
        ).all()
        for delivery in deliveries:
            try:
                events = delivery_events(session, delivery, now)
            except DeliveryRejected as exc:
                delivery.status, delivery.error = "failed", str(exc)[:2000]
                stats.failed += 1
                continue
            for shop, event in events:
                if event.occurred_at is None:
                    # e.g. Shopify's consent updates with consent_updated_at null: what
                    # arrived last is the newest statement we have
                    event = replace(event, occurred_at=delivery.received_at)
                apply_event(session, shop, event, now)
            stats.events += len(events)
            stats.processed += 1


def delivery_events(
    session: Session, delivery: Delivery, now: datetime
) -> list[tuple[Shop, Event]]:
    """Parse a stored delivery into (shop, event) pairs; writes nothing but its status,
    except for privacy and lifecycle topics, which are carried out here."""
    if delivery.source == "sendgrid":
        return _email_events(session, delivery)
    connector = CONNECTORS.get(delivery.source)
    shop = session.get(Shop, delivery.shop_id) if delivery.shop_id is not None else None
    if connector is None or shop is None:
        raise DeliveryRejected(f"no connector or shop for source {delivery.source!r}")
    if delivery.source == "shopify" and delivery.topic in shopify.COMPLIANCE_TOPICS:
        try:
            payload = json.loads(delivery.body)
        except ValueError as exc:
            raise DeliveryRejected(f"{type(exc).__name__}: {exc}") from exc
        compliance.handle(
            session, shop, delivery.topic, payload if isinstance(payload, dict) else {}, now
        )
        return []
    try:
        return [(shop, e) for e in connector.to_events(delivery.topic, json.loads(delivery.body))]
    except connector.UnknownTopic:
        delivery.status = "ignored"
        return []
    except (ValueError, connector.MalformedPayload) as exc:
        raise DeliveryRejected(f"{type(exc).__name__}: {exc}") from exc


def _email_events(session: Session, delivery: Delivery) -> list[tuple[Shop, Event]]:
    """SendGrid batches mix shops; each event names its shop in the custom args Nudge sent."""
    try:
        pairs = sendgrid_events.to_events(json.loads(delivery.body))
    except (ValueError, MalformedPayload) as exc:
        raise DeliveryRejected(f"{type(exc).__name__}: {exc}") from exc
    shops: dict[str, Shop | None] = {}
    result = []
    for _event_id, event in pairs:
        domain = (event.data or {}).get("nudge_shop")
        if not isinstance(domain, str):
            continue  # not an email Nudge sent
        if domain not in shops:
            shops[domain] = session.scalar(select(Shop).where(Shop.domain == domain))
        shop = shops[domain]
        if shop is not None:
            result.append((shop, event))
    return result


def apply_event(session: Session, shop: Shop, event: Event, now: datetime) -> None:
    """Merge one event into the facts, then let workflows react to it."""
    facts_store.apply_event(session, shop.id, event)
    session.flush()
    enrollment.on_event(session, shop, event, now)
