"""The facts store: merge normalized events into rows, and read rows back as rules facts.

Deliveries repeat and arrive out of order, so merging converges: per row the newest
``updated_at`` wins, an older delivery only fills fields still unknown, ``None`` never
overwrites a value, and monotonic facts (completed, cancelled, refunded) never go back.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Row, bindparam, case, func, inspect, select, update
from sqlalchemy.orm import Session

from plugin.storage import fact_rows
from plugin.storage.batch import Batch
from plugin.storage.models import (
    CheckoutRow,
    CustomerRow,
    EngagementRow,
    OrderRow,
    OutboxMessage,
    Suppression,
)
from rules import events as ev
from rules.events import Event
from rules.facts import Checkout, Customer, LineItem, Order

SUPPRESS_ALL = frozenset({"bounce", "dropped", "spamreport"})
NOT_SENT = ("failed", "suppressed", "cancelled")
GUEST_PREFIX = "email:"  # a customer key for a buyer known only by email (a guest)


def _newer(incoming: datetime | None, stored: datetime | None) -> bool:
    return incoming is None or stored is None or incoming >= stored


def _latest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def _by_key(batch: Batch, model: type[Any], shop_id: int, column: str, value: str) -> Any:
    """One row by its natural key, looked up at most once per batch.

    A delivery touches the same customer two or three times, a batch touches it more;
    the memo (kept in the batch, so it ends with the transaction) saves those queries.
    """
    memo = _memo(batch, model.__name__, shop_id)
    if value not in memo:
        row = batch.session.execute(
            _by_key_statement(model, column), {"shop": shop_id, "key": value}
        ).first()
        memo[value] = fact_rows.loaded(batch, model, row) if row is not None else None
    return memo[value]


def _memo(batch: Batch, model_name: str, shop_id: int) -> dict[str, Any]:
    """The rows of one model and shop that this transaction looked up by key. Kept apart
    per model and shop: an order event reads all the batch's orders of its shop
    (``_held_orders``), and sifting them out of every row looked up cost as much as the
    rest of the order's merge."""
    return batch.rows.setdefault((model_name, shop_id), {})


@functools.cache
def _by_key_statement(model: type[Any], column: str) -> Any:
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
    for event in events:
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
    prefetch_keys(batch, shop_id, customers=customers, checkouts=checkouts, orders=orders)
    _prefetch_completing_orders(batch, shop_id, checkout_events)
    memo = _memo(batch, "OrderRow", shop_id)
    for key in orders:  # and as the stored orders name them
        row = memo.get(key)
        if row is not None and row.customer_external_id:
            buyers.add(row.customer_external_id)
    _prefetch_standing_orders(batch, shop_id, buyers)


def prefetch_keys(
    batch: Batch,
    shop_id: int,
    *,
    customers: Iterable[str] = (),
    checkouts: Iterable[str] = (),
    orders: Iterable[str] = (),
    read_only: bool = False,
) -> None:
    """Load the customers, checkouts and orders with these keys into the memo at once.

    Else as records (``plugin.storage.fact_rows``), which merges change. ``read_only``: as the
    plain rows of their columns, for a transaction that only reads them (``load_customer``
    and its kind read either; a merge into a plain row fails loudly). The due-step stage
    reads them so.
    """
    for model, column, keys in (
        (CustomerRow, "external_id", customers),
        (CheckoutRow, "token", checkouts),
        (OrderRow, "external_id", orders),
    ):
        memo = _memo(batch, model.__name__, shop_id)
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
def _by_keys_statement(model: type[Any], column: str, read_only: bool = False) -> Any:
    base = select(*model.__table__.c) if read_only else fact_rows.select_records(model)
    return base.where(
        model.shop_id == bindparam("shop"),
        getattr(model, column).in_(bindparam("keys", expanding=True)),
    )


def _prefetch_completing_orders(batch: Batch, shop_id: int, tokens: set[str]) -> None:
    """Load at once the stored orders placed from these checkouts (by checkout or cart
    token) into the memo, and remember the tokens as looked for: a checkout's merge then
    finds its order, or that it has none, among the orders the session holds
    (``_order_completing``) instead of in two queries of its own."""
    looked_for = batch.order_tokens_read
    wanted = sorted(t for t in tokens if (shop_id, t) not in looked_for)
    for chunk in chunks(wanted):
        for _column, statement in _ORDERS_BY_TOKENS:
            for row in batch.session.execute(statement, {"shop": shop_id, "tokens": chunk}):
                _remembered_order(batch, shop_id, row)
        looked_for.update((shop_id, token) for token in chunk)


def _prefetch_standing_orders(batch: Batch, shop_id: int, customers: set[str]) -> None:
    """Read at once the stored, not cancelled orders of the customers whose order stats the
    batch recomputes (``_refresh_order_stats``), instead of once per order event; a
    customer not read with a batch is read alone, once. Orders the transaction changes are
    taken from the session there, so what is read here stays right."""
    standing = batch.standing_orders
    wanted = sorted(c for c in customers if (shop_id, c) not in standing)
    with batch.session.no_autoflush:
        for chunk in chunks(wanted):
            for customer in chunk:
                standing[(shop_id, customer)] = []
            values = {"shop": shop_id, "customers": chunk}
            for customer, key, value, created in batch.session.execute(_STANDING_ORDERS_OF, values):
                standing[(shop_id, customer)].append((key, value, created))


def _held_orders(batch: Batch, shop_id: int) -> list[fact_rows.FactRecord]:
    """The shop's orders this transaction holds by key: every order it changed or added
    (they all go through the memo), flushed or not."""
    return [row for row in _memo(batch, "OrderRow", shop_id).values() if row is not None]


def _remember(batch: Batch, model: type[Any], shop_id: int, value: str, row: Any) -> None:
    _memo(batch, model.__name__, shop_id)[value] = row


def _get_or_add(
    batch: Batch, model: type[Any], shop_id: int, column: str, value: str, **new: Any
) -> Any:
    """The row with this natural key, created (with ``new`` values) if there is none."""
    row = _by_key(batch, model, shop_id, column, value)
    if row is None:
        row = fact_rows.new(batch, model, shop_id=shop_id, **{column: value}, **new)
        _remember(batch, model, shop_id, value, row)
    return row


def _merge_fields(row: Any, values: dict[str, Any], newer: bool) -> None:
    """Newest delivery wins; an older one only fills what is still unknown; None says nothing."""
    for name, value in values.items():
        if value is not None and (newer or getattr(row, name) is None):
            setattr(row, name, value)


def apply_event(batch: Batch, shop_id: int, event: Event) -> None:
    """Merge one event's facts into the store."""
    kind = event.kind
    if kind in (ev.CUSTOMER_UPSERTED, ev.CUSTOMER_CREATED, ev.PURCHASING_SUMMARY):
        assert event.customer is not None
        _merge_customer(batch, shop_id, event.customer)
    elif kind == ev.CONSENT_CHANGED:
        assert event.customer is not None
        _merge_customer(batch, shop_id, event.customer, at=event.occurred_at)
    elif kind in (ev.TAGS_ADDED, ev.TAGS_REMOVED):
        assert event.customer is not None
        _change_tags(batch, shop_id, event.customer.id, (event.data or {}).get("tags") or [], kind)
    elif kind == ev.CHECKOUT_UPDATED:
        assert event.checkout is not None
        _merge_checkout(batch, shop_id, event.checkout)
    elif kind in (ev.ORDER_PLACED, ev.ORDER_UPDATED, ev.ORDER_FULFILLED, ev.ORDER_CANCELLED):
        assert event.order is not None
        _merge_order(batch, shop_id, event.order)
    elif kind == ev.EMAIL_ENGAGED:
        _record_engagement(batch, shop_id, event)
    elif kind == ev.EMAIL_SUPPRESSED:
        _record_suppression(batch, shop_id, event)


# --- customers --------------------------------------------------------------------------


def _customer_row(batch: Batch, shop_id: int, external_id: str) -> fact_rows.FactRecord:
    row: fact_rows.FactRecord = _get_or_add(batch, CustomerRow, shop_id, "external_id", external_id)
    return row


def _merge_customer(batch: Batch, shop_id: int, fact: Customer, at: datetime | None = None) -> None:
    row = _customer_row(batch, shop_id, fact.id)
    newer = _newer(fact.updated_at, row.updated_at)
    fields = {
        name: getattr(fact, name) for name in ("first_name", "last_name", "timezone", "created_at")
    }
    _merge_fields(
        row, {**fields, "email": fact.email.strip().lower() if fact.email else None}, newer
    )
    if fact.tags is not None and (newer or row.tags is None):
        row.tags = list(fact.tags)
    if fact.accepts_marketing is not None:
        consent_at = fact.consent_updated_at or at or fact.updated_at
        stored_at = row.consent_updated_at
        if row.accepts_marketing is None or (
            consent_at is not None and (stored_at is None or consent_at >= stored_at)
        ):
            row.accepts_marketing = fact.accepts_marketing
            row.consent_updated_at = consent_at or stored_at
    if fact.orders_count is not None:
        row.orders_count = max(row.orders_count or 0, fact.orders_count)
    if fact.total_spent is not None:
        row.total_spent = max(row.total_spent or Decimal("0"), fact.total_spent)
    row.updated_at = _latest(row.updated_at, fact.updated_at)
    row.last_activity_at = _latest(row.created_at, row.last_order_at, row.last_engaged_at)


def _change_tags(batch: Batch, shop_id: int, external_id: str, tags: list[Any], kind: str) -> None:
    row = _customer_row(batch, shop_id, external_id)
    current = list(row.tags or [])
    if kind == ev.TAGS_ADDED:
        row.tags = current + [t for t in tags if t not in current]
    else:
        row.tags = [t for t in current if t not in tags]


def _refresh_order_stats(batch: Batch, shop_id: int, external_id: str) -> None:
    """Recompute a customer's order-derived facts from their orders that stand.

    The orders are read from the database without flushing first, and those this
    transaction changed are taken as the batch holds them: the flush this query used to
    cost, per order event, was a large part of the replay.
    """
    memo = _memo(batch, "OrderRow", shop_id)
    held = _held_orders(batch, shop_id)
    _prefetch_standing_orders(batch, shop_id, {external_id})  # unless the batch did
    stored = batch.standing_orders[(shop_id, external_id)]
    # A stored order the memo holds is that same row (one per shop and key), counted below
    # as the batch has it; found by key, not by sifting every held row for its id (each
    # order event sifted the batch's orders: quadratic in the batch).
    standing = [(value, created) for key, value, created in stored if memo.get(key) is None]
    standing += [
        (row.value, row.created_at)
        for row in held
        if row.customer_external_id == external_id and row.cancelled_at is None
    ]
    count = len(standing)
    spent = sum((value for value, _ in standing if value is not None), start=Decimal("0"))
    moments = [created for _, created in standing if created is not None]
    first, last = (min(moments), max(moments)) if moments else (None, None)
    row = _customer_row(batch, shop_id, external_id)
    row.orders_count = max(row.orders_count or 0, count)
    row.total_spent = max(row.total_spent or Decimal("0"), spent)
    row.first_order_at, row.last_order_at = first, last
    if count >= 2 and first and last and last > first:
        mean = (last - first).total_seconds() / 86_400 / (count - 1)
        row.mean_days_between_orders = mean
        row.expected_reorder_at = last + timedelta(days=mean)
    else:
        row.mean_days_between_orders = row.expected_reorder_at = None
    row.last_activity_at = _latest(row.created_at, row.last_order_at, row.last_engaged_at)


# Built once, like the other per-event queries: values are bound when it runs.
_STANDING_ORDERS_OF = select(
    OrderRow.customer_external_id, OrderRow.external_id, OrderRow.value, OrderRow.created_at
).where(
    OrderRow.shop_id == bindparam("shop"),
    OrderRow.customer_external_id.in_(bindparam("customers", expanding=True)),
    OrderRow.cancelled_at.is_(None),
)


def aware(value: Any) -> datetime | None:
    """Aggregates bypass the column type, so SQLite hands back naive (or text) UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- checkouts and orders -----------------------------------------------------------------


def _items_json(items: tuple[LineItem, ...]) -> list[dict[str, Any]]:
    return [
        {
            "product_id": i.product_id,
            "variant_id": i.variant_id,
            "sku": i.sku,
            "title": i.title,
            "quantity": i.quantity,
            "price": str(i.price),
            "vendor": i.vendor,
            "product_type": i.product_type,
            "tags": list(i.tags),
        }
        for i in items
    ]


def _items(rows: list[dict[str, Any]] | None) -> tuple[LineItem, ...]:
    return tuple(
        LineItem(
            product_id=r.get("product_id"),
            variant_id=r.get("variant_id"),
            sku=r.get("sku"),
            title=r.get("title") or "",
            quantity=int(r.get("quantity") or 1),
            price=Decimal(str(r.get("price") or "0")),
            vendor=r.get("vendor"),
            product_type=r.get("product_type"),
            tags=tuple(r.get("tags") or ()),
        )
        for r in rows or []
    )


def _merge_checkout(batch: Batch, shop_id: int, fact: Checkout) -> None:
    row = _get_or_add(
        batch, CheckoutRow, shop_id, "token", fact.token, is_cart=fact.is_cart, items=[]
    )
    newer = _newer(fact.updated_at, row.updated_at)
    fields = {
        "cart_token": fact.cart_token,
        "customer_external_id": fact.customer_id,
        "email": fact.email.strip().lower() if fact.email else None,
        "currency": fact.currency,
        "accepts_marketing": fact.accepts_marketing,
        "recovery_url": fact.recovery_url,
        "created_at": fact.created_at,
    }
    _merge_fields(row, fields, newer)
    if newer or not row.items:
        row.value, row.items = fact.value, _items_json(fact.items)
    row.updated_at = _latest(row.updated_at, fact.updated_at)
    row.completed_at = row.completed_at or fact.completed_at
    if row.completed_at is None:  # its order may have arrived first
        order = _order_completing(batch, shop_id, fact.token)
        if order is not None:
            row.completed_at, row.order_external_id = order.created_at, order.external_id
    if fact.customer_id and fact.email:
        customer = _customer_row(batch, shop_id, fact.customer_id)
        customer.email = customer.email or fact.email.strip().lower()


def _order_completing(batch: Batch, shop_id: int, token: str) -> fact_rows.FactRecord | None:
    """The order placed from this checkout (by its checkout token, else its cart token).

    Looked for among the orders this transaction holds by key (every order it changed),
    then in the database without flushing first, the tokens checked as the session holds
    them: a flush per checkout event was most of a checkout's merge.
    """
    held = _held_orders(batch, shop_id)
    # prefetched for the batch: every stored order with this token is among those held
    prefetched = (shop_id, token) in batch.order_tokens_read
    for column, statement in _ORDERS_BY_TOKENS:  # two indexed lookups
        for row in held:
            if getattr(row, column) == token:
                return row
        if prefetched:
            continue
        with batch.session.no_autoflush:
            for row in batch.session.execute(statement, {"shop": shop_id, "tokens": [token]}):
                if getattr(row, column) == token:
                    return _remembered_order(batch, shop_id, row)
    return None


def _remembered_order(batch: Batch, shop_id: int, row: Any) -> fact_rows.FactRecord:
    """The record of an order read by token: the one the transaction holds if it holds
    one under its key (one key, one record), else a record of this row, remembered."""
    memo = _memo(batch, "OrderRow", shop_id)
    if memo.get(row.external_id) is None:
        memo[row.external_id] = fact_rows.loaded(batch, OrderRow, row)
    record: fact_rows.FactRecord = memo[row.external_id]
    return record


_ORDERS_BY_TOKENS = tuple(
    (
        column,
        fact_rows.select_records(OrderRow).where(
            OrderRow.shop_id == bindparam("shop"),
            getattr(OrderRow, column).in_(bindparam("tokens", expanding=True)),
        ),
    )
    for column in ("checkout_token", "cart_token")
)


def _merge_order(batch: Batch, shop_id: int, fact: Order) -> None:
    row = _get_or_add(batch, OrderRow, shop_id, "external_id", fact.id, items=[], refunded=False)
    # Order topics always say when the order was created; a fulfilment alone does not,
    # and then only what it does say is applied.
    full = fact.created_at is not None
    if full:
        newer = _newer(fact.updated_at, row.updated_at)
        fields = {
            "name": fact.name,
            "customer_external_id": fact.customer_id,
            "email": fact.email.strip().lower() if fact.email else None,
            "checkout_token": fact.checkout_token,
            "cart_token": fact.cart_token,
            "currency": fact.currency,
            "financial_status": fact.financial_status,
            "created_at": fact.created_at,
        }
        _merge_fields(row, fields, newer)
        if newer or not row.items:
            row.value, row.items = fact.value, _items_json(fact.items)
        row.refunded = bool(row.refunded) or fact.refunded
    row.fulfilled_at = _latest(row.fulfilled_at, fact.fulfilled_at)
    row.cancelled_at = row.cancelled_at or fact.cancelled_at
    row.updated_at = _latest(row.updated_at, fact.updated_at)
    if row.created_at is not None:
        _complete_checkouts(batch, shop_id, row)
    if row.customer_external_id:
        customer = _customer_row(batch, shop_id, row.customer_external_id)
        if row.email and not customer.email:
            customer.email = row.email
        _refresh_order_stats(batch, shop_id, row.customer_external_id)


def _complete_checkouts(batch: Batch, shop_id: int, order: fact_rows.FactRecord) -> None:
    """Mark the order's checkout and cart completed by it, unless already completed.

    Through the rows by key (a batch has them prefetched) rather than an UPDATE: the
    statement cost a flush of the session and a search of it for the rows to refresh.
    """
    for token in {t for t in (order.checkout_token, order.cart_token) if t}:
        checkout = _by_key(batch, CheckoutRow, shop_id, "token", token)
        if checkout is not None and checkout.completed_at is None:
            checkout.completed_at = order.created_at
            checkout.order_external_id = order.external_id


# --- engagement and suppression ------------------------------------------------------------


def _record_engagement(batch: Batch, shop_id: int, event: Event) -> None:
    engagement = event.engagement
    assert engagement is not None
    event_id = str(
        (event.data or {}).get("sg_event_id")
        or f"{engagement.kind}:{engagement.email}:{engagement.occurred_at.isoformat()}"
    )
    if batch.session.scalar(select(EngagementRow.id).where(EngagementRow.event_id == event_id)):
        return
    email = engagement.email.strip().lower()
    message_id = (event.data or {}).get("nudge_message_id")
    batch.session.add(
        EngagementRow(
            shop_id=shop_id,
            event_id=event_id,
            kind=engagement.kind,
            email=email,
            message_id=int(message_id) if str(message_id or "").isdigit() else None,
            occurred_at=engagement.occurred_at,
            url=engagement.url,
        )
    )
    customers = batch.session.scalars(_CUSTOMERS_BY_EMAIL, {"shop": shop_id, "email": email}).all()
    for external_id in customers:
        row = _customer_row(batch, shop_id, external_id)
        row.last_engaged_at = _latest(row.last_engaged_at, engagement.occurred_at)
        row.last_activity_at = _latest(row.last_activity_at, engagement.occurred_at)


_CUSTOMERS_BY_EMAIL = select(CustomerRow.external_id).where(
    CustomerRow.shop_id == bindparam("shop"), CustomerRow.email == bindparam("email")
)


def _record_suppression(batch: Batch, shop_id: int, event: Event) -> None:
    engagement = event.engagement
    assert engagement is not None
    email = engagement.email.strip().lower()
    scope = "all" if engagement.kind in SUPPRESS_ALL else "marketing"
    exists = batch.session.scalar(
        select(Suppression.id).where(
            Suppression.shop_id == shop_id, Suppression.email == email, Suppression.scope == scope
        )
    )
    if not exists:
        batch.session.add(
            Suppression(
                shop_id=shop_id,
                email=email,
                scope=scope,
                reason=engagement.kind,
                created_at=engagement.occurred_at,
            )
        )
    if engagement.kind in ("unsubscribe", "group_unsubscribe"):
        values = {"unsubscribed_at": engagement.occurred_at, "accepts_marketing": False}
        batch.session.execute(
            update(CustomerRow)
            .where(CustomerRow.shop_id == shop_id, CustomerRow.email == email)
            .values(**values)
        )
        for row in _memo(batch, CustomerRow.__name__, shop_id).values():
            if isinstance(row, fact_rows.FactRecord) and row.email == email:
                fact_rows.refresh(row, **values)


# --- reading facts back -------------------------------------------------------------------


def load_customer(batch: Batch, shop_id: int, external_id: str) -> Customer | None:
    row = _by_key(batch, CustomerRow, shop_id, "external_id", external_id)
    if row is None:
        return None
    return Customer(
        id=row.external_id,
        email=row.email,
        first_name=row.first_name,
        last_name=row.last_name,
        accepts_marketing=row.accepts_marketing,
        consent_updated_at=row.consent_updated_at,
        tags=tuple(row.tags) if row.tags is not None else None,
        orders_count=row.orders_count,
        total_spent=row.total_spent,
        first_order_at=row.first_order_at,
        last_order_at=row.last_order_at,
        mean_days_between_orders=row.mean_days_between_orders,
        last_engaged_at=row.last_engaged_at,
        timezone=row.timezone,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def customer_timezone(batch: Batch, shop_id: int, external_id: str) -> str | None:
    """The customer's own timezone, if the store has told it (their row, read once per
    transaction, as ``load_customer`` reads it)."""
    row = _by_key(batch, CustomerRow, shop_id, "external_id", external_id)
    return row.timezone if row is not None else None


def load_checkout(
    batch: Batch, shop_id: int, token: str, with_items: bool = True
) -> Checkout | None:
    """A checkout's facts; without its line items when the caller reads none of them."""
    row = _by_key(batch, CheckoutRow, shop_id, "token", token)
    if row is None:
        return None
    return Checkout(
        token=row.token,
        customer_id=row.customer_external_id,
        email=row.email,
        value=row.value,
        currency=row.currency,
        items=_items(row.items) if with_items else (),
        created_at=row.created_at,
        updated_at=row.updated_at,
        completed_at=row.completed_at,
        recovery_url=row.recovery_url,
        cart_token=row.cart_token,
        accepts_marketing=row.accepts_marketing,
        is_cart=row.is_cart,
    )


def order_fact(row: OrderRow | Row[Any], with_items: bool = True) -> Order:
    """An order's facts, from its object or from a row of its table's columns; an order of
    a customer's history without its line items (``with_items=False``, from a row of
    ``HISTORY_COLUMNS``): see rules.facts.FactSet."""
    return Order(
        id=row.external_id,
        customer_id=row.customer_external_id,
        email=row.email,
        checkout_token=row.checkout_token,
        cart_token=row.cart_token,
        name=row.name,
        value=row.value,
        currency=row.currency,
        items=_items(row.items) if with_items else (),
        created_at=row.created_at,
        updated_at=row.updated_at,
        fulfilled_at=row.fulfilled_at,
        cancelled_at=row.cancelled_at,
        refunded=row.refunded,
        financial_status=row.financial_status,
    )


def load_order(
    batch: Batch, shop_id: int, external_id: str, with_items: bool = True
) -> Order | None:
    """An order's facts; without its line items when the caller reads none of them."""
    row = _by_key(batch, OrderRow, shop_id, "external_id", external_id)
    return order_fact(row, with_items) if row is not None else None


# A customer's order history as the rules read it (FactSet.orders): every column but the
# line items, which no variable reads of a history (a property test holds every variable to
# that). Reading and building up to fifty orders a customer, items decoded, showed in a
# profile of the replay.
HISTORY_COLUMNS = tuple(column for column in OrderRow.__table__.c if column.name != "items")


def load_orders(
    session: Session, shop_id: int, customer_external_id: str, limit: int = 50
) -> tuple[Order, ...]:
    """A customer's orders, newest first, without their line items (FactSet.orders)."""
    rows = session.execute(
        _CUSTOMER_ORDERS, {"shop": shop_id, "customer": customer_external_id, "limit": limit}
    )
    return tuple(order_fact(row, with_items=False) for row in rows)


# Read for every decided step, so built once (values bound when they run); through the
# session, so they see what this transaction has written (an email queued a step earlier
# counts for the frequency cap).
_CUSTOMER_ORDERS = (
    select(*HISTORY_COLUMNS)
    .where(
        OrderRow.shop_id == bindparam("shop"),
        OrderRow.customer_external_id == bindparam("customer"),
    )
    .order_by(OrderRow.created_at.desc(), OrderRow.id.desc())  # as step_histories reads them
    .limit(bindparam("limit"))
)


def find_customer_by_email(session: Session, shop_id: int, email: str) -> str | None:
    return session.scalar(_CUSTOMER_BY_EMAIL, {"shop": shop_id, "email": email.strip().lower()})


_CUSTOMER_BY_EMAIL = (
    select(CustomerRow.external_id)
    .where(CustomerRow.shop_id == bindparam("shop"), CustomerRow.email == bindparam("email"))
    .limit(1)
)


def normal_email(email: str) -> str:
    """An address as suppressions store it."""
    return email.strip().lower()


def suppressing_scopes(scope: str) -> list[str]:
    """The suppression scopes that stop mail of ``scope`` ('all' covers marketing too)."""
    return ["all", "marketing"] if scope == "marketing" else ["all"]


def is_suppressed(session: Session, shop_id: int, email: str, scope: str = "marketing") -> bool:
    """Whether mail of ``scope`` must not go to ``email``."""
    found = session.scalar(
        _SUPPRESSION,
        {"shop": shop_id, "email": normal_email(email), "scopes": suppressing_scopes(scope)},
    )
    return found is not None


_SUPPRESSION = (
    select(Suppression.id)
    .where(
        Suppression.shop_id == bindparam("shop"),
        Suppression.email == bindparam("email"),
        Suppression.scope.in_(bindparam("scopes", expanding=True)),
    )
    .limit(1)
)


def last_email_at(
    batch: Batch,
    shop_id: int,
    customer_external_id: str,
    category: str = "marketing",
    workflow: str | None = None,
) -> tuple[datetime | None, datetime | None]:
    """When the customer was last sent (or queued) an email of this category: at all, and
    from ``workflow`` (None when not asked). One query for both."""
    with batch.session.no_autoflush:  # the emails this transaction queued are counted below
        any_time, workflow_time = batch.session.execute(
            _LAST_EMAILS,
            {
                "shop": shop_id,
                "customer": customer_external_id,
                "category": category,
                "workflow": workflow or "",
            },
        ).one()
    return with_queued_emails(
        batch,
        shop_id,
        customer_external_id,
        category,
        workflow,
        aware(any_time),
        aware(workflow_time),
    )


def with_queued_emails(
    batch: Batch,
    shop_id: int,
    customer_external_id: str,
    category: str,
    workflow: str | None,
    any_time: datetime | None,
    workflow_time: datetime | None,
) -> tuple[datetime | None, datetime | None]:
    """The last email times in the database, brought up to date with the emails queued in
    this transaction and not flushed yet: the due-step stage flushes a batch once, when it
    commits, and what it queued counts as much as what is stored."""
    for row in batch.queued.get((shop_id, customer_external_id), ()):
        if (
            inspect(row).pending  # added and not flushed (once flushed, the query counts it)
            and row.kind == "email"
            and row.category == category
            and row.state not in NOT_SENT
        ):
            any_time = _latest(any_time, row.created_at)
            if row.workflow == workflow:
                workflow_time = _latest(workflow_time, row.created_at)
    return any_time, workflow_time if workflow is not None else None


_LAST_EMAILS = select(
    func.max(OutboxMessage.created_at),
    func.max(case((OutboxMessage.workflow == bindparam("workflow"), OutboxMessage.created_at))),
).where(
    OutboxMessage.shop_id == bindparam("shop"),
    OutboxMessage.customer_external_id == bindparam("customer"),
    OutboxMessage.kind == "email",
    OutboxMessage.category == bindparam("category"),
    OutboxMessage.state.not_in(NOT_SENT),
)
