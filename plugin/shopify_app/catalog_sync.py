"""The shop's catalog from the Admin API: read whole, and the products orders name that the
catalog does not know yet.

- ``request_sync`` queues a whole read (install does; `nudge catalog sync` reads at once).
- ``run_queued`` moves queued and running reads on, a step per worker pass: a small catalog
  is read in pages there and then; a large one starts a bulk operation, which Shopify runs
  while the worker goes on, asked about again on a later pass (at most every
  ``POLL_EVERY``) and recorded once it completes.
- ``sync_now`` reads the whole catalog and waits for it (the CLI).
- ``look_up`` fetches the products that orders and checkouts name and the catalog has no
  row for (one ``product(id:)`` query each, for a Shopify shop with an Admin API token), and
  records them, or their deletion when the shop has no such product any more.

Products are recorded ``RECORD_CHUNK`` at a time, a transaction each, through the facts
store's merge: the same convergence as webhooks (the newest ``updated_at`` wins), so a
read and the webhooks that arrive meanwhile agree. After a complete read, a product the
catalog holds that the read did not see (deleted while no webhook told) is marked deleted.
No Admin API call runs inside a database transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.errors import MalformedPayload
from connectors.shopify import catalog
from connectors.shopify.admin_api import AdminApiError, AdminClient
from plugin.services import Services
from plugin.shopify_app import manifest, tokens
from plugin.storage import facts_store
from plugin.storage.batch import begin_batch
from plugin.storage.models import CatalogSync, Shop
from rules import events as ev
from rules.events import Event
from rules.facts import Product

log = logging.getLogger(__name__)

RECORD_CHUNK = 1_000  # products per transaction
POLL_EVERY = timedelta(seconds=30)  # between two looks at a running sync (or a failing one)
LOOKUPS_PER_SHOP = 100  # products looked up per shop and inbox batch; the rest next time
OPEN = ("queued", "running")

T = TypeVar("T")


class CatalogUnavailable(Exception):
    """The shop's catalog cannot be read from the Admin API (no token, not Shopify)."""


@dataclass
class SyncResult:
    """What a whole read of the catalog did."""

    method: str  # pages | bulk
    products: int = 0
    deleted: int = 0
    skipped: int = 0


def admin_client(services: Services, shop: Shop, now: datetime, retries: int = 4) -> AdminClient:
    """An Admin API client with the shop's token (refreshed when due)."""
    if shop.platform != "shopify":
        raise CatalogUnavailable(
            f"{shop.domain} is a {shop.platform} shop: its products arrive by product webhooks"
        )
    if not tokens.has_credentials(shop):
        raise CatalogUnavailable(f"{shop.domain} has no Admin API token")
    try:
        token = tokens.access_token(services, shop.id, now)
    except tokens.TokenError as exc:
        raise CatalogUnavailable(f"{shop.domain}: {exc}") from exc
    return AdminClient(
        shop.domain, token, manifest.load().api_version, max_throttle_retries=retries
    )


# --- a whole read -----------------------------------------------------------------------------


def request_sync(session: Session, shop_id: int, now: datetime) -> None:
    """Queue a whole read of the shop's catalog, unless one is queued or running."""
    sync = session.scalar(select(CatalogSync).where(CatalogSync.shop_id == shop_id))
    if sync is None:
        session.add(
            CatalogSync(shop_id=shop_id, state="queued", requested_at=now, products=0, deleted=0)
        )
    elif sync.state not in OPEN:
        sync.state, sync.requested_at, sync.error = "queued", now, None
        sync.bulk_operation_id = sync.checked_at = None


def run_queued(services: Services, now: datetime) -> int:
    """Move every queued or running read one step on; return the products recorded."""
    with services.sessions() as session:
        open_syncs = session.scalars(select(CatalogSync).where(CatalogSync.state.in_(OPEN))).all()
        session.expunge_all()
    recorded = 0
    for sync in open_syncs:
        if sync.checked_at is not None and now - sync.checked_at < POLL_EVERY:
            continue
        try:
            recorded += _advance(services, sync, now)
        except CatalogUnavailable as exc:
            _settle(services, sync.id, state="failed", error=str(exc), finished_at=now)
        except AdminApiError as exc:
            if exc.retryable:  # asked again after POLL_EVERY
                log.warning("catalog sync of shop %s: %s; trying again later", sync.shop_id, exc)
                _settle(services, sync.id, checked_at=now, error=str(exc)[:2000])
            else:
                _settle(services, sync.id, state="failed", error=str(exc)[:2000], finished_at=now)
    return recorded


def _advance(services: Services, sync: CatalogSync, now: datetime) -> int:
    shop = _shop(services, sync.shop_id)
    client = admin_client(services, shop, now)
    if sync.state == "queued":
        if catalog.count_products(client) > catalog.BULK_ABOVE:
            operation = catalog.start_bulk(client)
            _settle(
                services,
                sync.id,
                state="running",
                method="bulk",
                bulk_operation_id=operation,
                started_at=now,
                checked_at=now,
                error=None,
            )
            return 0
        read = catalog.CatalogRead("pages")
        read.products = catalog.read_pages(client, read)
        result = record_catalog(services, shop.id, read, started=now, now=now)
        _finish(services, sync.id, result, now)
        return result.products
    status = catalog.bulk_status(client, sync.bulk_operation_id or "")
    if status.failed:
        error = f"bulk operation {status.status}: {status.error or 'no reason given'}"
        _settle(services, sync.id, state="failed", error=error, finished_at=now)
        return 0
    if not status.done:
        _settle(services, sync.id, checked_at=now)
        return 0
    read = catalog.CatalogRead("bulk")
    lines = catalog.download_lines(status.url) if status.url else iter(())
    read.products = catalog.bulk_products(lines, read)
    result = record_catalog(services, shop.id, read, started=sync.started_at or now, now=now)
    _finish(services, sync.id, result, now)
    return result.products


def sync_now(
    services: Services,
    shop: Shop,
    now: datetime,
    *,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = catalog.POLL_SECONDS,
) -> SyncResult:
    """Read the whole catalog, waiting for a bulk operation; record it and say what it did."""
    with services.sessions() as session, session.begin():
        request_sync(session, shop.id, now)
        sync_id = session.scalars(
            select(CatalogSync.id).where(CatalogSync.shop_id == shop.id)
        ).one()
    _settle(services, sync_id, state="running", started_at=now, error=None)
    try:
        client = admin_client(services, shop, now)
        read = catalog.read_catalog(client, sleep=sleep, poll_seconds=poll_seconds)
        result = record_catalog(services, shop.id, read, started=now, now=now)
    except (CatalogUnavailable, AdminApiError) as exc:
        _settle(services, sync_id, state="failed", error=str(exc)[:2000], finished_at=now)
        raise
    _finish(services, sync_id, result, now)
    return result


def record_catalog(
    services: Services, shop_id: int, read: catalog.CatalogRead, started: datetime, now: datetime
) -> SyncResult:
    """Record every product a read gives, then, when it read the whole catalog without a
    skip, mark deleted the products it did not see."""
    result = SyncResult(read.method)
    seen: set[str] = set()
    for chunk in _chunks(read.products, RECORD_CHUNK):
        record_events(
            services,
            shop_id,
            [Event(ev.PRODUCT_UPSERTED, occurred_at=p.updated_at, product=p) for p in chunk],
        )
        seen.update(p.id for p in chunk)
        result.products += len(chunk)
    result.skipped = read.skipped
    if read.complete and not read.skipped:
        with services.sessions() as session:
            missing = facts_store.live_products_missing_from(session, shop_id, seen, started)
        for gone in _chunks(missing, RECORD_CHUNK):
            record_events(services, shop_id, [_deletion(product_id, now) for product_id in gone])
        result.deleted = len(missing)
    return result


def record_events(services: Services, shop_id: int, events: list[Event]) -> None:
    """Merge catalog events into the facts store, in one transaction."""
    with begin_batch(services.sessions) as batch:
        facts_store.prefetch(batch, shop_id, events)
        for event in events:
            facts_store.apply_event(batch, shop_id, event)


def _deletion(product_id: str, now: datetime) -> Event:
    return Event(ev.PRODUCT_DELETED, occurred_at=now, product=Product(id=product_id, deleted=True))


def _finish(services: Services, sync_id: int, result: SyncResult, now: datetime) -> None:
    _settle(
        services,
        sync_id,
        state="done",
        method=result.method,
        products=result.products,
        deleted=result.deleted,
        finished_at=now,
        error=f"{result.skipped} malformed products skipped" if result.skipped else None,
    )


def _settle(services: Services, sync_id: int, **values: object) -> None:
    with services.sessions() as session, session.begin():
        sync = session.get(CatalogSync, sync_id)
        if sync is not None:
            for name, value in values.items():
                setattr(sync, name, value)


def _shop(services: Services, shop_id: int) -> Shop:
    with services.sessions() as session:
        shop = session.get(Shop, shop_id)
        if shop is None or not shop.active:
            raise CatalogUnavailable(f"shop {shop_id} is not installed")
        session.expunge(shop)
    return shop


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Runs of ``size`` items, taken from the iterable as each run is asked for."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


# --- products the catalog does not know -------------------------------------------------------


def look_up(services: Services, wanted: dict[int, set[str]], now: datetime) -> int:
    """Fetch and record the products among ``wanted`` (by shop id) the catalog has no row
    for; return how many were recorded. A failure leaves them unknown (looked up again when
    an order names them next)."""
    recorded = 0
    for shop_id, product_ids in wanted.items():
        with services.sessions() as session:
            shop = session.get(Shop, shop_id)
            if shop is None or not shop.active:
                continue
            missing = facts_store.unknown_product_ids(session, shop_id, product_ids)
            session.expunge(shop)
        if not missing:
            continue
        try:
            client = admin_client(services, shop, now, retries=0)  # never sleeps here
        except CatalogUnavailable as exc:
            log.info("products %s not looked up: %s", ", ".join(missing[:5]), exc)
            continue
        events = []
        for product_id in missing[:LOOKUPS_PER_SHOP]:
            try:
                product = catalog.fetch_product(client, product_id)
            except AdminApiError as exc:
                log.warning("looking up products of %s: %s; later", shop.domain, exc)
                break
            except (MalformedPayload, KeyError, TypeError, ValueError, AttributeError) as exc:
                log.warning("product %s of %s is malformed: %s", product_id, shop.domain, exc)
                continue
            if product is None:  # the shop has no such product: remembered as deleted
                events.append(_deletion(product_id, now))
            else:
                events.append(
                    Event(ev.PRODUCT_UPSERTED, occurred_at=product.updated_at, product=product)
                )
        if events:
            record_events(services, shop_id, events)
            recorded += len(events)
    return recorded
