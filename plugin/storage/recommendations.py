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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from plugin.storage.models import OrderRow, ProductRhythmRow, RecommendationModel
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


def model_row(session: Session, shop_id: int) -> RecommendationModel | None:
    """The shop's stored model row, if it has one."""
    return session.scalar(select(RecommendationModel).where(RecommendationModel.shop_id == shop_id))


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
        snapshot = session.scalar(
            select(RecommendationModel.snapshot).where(
                RecommendationModel.shop_id == shop_id, RecommendationModel.revision == revision
            )
        )
        if snapshot is None:  # saved again meanwhile: the next read finds the new one
            return None
        model = Model.from_json(snapshot)
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
        "built_at": built_at,
        "rescored_at": rescored_at,
        "saved_at": now,
    }
    if replacing is None:
        if model_row(session, shop_id) is not None:
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


def newest_order_row(session: Session, shop_id: int) -> int | None:
    """The id of the shop's most recently stored order row."""
    return session.scalar(select(func.max(OrderRow.id)).where(OrderRow.shop_id == shop_id))


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
    session: Session, shop_id: int, customer_id: str, orders: Iterable[StoredOrder]
) -> None:
    """Replace a customer's rhythms per product with those of ``orders`` (all of theirs
    that stand); only products ordered twice or more have one."""
    session.execute(
        delete(ProductRhythmRow).where(
            ProductRhythmRow.shop_id == shop_id,
            ProductRhythmRow.customer_external_id == customer_id,
        )
    )
    rows = [
        _rhythm_row(shop_id, customer_id, rhythm)
        for rhythm in product_rhythms(
            (order.order_id, order.placed_at, order.product_ids) for order in orders
        ).values()
        if rhythm.due_at is not None
    ]
    if rows:
        session.execute(ProductRhythmRow.__table__.insert(), rows)


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


def forget_rhythms(session: Session, shop_id: int) -> None:
    """Drop every rhythm of the shop (before they are all written again)."""
    session.execute(delete(ProductRhythmRow).where(ProductRhythmRow.shop_id == shop_id))


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
