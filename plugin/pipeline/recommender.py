"""Keep each shop's recommendation model, and its customers' rhythms per product, fresh.

Runs after the inbox, in the embedded worker and in Celery's inbox task alike (so on
Celery it runs under the same lock, one worker at a time). Per shop:

- no model yet, or the last build a day old: build it from every stored order that stands,
  and write every customer's rhythms per product again;
- else the orders stored since the model last counted (by row id, so an order counts once,
  however often its webhook is redelivered or updated, and only once its batch committed)
  are added with ``Model.add_order``, at most a minute after they arrive, and their
  customers' rhythms rewritten;
- every hour, ``Model.rescore``.

Orders cancelled after they were counted, and orders whose creation arrived after a
fulfilment had stored their row, are set right by the next daily build. The catalog is not
the model's business: what may be shown is decided when an email is written
(plugin.pipeline.product_picks), so a deleted, draft, archived or sold-out product stops
appearing at once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.services import Services
from plugin.storage import recommendations as stored
from plugin.storage.models import Shop
from plugin.storage.recommendations import StoredOrder
from rules.recommend import Model, build

log = logging.getLogger(__name__)

REBUILD_EVERY = timedelta(days=1)
RESCORE_EVERY = timedelta(hours=1)
# New orders wait at most this long to be counted: a save writes the whole snapshot, and
# the embedded worker passes every second or so
COUNT_EVERY = timedelta(minutes=1)
ORDERS_PER_PASS = 5_000  # new orders counted per shop per pass; the rest, next pass


class Overtaken(Exception):
    """Another worker saved the shop's model first; this pass's work on it is dropped."""


@dataclass
class Refreshed:
    """What a shop's refresh did: orders counted, and the model saved (with its revision)."""

    counted: int = 0
    revision: str | None = None
    model: Model | None = None


def refresh_models(services: Services, now: datetime) -> int:
    """Bring every active shop's model up to date; how many orders were counted. A shop
    whose refresh fails is logged and tried again next pass; the others go on."""
    with services.sessions() as session:
        shop_ids = session.scalars(select(Shop.id).where(Shop.active.is_(True))).all()
    counted = 0
    for shop_id in shop_ids:
        try:
            with services.sessions() as session, session.begin():
                done = refresh_shop(session, shop_id, now)
        except Overtaken:
            continue  # theirs counted the same orders
        except Exception:
            log.exception("shop %s: recommendation model not refreshed; next pass retries", shop_id)
            continue
        if done.model is not None and done.revision is not None:
            stored.remember(shop_id, done.revision, done.model)  # committed: serve it as is
        counted += done.counted
    return counted


def refresh_shop(session: Session, shop_id: int, now: datetime) -> Refreshed:
    """Build, update or rescore one shop's model, as due."""
    row = stored.model_row(session, shop_id)
    newest = stored.newest_order_row(session, shop_id)
    if row is None or now - row.built_at >= REBUILD_EVERY:
        if row is None and newest is None:
            return Refreshed()  # no orders yet: nothing to learn from
        return _rebuild(session, shop_id, row.revision if row else None, now)
    if newest is not None and newest > row.orders_through and now - row.saved_at >= COUNT_EVERY:
        model = Model.from_json(row.snapshot)  # never the shared parsed copy: it changes here
        new = stored.standing_orders(session, shop_id, after=row.orders_through, through=newest)
        orders = list(islice(new, ORDERS_PER_PASS))
        through = orders[-1].row_id if len(orders) == ORDERS_PER_PASS else newest
        _count(session, shop_id, model, orders)
        rescored = row.rescored_at
        if now - rescored >= RESCORE_EVERY:
            model.rescore()
            rescored = now
        revision = _save(
            session, shop_id, model, row.revision, through, row.built_at, rescored, now
        )
        return Refreshed(len(orders), revision, model)
    if now - row.rescored_at >= RESCORE_EVERY:
        model = Model.from_json(row.snapshot)
        model.rescore()
        through = row.orders_through
        revision = _save(session, shop_id, model, row.revision, through, row.built_at, now, now)
        return Refreshed(0, revision, model)
    return Refreshed()


def _rebuild(session: Session, shop_id: int, replacing: str | None, now: datetime) -> Refreshed:
    """The model and every rhythm from all the shop's orders that stand."""
    through = stored.newest_order_row(session, shop_id) or 0
    orders = list(stored.standing_orders(session, shop_id, through=through))
    # every stored order is history, even one dated after the worker's clock
    as_of = max([now, *(order.placed_at for order in orders)]) + timedelta(microseconds=1)
    model = build((order.lines() for order in orders), as_of)
    by_customer: dict[str, list[StoredOrder]] = defaultdict(list)
    for order in orders:
        if order.customer_id is not None:
            by_customer[order.customer_id].append(order)
    stored.forget_rhythms(session, shop_id)
    for customer_id, theirs in by_customer.items():
        stored.save_rhythms(session, shop_id, customer_id, theirs)
    revision = _save(session, shop_id, model, replacing, through, now, now, now)
    return Refreshed(len(orders), revision, model)


def _count(session: Session, shop_id: int, model: Model, orders: list[StoredOrder]) -> None:
    """Add new orders to the model, each with what its customer bought before it, and
    rewrite those customers' rhythms."""
    if not orders:
        return
    customers = {order.customer_id for order in orders if order.customer_id is not None}
    history: dict[str, list[StoredOrder]] = defaultdict(list)
    for order in stored.standing_orders(
        session, shop_id, through=orders[-1].row_id, customers=customers
    ):
        history[order.customer_id or ""].append(order)
    for order in orders:
        bought_before: set[str] = set()
        if order.customer_id is not None:
            for earlier in history[order.customer_id]:
                if earlier.row_id < order.row_id:
                    bought_before.update(earlier.product_ids)
        model.add_order(order.lines(), bought_before)
    for customer_id in customers:
        stored.save_rhythms(session, shop_id, customer_id, history[customer_id])


def _save(
    session: Session,
    shop_id: int,
    model: Model,
    replacing: str | None,
    through: int,
    built_at: datetime,
    rescored_at: datetime,
    now: datetime,
) -> str:
    revision = stored.save_model(
        session,
        shop_id,
        model,
        replacing=replacing,
        orders_through=through,
        built_at=built_at,
        rescored_at=rescored_at,
        now=now,
    )
    if revision is None:
        raise Overtaken  # rolls this pass's transaction back
    return revision
