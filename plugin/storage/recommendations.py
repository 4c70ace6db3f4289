"""Each shop's recommendation model and its customers' rhythms per product, as stored.

The model is kept as its JSON snapshot (``rules.recommend.Model.to_json``) in one row per
shop, which the worker rewrites and any process reads. Parsing a large snapshot costs more
than serving from it many times, so each process keeps the models it parsed, by shop and
revision: a save writes a new revision, and the next read sees it.

The orders the model is built from are the stored ones that stand (placed, not cancelled,
with products); a customer's rhythm per product comes from the same orders.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from plugin.storage.models import OrderRow, ProductRhythmRow, RecommendationModel, Shop
from rules.recommend import Model, OrderLines
from rules.reorder import ProductRhythm, product_rhythms

_PARSED: dict[tuple[int, str], Model] = {}
_PARSED_MOST = 64  # shops whose parsed model a process keeps


@dataclass(frozen=True)
class StoredOrder:
    """An order as the model counts it: its row id (the order it was stored in), its
    customer (None for a guest) and external id, when it was placed, and its products."""

    row_id: int
    order_id: str
    customer_id: str | None
    placed_at: datetime
    product_ids: tuple[str, ...]

    def lines(self) -> OrderLines:
        return OrderLines(self.customer_id, self.placed_at, self.product_ids)


@dataclass(frozen=True)
class ModelState:
    """Where a shop's stored model stands (not the model itself): its revision, the last
    order row it counted, when it was built, rescored and saved; and the shop's newest
    order row (None: no order yet)."""

    revision: str | None
    orders_through: int
    rhythms_through: int
    built_at: datetime | None
    rescored_at: datetime | None
    saved_at: datetime | None
    # the newest order row stored after ``orders_through`` (None: nothing new); with no
    # model yet, some order row of the shop (None: no order at all)
    newest_order: int | None


_STATES = (
    select(
        Shop.id,
        RecommendationModel.revision,
        RecommendationModel.orders_through,
        RecommendationModel.rhythms_through,
        RecommendationModel.built_at,
        RecommendationModel.rescored_at,
        RecommendationModel.saved_at,
    )
    .outerjoin(RecommendationModel, RecommendationModel.shop_id == Shop.id)
    .where(Shop.active.is_(True))
)


def model_states(session: Session, shop_id: int | None = None) -> dict[int, ModelState]:
    """Where each active shop's model stands (or only ``shop_id``'s).

    The newest order rows are read from the rows stored after the oldest model's last:
    a range of the primary key, not every shop's whole history on each pass.
    """
    statement = _STATES if shop_id is None else _STATES.where(Shop.id == shop_id)
    rows = session.execute(statement).all()
    newest: dict[int, int] = {}
    # (the rhythms' pointer is never behind the model's: both move when the model counts)
    built = [through for _, revision, through, *_ in rows if revision is not None]
    if built:  # shops with a model: only what was stored after the oldest one's last order
        newer = select(OrderRow.shop_id, func.max(OrderRow.id)).where(OrderRow.id > min(built))
        if shop_id is not None:
            newer = newer.where(OrderRow.shop_id == shop_id)
        for shop, top in session.execute(newer.group_by(OrderRow.shop_id)):
            newest[shop] = top
    for shop, revision, *_ in rows:
        if revision is None:  # no model yet: has the shop any order at all?
            found = session.scalar(select(OrderRow.id).where(OrderRow.shop_id == shop).limit(1))
            if found is not None:
                newest[shop] = found
    return {
        shop: ModelState(
            revision, through or 0, rhythms or 0, built_at, rescored, saved, newest.get(shop)
        )
        for shop, revision, through, rhythms, built_at, rescored, saved in rows
    }


def newest_order_row(session: Session, shop_id: int) -> int:
    """The id of the shop's most recently stored order row (0: none)."""
    return session.scalar(select(func.max(OrderRow.id)).where(OrderRow.shop_id == shop_id)) or 0


def load_snapshot(session: Session, shop_id: int, revision: str) -> Model | None:
    """The stored model of that revision, parsed afresh (for changing it); None if another
    was saved since."""
    snapshot = session.scalar(
        select(RecommendationModel.snapshot).where(
            RecommendationModel.shop_id == shop_id, RecommendationModel.revision == revision
        )
    )
    return None if snapshot is None else Model.from_json(snapshot)


def load_model(session: Session, shop_id: int) -> Model | None:
    """The shop's model as last saved (parsed once per revision in this process); None
    before the worker first built it."""
    revision = session.scalar(
        select(RecommendationModel.revision).where(RecommendationModel.shop_id == shop_id)
    )
    if revision is None:
        return None
    model = _PARSED.get((shop_id, revision))
    if model is None:
        model = load_snapshot(session, shop_id, revision)
        if model is None:  # saved again meanwhile: the next read finds the new one
            return None
        remember(shop_id, revision, model)
    return model


def remember(shop_id: int, revision: str, model: Model) -> None:
    """Keep a parsed model for its revision (the one just saved, or just read)."""
    if len(_PARSED) >= _PARSED_MOST:
        _PARSED.clear()
    for key in [key for key in _PARSED if key[0] == shop_id]:
        del _PARSED[key]
    _PARSED[(shop_id, revision)] = model


def save_model(
    session: Session,
    shop_id: int,
    model: Model,
    *,
    replacing: str | None,
    orders_through: int,
    built_at: datetime,
    rescored_at: datetime,
    now: datetime,
) -> str | None:
    """Store the model in place of revision ``replacing`` (None: the shop has none yet);
    its new revision, or None when another process saved one first (then this one is
    dropped: the next pass starts from theirs)."""
    revision = uuid.uuid4().hex
    values: dict[str, Any] = {
        "snapshot": model.to_json(),
        "revision": revision,
        "orders_through": orders_through,
        "rhythms_through": orders_through,
        "built_at": built_at,
        "rescored_at": rescored_at,
        "saved_at": now,
    }
    if replacing is None:
        if model_states(session, shop_id).get(shop_id, _NONE).revision is not None:
            return None
        session.add(RecommendationModel(shop_id=shop_id, **values))
        session.flush()
        return revision
    result = session.execute(
        update(RecommendationModel)
        .where(RecommendationModel.shop_id == shop_id, RecommendationModel.revision == replacing)
        .values(**values)
    )
    return revision if result.rowcount == 1 else None  # type: ignore[attr-defined]


def advance_rhythms(session: Session, shop_id: int, replacing: int, through: int) -> bool:
    """Record the rhythms written through order row ``through``, unless another process
    moved the mark from ``replacing`` first (then False)."""
    result = session.execute(
        update(RecommendationModel)
        .where(
            RecommendationModel.shop_id == shop_id,
            RecommendationModel.rhythms_through == replacing,
        )
        .values(rhythms_through=through)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


_NONE = ModelState(None, 0, 0, None, None, None, None)


_STANDING = (
    OrderRow.id,
    OrderRow.external_id,
    OrderRow.customer_external_id,
    OrderRow.created_at,
    OrderRow.items,
)


def standing_orders(
    session: Session,
    shop_id: int,
    after: int = 0,
    through: int | None = None,
    customers: Iterable[str] | None = None,
) -> Iterator[StoredOrder]:
    """The shop's stored orders that stand, in the order they were stored: those stored
    after row ``after`` up to ``through``, of ``customers`` only when given."""
    statement = select(*_STANDING).where(
        OrderRow.shop_id == shop_id,
        OrderRow.id > after,
        OrderRow.created_at.is_not(None),
        OrderRow.cancelled_at.is_(None),
    )
    if through is not None:
        statement = statement.where(OrderRow.id <= through)
    if customers is not None:
        statement = statement.where(OrderRow.customer_external_id.in_(sorted(set(customers))))
    rows = session.execute(statement.order_by(OrderRow.id).execution_options(yield_per=2000))
    for row_id, order_id, customer_id, placed_at, items in rows:
        products = tuple(
            dict.fromkeys(
                str(item["product_id"])
                for item in items or ()
                if isinstance(item, dict) and item.get("product_id")
            )
        )
        if products:
            yield StoredOrder(row_id, order_id, customer_id, placed_at, products)


def save_rhythms(
    session: Session, shop_id: int, orders: Mapping[str, Iterable[StoredOrder]], *, every: bool
) -> None:
    """Replace the rhythms per product of the customers ``orders`` holds (customer id ->
    all their orders that stand), or of ``every`` customer of the shop (those not in
    ``orders`` then have none); only a product ordered twice or more has one."""
    gone = delete(ProductRhythmRow).where(ProductRhythmRow.shop_id == shop_id)
    if not every:
        gone = gone.where(ProductRhythmRow.customer_external_id.in_(sorted(orders)))
    session.execute(gone)
    rows = [
        _rhythm_row(shop_id, customer_id, rhythm)
        for customer_id, theirs in orders.items()
        for rhythm in product_rhythms(
            (order.order_id, order.placed_at, order.product_ids) for order in theirs
        ).values()
        if rhythm.due_at is not None
    ]
    if rows:
        session.execute(insert(ProductRhythmRow), rows)


def _rhythm_row(shop_id: int, customer_id: str, rhythm: ProductRhythm) -> dict[str, Any]:
    return {
        "shop_id": shop_id,
        "customer_external_id": customer_id,
        "product_id": rhythm.product_id,
        "orders": rhythm.orders,
        "first_at": rhythm.first_at,
        "last_at": rhythm.last_at,
        "last_order_external_id": rhythm.last_order_id,
        "expected_at": rhythm.due_at,
    }


def load_rhythms(session: Session, shop_id: int, customer_id: str) -> tuple[ProductRhythm, ...]:
    """A customer's stored rhythms per product (those with a pace: ordered twice or more)."""
    rows = session.execute(
        select(
            ProductRhythmRow.product_id,
            ProductRhythmRow.orders,
            ProductRhythmRow.first_at,
            ProductRhythmRow.last_at,
            ProductRhythmRow.last_order_external_id,
        ).where(
            ProductRhythmRow.shop_id == shop_id,
            ProductRhythmRow.customer_external_id == customer_id,
        )
    )
    return tuple(
        ProductRhythm(product_id, orders, first, last, order_id)
        for product_id, orders, first, last, order_id in rows
    )
