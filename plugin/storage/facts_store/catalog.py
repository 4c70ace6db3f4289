"""Read the shop's catalog: the products a step's facts name, what a customer ordered, the
products an order names that the catalog does not know, and what may be recommended.

Reads by key go through the batch's memo (``batch_rows``), like customers and orders: a
batch that merged a product reads it as merged. Nothing here reads the whole catalog but
``product_states`` (the recommendation model's eligibility, one narrow row per product).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from plugin.storage.batch import Batch
from plugin.storage.facts_store.batch_rows import chunks, prefetch_keys, rows_of
from plugin.storage.facts_store.reading import line_items
from plugin.storage.models import OrderRow, ProductRow
from rules.facts import LineItem, Product, ProductVariant
from rules.recommend import ProductState

ORDERS_PER_CUSTOMER = 50  # the history's newest orders, as FactSet.orders holds them


def product_fact(row: Any) -> Product:
    """A product's facts from its row (a record or a plain row of its columns)."""
    return Product(
        id=row.product_id,
        variants=tuple(_variant(v) for v in row.variants or () if isinstance(v, dict)),
        title=row.title,
        handle=row.handle,
        url=row.url,
        product_type=row.product_type,
        vendor=row.vendor,
        tags=tuple(row.tags) if row.tags is not None else None,
        collections=tuple(row.collections) if row.collections is not None else None,
        image_url=row.image_url,
        price=row.price,
        compare_at_price=row.compare_at_price,
        available=row.available,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted=row.deleted_at is not None,
    )


def _variant(stored: dict[str, Any]) -> ProductVariant:
    price, compare_at = stored.get("price"), stored.get("compare_at_price")
    return ProductVariant(
        id=str(stored.get("id")),
        title=stored.get("title"),
        sku=stored.get("sku"),
        price=Decimal(price) if price is not None else None,
        compare_at_price=Decimal(compare_at) if compare_at is not None else None,
        available=stored.get("available"),
    )


def load_products(
    batch: Batch, shop_id: int, product_ids: Iterable[str | None], read_only: bool = False
) -> dict[str, Product]:
    """The catalog's products among these ids (deleted ones included: old orders name
    them), by id; an id the catalog does not know is absent. ``read_only`` as for
    ``prefetch_keys``: the due-step stage reads plain rows."""
    wanted = {product_id for product_id in product_ids if product_id}
    prefetch_keys(batch, shop_id, products=wanted, read_only=read_only)
    memo = rows_of(batch, ProductRow.__name__, shop_id)
    found = {}
    for product_id in wanted:
        row = memo.get(product_id)
        if row is not None:
            found[product_id] = product_fact(row)
    return found


def load_ordered_items(
    session: Session, shop_id: int, customer_external_id: str, limit: int = ORDERS_PER_CUSTOMER
) -> tuple[LineItem, ...]:
    """The line items of a customer's newest orders that stand (not cancelled), one per
    product (the newest): what ``FactSet.ordered_items`` holds."""
    found: list[LineItem] = []
    seen: set[str] = set()
    values = {"shop": shop_id, "customer": customer_external_id, "limit": limit}
    for (items,) in session.execute(_ORDERED_ITEMS, values):
        for item in line_items(items):
            if item.product_id is not None:
                if item.product_id in seen:
                    continue
                seen.add(item.product_id)
            found.append(item)
    return tuple(found)


_ORDERED_ITEMS = (
    select(OrderRow.items)
    .where(
        OrderRow.shop_id == bindparam("shop"),
        OrderRow.customer_external_id == bindparam("customer"),
        OrderRow.cancelled_at.is_(None),
    )
    .order_by(OrderRow.created_at.desc(), OrderRow.id.desc())
    .limit(bindparam("limit"))
)


def unknown_product_ids(session: Session, shop_id: int, product_ids: Iterable[str]) -> list[str]:
    """Those of these ids the catalog has no row for at all (not even a deletion)."""
    wanted = sorted({product_id for product_id in product_ids if product_id})
    known: set[str] = set()
    for chunk in chunks(wanted):
        known.update(session.scalars(_KNOWN_IDS, {"shop": shop_id, "ids": chunk}))
    return [product_id for product_id in wanted if product_id not in known]


_KNOWN_IDS = select(ProductRow.product_id).where(
    ProductRow.shop_id == bindparam("shop"),
    ProductRow.product_id.in_(bindparam("ids", expanding=True)),
)


def live_products_missing_from(
    session: Session, shop_id: int, seen: set[str], before: datetime
) -> list[str]:
    """The products not deleted that a complete read of the catalog begun at ``before`` did
    not see, leaving out any changed since it began (a webhook told of them meanwhile)."""
    statement = select(ProductRow.product_id).where(
        ProductRow.shop_id == shop_id,
        ProductRow.deleted_at.is_(None),
        or_(ProductRow.updated_at.is_(None), ProductRow.updated_at < before),
    )
    return [product_id for product_id in session.scalars(statement) if product_id not in seen]


def product_states(session: Session, shop_id: int) -> dict[str, ProductState]:
    """What the recommendation model needs of the catalog (rules.recommend): each product
    it offers now, by id. A deleted product, or one known only by its deletion, is absent,
    so it is never recommended; unknown availability or status counts as not offered."""
    statement = select(
        ProductRow.product_id, ProductRow.available, ProductRow.status, ProductRow.created_at
    ).where(
        ProductRow.shop_id == shop_id,
        ProductRow.deleted_at.is_(None),
        ProductRow.title.is_not(None),
    )
    return {
        product_id: ProductState(
            available=available is True, status=status or "unknown", created_at=created_at
        )
        for product_id, available, status, created_at in session.execute(statement)
    }
