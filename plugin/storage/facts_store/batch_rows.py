"""The customers, checkouts, orders and products a batch looked up by key, read once for
the batch.

A delivery touches the same customer two or three times, a batch touches it more: each row
is looked up at most once per batch and remembered under its natural key, as the record
that merges change (``plugin.storage.fact_rows``; one key, one record), or as ``None`` when
there is no such row. A batch of events reads the rows it will merge into at once
(``prefetch``): one IN query per table and chunk instead of one query per row.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar, cast

from sqlalchemy import bindparam, select

from plugin.storage import fact_rows
from plugin.storage.batch import Batch
from plugin.storage.fact_rows import FactModel
from plugin.storage.models import (
    CheckoutRow,
    CustomerRow,
    OrderRow,
    ProductRow,
)
from rules.events import Event


def by_key(batch: Batch, model: FactModel, shop_id: int, column: str, value: str) -> Any:
    """One row by its natural key, looked up at most once per batch.

    A delivery touches the same customer two or three times, a batch touches it more;
    the memo (kept in the batch, so it ends with the transaction) saves those queries.
    """
    memo = rows_of(batch, model.__name__, shop_id)
    if value not in memo:
        row = batch.session.execute(
            _by_key_statement(model, column), {"shop": shop_id, "key": value}
        ).first()
        memo[value] = fact_rows.loaded(batch, model, row) if row is not None else None
    return memo[value]


def rows_of(batch: Batch, model_name: str, shop_id: int) -> dict[str, Any]:
    """The rows of one model and shop that this transaction looked up by key. Kept apart
    per model and shop: an order event reads all the batch's orders of its shop
    (``held_orders``), and sifting them out of every row looked up cost as much as the
    rest of the order's merge."""
    return batch.rows.setdefault((model_name, shop_id), {})


@functools.cache
def _by_key_statement(model: FactModel, column: str) -> Any:
    """Built once per model: the lookups are the hottest queries, and building a statement
    costs more than SQLAlchemy's cached compile and SQLite's indexed read together."""
    return fact_rows.select_records(model).where(
        model.shop_id == bindparam("shop"), getattr(model, column) == bindparam("key")
    )


PREFETCH_CHUNK = 500  # keys per IN list: well under SQLite's and PostgreSQL's bind limits


Key = TypeVar("Key")


def chunks(keys: list[Key]) -> Iterator[list[Key]]:
    """``keys`` in runs of at most PREFETCH_CHUNK, one IN list each."""
    for start in range(0, len(keys), PREFETCH_CHUNK):
        yield keys[start : start + PREFETCH_CHUNK]


def prefetch(batch: Batch, shop_id: int, events: Iterable[Event]) -> None:
    """Load at once the rows a batch of events will merge into, so that merging them finds
    each in the batch's memo instead of querying for it: one IN query per table and
    chunk instead of one query per row. A key with no row is remembered as missing (it is
    created, and remembered, when an event first needs it)."""
    customers: set[str] = set()
    checkouts: set[str] = set()
    orders: set[str] = set()
    checkout_events: set[str] = set()
    buyers: set[str] = set()  # whose order stats the batch's order events recompute
    products: set[str] = set()
    for event in events:
        if event.product is not None:
            products.add(event.product.id)
        if event.customer is not None:
            customers.add(event.customer.id)
        if event.checkout is not None:
            checkouts.add(event.checkout.token)
            checkout_events.add(event.checkout.token)
            if event.checkout.customer_id:
                customers.add(event.checkout.customer_id)
        if event.order is not None:
            orders.add(event.order.id)
            if event.order.customer_id:
                customers.add(event.order.customer_id)
                buyers.add(event.order.customer_id)
            # the checkouts it completes
            checkouts.update(t for t in (event.order.checkout_token, event.order.cart_token) if t)
    prefetch_keys(
        batch, shop_id, customers=customers, checkouts=checkouts, orders=orders, products=products
    )
    prefetch_completing_orders(batch, shop_id, checkout_events)
    memo = rows_of(batch, "OrderRow", shop_id)
    for key in orders:  # and as the stored orders name them
        row = memo.get(key)
        if row is not None and row.customer_external_id:
            buyers.add(row.customer_external_id)
    prefetch_standing_orders(batch, shop_id, buyers)


def prefetch_keys(
    batch: Batch,
    shop_id: int,
    *,
    customers: Iterable[str] = (),
    checkouts: Iterable[str] = (),
    orders: Iterable[str] = (),
    products: Iterable[str] = (),
    read_only: bool = False,
) -> None:
    """Load the customers, checkouts, orders and products with these keys into the memo at
    once.

    Else as records (``plugin.storage.fact_rows``), which merges change. ``read_only``: as the
    plain rows of their columns, for a transaction that only reads them (``load_customer``
    and its kind read either; a merge into a plain row fails loudly). The due-step stage
    reads them so.
    """
    for model, column, keys in (
        (CustomerRow, "external_id", customers),
        (CheckoutRow, "token", checkouts),
        (OrderRow, "external_id", orders),
        (ProductRow, "product_id", products),
    ):
        memo = rows_of(batch, model.__name__, shop_id)
        wanted = sorted({k for k in keys if k not in memo})
        statement = _by_keys_statement(model, column, read_only)
        for chunk in chunks(wanted):
            found: dict[str, Any] = {}
            for row in batch.session.execute(statement, {"shop": shop_id, "keys": chunk}):
                record = row if read_only else fact_rows.loaded(batch, model, row)
                found[getattr(row, column)] = record
            for key in chunk:
                memo[key] = found.get(key)


@functools.cache
def _by_keys_statement(model: FactModel, column: str, read_only: bool = False) -> Any:
    base: Any = fact_rows.select_records(model)
    if read_only:  # plain rows of the table's columns, not records
        base = select(*model.__table__.c)
    return base.where(
        model.shop_id == bindparam("shop"),
        getattr(model, column).in_(bindparam("keys", expanding=True)),
    )


def prefetch_completing_orders(batch: Batch, shop_id: int, tokens: set[str]) -> None:
    """Load at once the stored orders placed from these checkouts (by checkout or cart
    token) into the memo, and remember the tokens as looked for: a checkout's merge then
    finds its order, or that it has none, among the orders the batch holds
    (``_order_completing``) instead of in two queries of its own."""
    looked_for = batch.order_tokens_read
    wanted = sorted(t for t in tokens if (shop_id, t) not in looked_for)
    for chunk in chunks(wanted):
        for _column, statement in ORDERS_BY_TOKENS:
            for row in batch.session.execute(statement, {"shop": shop_id, "tokens": chunk}):
                remembered_order(batch, shop_id, row)
        looked_for.update((shop_id, token) for token in chunk)


def prefetch_standing_orders(batch: Batch, shop_id: int, customers: set[str]) -> None:
    """Read at once the stored, not cancelled orders of the customers whose order stats the
    batch recomputes (``_refresh_order_stats``), instead of once per order event; a
    customer not read with a batch is read alone, once. Orders the transaction changes are
    taken from the batch there, so what is read here stays right."""
    standing = batch.standing_orders
    wanted = sorted(c for c in customers if (shop_id, c) not in standing)
    with batch.session.no_autoflush:
        for chunk in chunks(wanted):
            for customer in chunk:
                standing[(shop_id, customer)] = []
            values = {"shop": shop_id, "customers": chunk}
            for buyer, key, value, created in batch.session.execute(_STANDING_ORDERS_OF, values):
                # one of the customers asked for: never NULL
                standing[(shop_id, cast(str, buyer))].append((key, value, created))


# Built once, like the other per-event queries: values are bound when it runs.
_STANDING_ORDERS_OF = select(
    OrderRow.customer_external_id, OrderRow.external_id, OrderRow.value, OrderRow.created_at
).where(
    OrderRow.shop_id == bindparam("shop"),
    OrderRow.customer_external_id.in_(bindparam("customers", expanding=True)),
    OrderRow.cancelled_at.is_(None),
)


def held_orders(batch: Batch, shop_id: int) -> list[fact_rows.FactRecord]:
    """The shop's orders this transaction holds by key: every order it changed or added
    (they all go through the memo), flushed or not."""
    return [row for row in rows_of(batch, "OrderRow", shop_id).values() if row is not None]


def remember(batch: Batch, model: FactModel, shop_id: int, value: str, row: Any) -> None:
    rows_of(batch, model.__name__, shop_id)[value] = row


def get_or_add(
    batch: Batch, model: FactModel, shop_id: int, column: str, value: str, **new: Any
) -> Any:
    """The row with this natural key, created (with ``new`` values) if there is none."""
    row = by_key(batch, model, shop_id, column, value)
    if row is None:
        row = fact_rows.new(batch, model, shop_id=shop_id, **{column: value}, **new)
        remember(batch, model, shop_id, value, row)
    return row


def remembered_order(batch: Batch, shop_id: int, row: Any) -> fact_rows.FactRecord:
    """The record of an order read by token: the one the transaction holds if it holds
    one under its key (one key, one record), else a record of this row, remembered."""
    memo = rows_of(batch, "OrderRow", shop_id)
    if memo.get(row.external_id) is None:
        memo[row.external_id] = fact_rows.loaded(batch, OrderRow, row)
    record: fact_rows.FactRecord = memo[row.external_id]
    return record


ORDERS_BY_TOKENS = tuple(
    (
        column,
        fact_rows.select_records(OrderRow).where(
            OrderRow.shop_id == bindparam("shop"),
            getattr(OrderRow, column).in_(bindparam("tokens", expanding=True)),
        ),
    )
    for column in ("checkout_token", "cart_token")
)
