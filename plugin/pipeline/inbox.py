"""Process the durable inbox: stored deliveries become facts, then enrollments.

A delivery is marked processed in the transaction that applies its facts, so a crash
leaves it pending (to be processed again, whole), and a second worker's claim finds it
no longer pending: it is never applied twice.

The catalog comes in beside the deliveries, from the Admin API, once a batch has
committed (never inside its transaction): the products its orders and checkouts name that
the catalog does not know are looked up, and each pass moves the shops' catalog syncs on
(plugin.shopify_app.catalog_sync). That side line never holds deliveries up: its failures
are logged, and what it missed is asked for again later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, bindparam, select, true, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningUpdate

from connectors import shopify, woocommerce
from connectors.errors import MalformedPayload
from connectors.registry import CONNECTORS
from connectors.sendgrid import events as sendgrid_events
from plugin.pipeline import enrollment
from plugin.pipeline.consent_writes import queue_sendgrid_unsubscribe
from plugin.services import Services
from plugin.shopify_app import catalog_sync, compliance, tokens
from plugin.storage import batch_episodes, facts_store
from plugin.storage.batch import Batch, begin_batch
from plugin.storage.db import CONFLICT_RETRIES, claim_rows, error_text, is_conflict, now_param
from plugin.storage.models import Delivery, Shop
from rules import events as ev
from rules.events import Event

log = logging.getLogger(__name__)

# shop id -> the product ids a batch's orders and checkouts name (shops whose catalog the
# Admin API can tell)
WantedProducts = dict[int, set[str]]


@dataclass
class InboxStats:
    """What one pass over the inbox did."""

    processed: int = 0
    failed: int = 0
    events: int = 0
    more: bool = False  # a pass limited to some batches stopped with deliveries left


class DeliveryRejected(Exception):
    """The stored body cannot become events; kept as 'failed' with this message."""


# Which deliveries a pass claims: every shop's (the embedded worker), one shop's, or those
# that name no shop (email events; see plugin.pipeline.partitions)
ALL_SHOPS: Final = "all shops"
NO_SHOP: Final = "no shop"
Scope = int | Literal["all shops", "no shop"]


def process_inbox(
    services: Services,
    now: datetime | None = None,
    limit: int = 200,
    scope: Scope = ALL_SHOPS,
    batches: int | None = None,
) -> InboxStats:
    """Process the pending deliveries of ``scope``, oldest first, ``limit`` per
    transaction: all of them, or at most ``batches`` transactions (``more`` then says
    whether some may be left)."""
    stats = InboxStats()
    now = now or services.now()
    conflicts = 0
    done = 0
    while True:
        batch = InboxStats()  # counted only once its transaction commits
        wanted: WantedProducts = {}
        try:
            more = _process_batch(services, limit, now, batch, wanted, scope=scope)
        except Exception as exc:
            if is_conflict(exc) and conflicts < CONFLICT_RETRIES:
                # Workers apply different deliveries at once; two about the same customer
                # may both insert it. The loser's batch rolled back whole: claim it again.
                conflicts += 1
                log.info("inbox batch lost a race with another worker; claiming again: %s", exc)
                continue
            # One delivery broke the batch (it rolled back whole): apply them one by one,
            # so the rest go through and the broken one is kept as failed with its error
            # instead of blocking the inbox on every pass.
            log.exception("inbox batch failed; applying its deliveries one by one")
            batch = InboxStats()  # what the rolled-back batch counted never happened
            more = _process_one_by_one(services, limit, now, batch, wanted, scope)
        stats.processed += batch.processed
        stats.failed += batch.failed
        stats.events += batch.events
        if wanted:
            _catalog_side_line(catalog_sync.look_up, services, wanted, now)
        done += 1
        if not more or (batches is not None and done >= batches):
            stats.more = more
            if scope == ALL_SHOPS:  # a partitioned worker moves the syncs on once a task
                _catalog_side_line(catalog_sync.run_queued, services, now)
            return stats


def pending_shops(services: Services) -> list[int | None]:
    """The shops with pending deliveries (None: deliveries that name no shop)."""
    with services.sessions() as session:
        return list(session.scalars(_PENDING_SHOPS))


_PENDING_SHOPS = select(Delivery.shop_id).where(Delivery.status == "pending").distinct()


def _catalog_side_line(work: Callable[..., object], *args: object) -> None:
    """Catalog work from the Admin API, which must never hold the inbox up."""
    try:
        work(*args)
    except Exception:
        log.exception("catalog work failed; it is asked for again later")


def _process_one_by_one(
    services: Services,
    limit: int,
    now: datetime,
    stats: InboxStats,
    wanted: WantedProducts,
    scope: Scope = ALL_SHOPS,
) -> bool:
    """Apply the next ``limit`` pending deliveries each in its own transaction; one that
    fails is marked failed with its error. True if there may be more after them."""
    with services.sessions() as session:
        ids = session.scalars(
            select(Delivery.id)
            .where(Delivery.status == "pending", _in_scope(Delivery, scope))
            .order_by(Delivery.id)
            .limit(limit),
            _scope_params(scope),
        ).all()
    for delivery_id in ids:
        try:
            _process_batch(services, 1, now, stats, wanted, only=delivery_id, scope=scope)
        except Exception as exc:
            if is_conflict(exc):
                continue  # a race, not this delivery's fault: it stays pending
            log.exception("delivery %s failed", delivery_id)
            with services.sessions() as session, session.begin():
                session.execute(
                    update(Delivery)
                    .where(Delivery.id == delivery_id, Delivery.status == "pending")
                    .values(
                        status="failed",
                        processed_at=now,
                        error=error_text(exc),
                    )
                )
            stats.failed += 1
    return len(ids) == limit


def _in_scope(delivery: Any, scope: Scope) -> ColumnElement[bool]:
    """The deliveries of ``scope`` (one shop's is bound as ``:shop`` at execution)."""
    if scope == ALL_SHOPS:
        return true()
    if scope == NO_SHOP:
        return delivery.shop_id.is_(None)
    return delivery.shop_id == bindparam("shop")  # type: ignore[no-any-return]


def _scope_kind(scope: Scope) -> str:
    return scope if isinstance(scope, str) else "one shop"


def _scope_params(scope: Scope) -> dict[str, int]:
    return {} if isinstance(scope, str) else {"shop": scope}


@lru_cache(maxsize=64)
def _claim_statement(
    limit: int, only: int | None = None, kind: str = ALL_SHOPS
) -> ReturningUpdate[int]:
    """Claim up to ``limit`` pending deliveries of a kind of scope, oldest first, or just
    ``only`` (marked processed: the transaction that applies them commits that, or rolls
    it back)."""
    scope: Scope = 0 if kind == "one shop" else kind  # type: ignore[assignment]

    def ready(delivery):  # type: ignore[no-untyped-def]
        pending = (delivery.status == "pending") & _in_scope(delivery, scope)
        return pending if only is None else pending & (delivery.id == only)

    return (
        claim_rows(
            Delivery,
            ready=ready,
            order=lambda d: (d.id,),
            limit=limit,
        )
        .values(status="processed", processed_at=now_param(), attempts=Delivery.attempts + 1)
        .returning(Delivery.id)
    )


def _process_batch(
    services: Services,
    limit: int,
    now: datetime,
    stats: InboxStats,
    wanted: WantedProducts,
    only: int | None = None,
    scope: Scope = ALL_SHOPS,
) -> bool:
    """Claim and apply a batch in one transaction; a body that cannot become events is
    rejected before anything is written for it. False when no more was pending: the claim
    found fewer than ``limit`` (a pass then ends without another transaction only to find
    the inbox empty; what arrives later is the next pass's)."""
    with begin_batch(services.sessions) as batch:
        # through the session's connection: a plain UPDATE, no ORM bookkeeping
        claimed = (
            batch.session.connection()
            .execute(
                _claim_statement(limit, only, _scope_kind(scope)),
                {"now": now, **_scope_params(scope)},
            )
            .scalars()
            .all()
        )
        if not claimed:
            return False
        deliveries = batch.session.scalars(_CLAIMED_DELIVERIES, {"ids": claimed}).all()
        parsed = _parse_ahead(batch, deliveries, now, wanted)
        # Applying events reads no pending step of an episode that ended (only those of
        # active ones, to move them), so the steps of the episodes the batch ends are
        # cancelled together, in one statement as it commits (the batch holds them back),
        # not one UPDATE each.
        for delivery in deliveries:
            try:
                events = parsed.get(delivery.id)
                if events is None:  # carried out now, in its place in the batch
                    # a privacy or lifecycle topic finds the steps as they stand by now
                    batch_episodes.write_cancels(batch)
                    events = delivery_events(batch.session, delivery, now)
                elif isinstance(events, DeliveryRejected):
                    raise events
            except DeliveryRejected as exc:
                delivery.status, delivery.error = "failed", str(exc)[:2000]
                stats.failed += 1
                continue
            for shop, event in events:
                if event.occurred_at is None:
                    # e.g. Shopify's consent updates with consent_updated_at null: what
                    # arrived last is the newest statement we have
                    event = replace(event, occurred_at=delivery.received_at)
                if delivery.source == "sendgrid":  # an unsubscribe there reaches the shop too
                    queue_sendgrid_unsubscribe(batch.session, shop, event, now)
                apply_event(batch, shop, event, now)
            stats.events += len(events)
            stats.processed += 1
    return len(claimed) == limit


def _parse_ahead(
    batch: Batch, deliveries: Sequence[Delivery], now: datetime, wanted: WantedProducts
) -> dict[int, list[tuple[Shop, Event]] | DeliveryRejected]:
    """Parse the batch's deliveries before applying any, and load the rows their events
    will merge into and the episodes they will look up, in a few queries
    (facts_store.prefetch, enrollment.prefetch). Privacy and lifecycle topics
    are left out: they act when parsed, so they are parsed in their place in the batch.
    Note in ``wanted`` the products the events' orders and checkouts name, for shops whose
    catalog the Admin API can tell."""
    parsed: dict[int, list[tuple[Shop, Event]] | DeliveryRejected] = {}
    by_shop: dict[int, list[Event]] = {}
    for delivery in deliveries:
        if acts_when_parsed(delivery):
            continue
        try:
            events = parsed[delivery.id] = delivery_events(batch.session, delivery, now)
        except DeliveryRejected as exc:
            parsed[delivery.id] = exc
            continue
        for shop, event in events:
            by_shop.setdefault(shop.id, []).append(event)
            if shop.platform == "shopify" and tokens.has_credentials(shop):
                _note_products(wanted, shop.id, event)
    for shop_id, shop_events in by_shop.items():
        facts_store.prefetch(batch, shop_id, shop_events)
        enrollment.prefetch(batch, shop_id, shop_events, now)
    return parsed


def _note_products(wanted: WantedProducts, shop_id: int, event: Event) -> None:
    for subject in (event.order, event.checkout):
        if subject is not None:
            ids = {item.product_id for item in subject.items if item.product_id}
            if ids:
                wanted.setdefault(shop_id, set()).update(ids)


_CLAIMED_DELIVERIES = (
    select(Delivery).where(Delivery.id.in_(bindparam("ids", expanding=True))).order_by(Delivery.id)
)


def acts_when_parsed(delivery: Delivery) -> bool:
    """Privacy and lifecycle topics: carried out when parsed, in their place in the batch."""
    if delivery.source == "shopify":
        return delivery.topic in shopify.COMPLIANCE_TOPICS
    return delivery.source == "woocommerce" and delivery.topic in woocommerce.PRIVACY_TOPICS


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
    if acts_when_parsed(delivery):
        try:
            payload = json.loads(delivery.body)
            erased = woocommerce.erased_customer(payload) if delivery.source != "shopify" else None
        except (ValueError, MalformedPayload) as exc:
            raise DeliveryRejected(f"{type(exc).__name__}: {exc}") from exc
        if erased is None:
            compliance.handle(
                session, shop, delivery.topic, payload if isinstance(payload, dict) else {}, now
            )
        else:
            compliance.erase_deleted_customer(session, shop, delivery.topic, *erased, now)
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


def apply_event(batch: Batch, shop: Shop, event: Event, now: datetime) -> None:
    """Merge one event into the facts, then let workflows react to it (the catalog's
    events concern no customer: nothing reacts to them)."""
    facts_store.apply_event(batch, shop.id, event)
    if event.kind not in ev.CATALOG_KINDS:
        enrollment.on_event(batch, shop, event, now)
