"""Read the stored facts back as ``rules`` facts, and what a step asks of a customer's
history: their orders, whether their address is suppressed, when they were last emailed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, case, func, inspect, select
from sqlalchemy.orm import Session

from plugin.storage.batch import Batch
from plugin.storage.facts_store.batch_rows import by_key
from plugin.storage.models import (
    CheckoutRow,
    CustomerRow,
    OrderRow,
    OutboxMessage,
    Suppression,
)
from rules.facts import Checkout, Customer, LineItem, Order

NOT_SENT = ("failed", "suppressed", "cancelled")


GUEST_PREFIX = "email:"  # a customer key for a buyer known only by email (a guest)


def latest(*moments: datetime | None) -> datetime | None:
    """The latest of the moments known; None if none is."""
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def aware(value: Any) -> datetime | None:
    """Aggregates bypass the column type, so SQLite hands back naive (or text) UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def line_items(rows: list[dict[str, Any]] | None) -> tuple[LineItem, ...]:
    """An order's or checkout's line items from their stored JSON."""
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


def load_customer(batch: Batch, shop_id: int, external_id: str) -> Customer | None:
    row = by_key(batch, CustomerRow, shop_id, "external_id", external_id)
    return customer_fact(row) if row is not None else None


def customer_fact(row: Any, with_orders: bool = True) -> Customer:
    """A customer's facts, from its object or a row of its columns; without the order
    figures stored on it (``with_orders=False``) for a caller that works them out from the
    orders it replays (plugin.pipeline.backtest)."""
    orders: dict[str, Any] = {}
    if with_orders:
        orders = {
            "orders_count": row.orders_count,
            "total_spent": row.total_spent,
            "first_order_at": row.first_order_at,
            "last_order_at": row.last_order_at,
        }
    return Customer(
        id=row.external_id,
        email=row.email,
        first_name=row.first_name,
        last_name=row.last_name,
        accepts_marketing=row.accepts_marketing,
        consent_updated_at=row.consent_updated_at,
        tags=tuple(row.tags) if row.tags is not None else None,
        mean_days_between_orders=row.mean_days_between_orders,
        last_engaged_at=row.last_engaged_at,
        timezone=row.timezone,
        created_at=row.created_at,
        updated_at=row.updated_at,
        **orders,
    )


def customer_timezone(batch: Batch, shop_id: int, external_id: str) -> str | None:
    """The customer's own timezone, if the store has told it (their row, read once per
    transaction, as ``load_customer`` reads it)."""
    row = by_key(batch, CustomerRow, shop_id, "external_id", external_id)
    return row.timezone if row is not None else None


def load_checkout(
    batch: Batch, shop_id: int, token: str, with_items: bool = True
) -> Checkout | None:
    """A checkout's facts; without its line items when the caller reads none of them."""
    row = by_key(batch, CheckoutRow, shop_id, "token", token)
    return checkout_fact(row, with_items) if row is not None else None


def checkout_fact(row: CheckoutRow | Row[Any], with_items: bool = True) -> Checkout:
    """A checkout's facts, from its object or a row of its table's columns."""
    return Checkout(
        token=row.token,
        customer_id=row.customer_external_id,
        email=row.email,
        value=row.value,
        currency=row.currency,
        items=line_items(row.items) if with_items else (),
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
        items=line_items(row.items) if with_items else (),
        created_at=row.created_at,
        updated_at=row.updated_at,
        fulfilled_at=row.fulfilled_at,
        cancelled_at=row.cancelled_at,
        refunded=row.refunded,
        financial_status=row.financial_status,
        accepts_marketing=row.accepts_marketing,
    )


def load_order(
    batch: Batch, shop_id: int, external_id: str, with_items: bool = True
) -> Order | None:
    """An order's facts; without its line items when the caller reads none of them."""
    row = by_key(batch, OrderRow, shop_id, "external_id", external_id)
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


def guest_key(email: str) -> str:
    """The customer key of a buyer known only by email (a guest checkout)."""
    return GUEST_PREFIX + normal_email(email)


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
            any_time = latest(any_time, row.created_at)
            if row.workflow == workflow:
                workflow_time = latest(workflow_time, row.created_at)
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
