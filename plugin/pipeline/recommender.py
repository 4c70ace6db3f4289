"""Keep each shop's recommendation model, and its customers' rhythms per product, fresh.

Runs after the inbox, in the embedded worker and in Celery's inbox task alike (so on
Celery it runs under the same lock, one worker at a time). Per shop:

- no model yet, or the last build a day old: build it from every stored order that stands,
  and write every customer's rhythms per product again;
- else the orders stored since the model last counted (by row id, so an order counts once,
  however often its webhook is redelivered or updated, and only once its batch committed)
  are added with ``Model.add_order``, at most 15 minutes after they arrive;
- the rhythms of the customers of every order stored since they were last written are
  written again at once, on every pass: they are facts the sweeps and steps read, so they
  must not depend on when a pass happened to run (the embedded worker and Celery's
  partitions then decide alike);
- with the first orders counted an hour or more after the last rescore, ``Model.rescore``
  (``add_order`` rescores the pairs an order touches; the others keep their last score
  until then, or until the daily build).

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

from sqlalchemy.orm import Session

from plugin.services import Services
from plugin.storage import recommendations as stored
from plugin.storage.recommendations import ModelState, StoredOrder
from rules.recommend import Model, build

log = logging.getLogger(__name__)

REBUILD_EVERY = timedelta(days=1)
RESCORE_EVERY = timedelta(hours=1)
# New orders wait at most this long to be counted: a save writes the whole snapshot, and
# the embedded worker passes every second or so; a model learnt from weeks of orders
# moves little in a quarter of an hour
COUNT_EVERY = timedelta(minutes=15)
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
    try:
        with services.sessions() as session:  # light queries when nothing is due
            states = stored.model_states(session)
    except Exception:  # never stops the pipeline: the models only wait for the next pass
        log.exception("recommendation models not refreshed; next pass retries")
        return 0
    counted = 0
    for shop_id, state in states.items():
        if _due(state, now) is None and not _rhythms_due(state):
            continue
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


def _due(state: ModelState, now: datetime) -> str | None:
    """What a shop's model needs now: 'build', 'count', or nothing (None)."""
    if state.built_at is None:
        return "build" if state.newest_order is not None else None  # no orders: nothing to learn
    if now - state.built_at >= REBUILD_EVERY:
        return "build"
    fresh = state.saved_at is not None and now - state.saved_at < COUNT_EVERY
    if state.newest_order is not None and state.newest_order > state.orders_through and not fresh:
        return "count"
    return None


def _rhythms_due(state: ModelState) -> bool:
    """Whether orders were stored since the customers' rhythms were last written."""
    return (
        state.built_at is not None
        and state.newest_order is not None
        and state.newest_order > state.rhythms_through
    )


def refresh_shop(session: Session, shop_id: int, now: datetime) -> Refreshed:
    """Build or update one shop's model, as due, and its customers' rhythms."""
    state = stored.model_states(session, shop_id).get(shop_id)
    due = _due(state, now) if state is not None else None
    if state is None:
        return Refreshed()
    if due is None:
        if _rhythms_due(state):
            _write_rhythms(session, shop_id, state)
        return Refreshed()
    if due == "build":
        return _rebuild(session, shop_id, state, now)
    model = stored.load_snapshot(session, shop_id, state.revision or "")
    if model is None or state.built_at is None or state.rescored_at is None:
        raise Overtaken  # saved again since the state was read
    new = stored.standing_orders(
        session, shop_id, after=state.orders_through, through=state.newest_order
    )
    orders = list(islice(new, ORDERS_PER_PASS))
    through = orders[-1].row_id if len(orders) == ORDERS_PER_PASS else state.newest_order or 0
    _count(session, shop_id, model, orders)
    rescored = state.rescored_at
    if now - rescored >= RESCORE_EVERY:
        model.rescore()
        rescored = now
    revision = _save(
        session, shop_id, model, state.revision, through, state.built_at, rescored, now
    )
    return Refreshed(len(orders), revision, model)


def _rebuild(session: Session, shop_id: int, state: ModelState, now: datetime) -> Refreshed:
    """The model and every rhythm from all the shop's orders that stand."""
    through = stored.newest_order_row(session, shop_id)
    orders = list(stored.standing_orders(session, shop_id, through=through))
    # every stored order is history, even one dated after the worker's clock
    as_of = max([now, *(order.placed_at for order in orders)]) + timedelta(microseconds=1)
    model = build((order.lines() for order in orders), as_of)
    by_customer: dict[str, list[StoredOrder]] = defaultdict(list)
    for order in orders:
        if order.customer_id is not None:
            by_customer[order.customer_id].append(order)
    stored.save_rhythms(session, shop_id, by_customer, every=True)
    revision = _save(session, shop_id, model, state.revision, through, now, now, now)
    return Refreshed(len(orders), revision, model)


def _write_rhythms(session: Session, shop_id: int, state: ModelState) -> None:
    """Rewrite the rhythms of the customers of the orders stored since they last were."""
    through = state.newest_order or state.rhythms_through
    new = stored.standing_orders(session, shop_id, after=state.rhythms_through, through=through)
    customers = {order.customer_id for order in new if order.customer_id is not None}
    history: dict[str, list[StoredOrder]] = defaultdict(list)
    for order in stored.standing_orders(session, shop_id, through=through, customers=customers):
        history[order.customer_id or ""].append(order)
    stored.save_rhythms(session, shop_id, {c: history[c] for c in customers}, every=False)
    if not stored.advance_rhythms(session, shop_id, state.rhythms_through, through):
        raise Overtaken  # another worker wrote them first: this transaction rolls back


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
    stored.save_rhythms(session, shop_id, {c: history[c] for c in customers}, every=False)


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
