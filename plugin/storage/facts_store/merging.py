"""Merge normalized events into customers, checkouts and orders, the catalog's products,
engagement and suppressions.

Deliveries repeat and arrive out of order, so merging converges: per row the newest
``updated_at`` wins, an older delivery only fills fields still unknown, ``None`` never
overwrites a value, and monotonic facts (completed, cancelled, refunded) never go back.
A product delivery describes the whole product, so the newest one replaces what it says
(an emptied type or image included); a deletion stands against any delivery older than it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select, update

from plugin.storage import fact_rows
from plugin.storage.batch import Batch
from plugin.storage.facts_store.batch_rows import (
    ORDERS_BY_TOKENS,
    by_key,
    get_or_add,
    held_orders,
    prefetch_standing_orders,
    remembered_order,
    rows_of,
)
from plugin.storage.facts_store.reading import latest
from plugin.storage.models import (
    CheckoutRow,
    CustomerRow,
    EngagementRow,
    OrderRow,
    ProductRow,
    Suppression,
)
from rules import events as ev
from rules.events import Event
from rules.facts import Checkout, Customer, LineItem, Order, Product, ProductVariant
from rules.sweep_eligibility import mean_days_between

SUPPRESS_ALL = frozenset({"bounce", "dropped", "spamreport"})


def _newer(incoming: datetime | None, stored: datetime | None) -> bool:
    return incoming is None or stored is None or incoming >= stored


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
        tags: Any = (event.data or {}).get("tags") or []
        _change_tags(batch, shop_id, event.customer.id, tags, kind)
    elif kind == ev.CHECKOUT_UPDATED:
        assert event.checkout is not None
        _merge_checkout(batch, shop_id, event.checkout)
    elif kind in (ev.ORDER_PLACED, ev.ORDER_UPDATED, ev.ORDER_FULFILLED, ev.ORDER_CANCELLED):
        assert event.order is not None
        _merge_order(batch, shop_id, event.order)
    elif kind in ev.CATALOG_KINDS:
        assert event.product is not None
        _merge_product(batch, shop_id, event.product, event.occurred_at)
    elif kind == ev.EMAIL_ENGAGED:
        _record_engagement(batch, shop_id, event)
    elif kind == ev.EMAIL_DELIVERED:
        _record_engagement(batch, shop_id, event, engaged=False)
    elif kind == ev.EMAIL_SUPPRESSED:
        # kept as the message's event too (explain shows a message "bounced"), and as a
        # suppression of the address
        _record_engagement(batch, shop_id, event, engaged=False)
        _record_suppression(batch, shop_id, event)


# --- customers --------------------------------------------------------------------------


def _customer_row(batch: Batch, shop_id: int, external_id: str) -> fact_rows.FactRecord:
    row: fact_rows.FactRecord = get_or_add(batch, CustomerRow, shop_id, "external_id", external_id)
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
    row.updated_at = latest(row.updated_at, fact.updated_at)
    row.last_activity_at = latest(row.created_at, row.last_order_at, row.last_engaged_at)


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
    memo = rows_of(batch, "OrderRow", shop_id)
    held = held_orders(batch, shop_id)
    prefetch_standing_orders(batch, shop_id, {external_id})  # unless the batch did
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
    mean = mean_days_between(first, last, count) if first and last else None
    if mean is not None and last is not None:  # the backtest's replayed sweep reads it too
        row.mean_days_between_orders = mean
        row.expected_reorder_at = last + timedelta(days=mean)
    else:
        row.mean_days_between_orders = row.expected_reorder_at = None
    row.last_activity_at = latest(row.created_at, row.last_order_at, row.last_engaged_at)


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


def _merge_checkout(batch: Batch, shop_id: int, fact: Checkout) -> None:
    row = get_or_add(
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
    row.updated_at = latest(row.updated_at, fact.updated_at)
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
    then in the database without flushing first, the tokens checked as the batch holds
    them: a flush per checkout event was most of a checkout's merge.
    """
    held = held_orders(batch, shop_id)
    # prefetched for the batch: every stored order with this token is among those held
    prefetched = (shop_id, token) in batch.order_tokens_read
    for column, statement in ORDERS_BY_TOKENS:  # two indexed lookups
        for row in held:
            if getattr(row, column) == token:
                return row
        if prefetched:
            continue
        with batch.session.no_autoflush:
            for found in batch.session.execute(statement, {"shop": shop_id, "tokens": [token]}):
                if getattr(found, column) == token:
                    return remembered_order(batch, shop_id, found)
    return None


def _merge_order(batch: Batch, shop_id: int, fact: Order) -> None:
    row = get_or_add(batch, OrderRow, shop_id, "external_id", fact.id, items=[], refunded=False)
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
            "accepts_marketing": fact.accepts_marketing,
            "created_at": fact.created_at,
        }
        _merge_fields(row, fields, newer)
        if newer or not row.items:
            row.value, row.items = fact.value, _items_json(fact.items)
        row.refunded = bool(row.refunded) or fact.refunded
    row.fulfilled_at = latest(row.fulfilled_at, fact.fulfilled_at)
    row.cancelled_at = row.cancelled_at or fact.cancelled_at
    row.updated_at = latest(row.updated_at, fact.updated_at)
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
        checkout = by_key(batch, CheckoutRow, shop_id, "token", token)
        if checkout is not None and checkout.completed_at is None:
            checkout.completed_at = order.created_at
            checkout.order_external_id = order.external_id


# --- the catalog ----------------------------------------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def variants_json(variants: tuple[ProductVariant, ...]) -> list[dict[str, Any]]:
    return [
        {
            "id": v.id,
            "title": v.title,
            "sku": v.sku,
            "price": None if v.price is None else str(v.price),
            "compare_at_price": None if v.compare_at_price is None else str(v.compare_at_price),
            "available": v.available,
        }
        for v in variants
    ]


def _merge_product(batch: Batch, shop_id: int, fact: Product, at: datetime | None) -> None:
    row = get_or_add(batch, ProductRow, shop_id, "product_id", fact.id, variants=[])
    if fact.deleted:
        # undated (never from the inbox, which dates every event): as of what is known
        row.deleted_at = row.deleted_at or at or row.updated_at or EPOCH
        return
    described = {
        "title": fact.title,
        "handle": fact.handle,
        "product_type": fact.product_type,
        "vendor": fact.vendor,
        "tags": list(fact.tags) if fact.tags is not None else None,
        "image_url": fact.image_url,
        "price": fact.price,
        "compare_at_price": fact.compare_at_price,
        "available": fact.available,
        "status": fact.status,
        "variants": variants_json(fact.variants),
    }
    said_only = {  # what a delivery may leave out (webhooks carry neither)
        "url": fact.url,
        "collections": list(fact.collections) if fact.collections is not None else None,
        "created_at": fact.created_at,
    }
    if _newer(fact.updated_at, row.updated_at):
        for name, value in described.items():
            setattr(row, name, value)
        _merge_fields(row, said_only, newer=True)
    else:
        _merge_fields(row, {**described, **said_only}, newer=False)
        if not row.variants and fact.variants:
            row.variants = described["variants"]
    row.updated_at = latest(row.updated_at, fact.updated_at)
    deleted = row.deleted_at
    if deleted is not None and fact.updated_at is not None and fact.updated_at > deleted:
        row.deleted_at = None  # changed after its deletion: restored (WooCommerce's trash)


# --- engagement and suppression ------------------------------------------------------------


def _record_engagement(batch: Batch, shop_id: int, event: Event, engaged: bool = True) -> None:
    """Keep an email event once per event id; an open or click makes its customer active."""
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
            message_id=int(str(message_id)) if str(message_id or "").isdigit() else None,
            occurred_at=engagement.occurred_at,
            url=engagement.url,
        )
    )
    if not engaged:
        return
    customers = batch.session.scalars(_CUSTOMERS_BY_EMAIL, {"shop": shop_id, "email": email}).all()
    for external_id in customers:
        row = _customer_row(batch, shop_id, external_id)
        row.last_engaged_at = latest(row.last_engaged_at, engagement.occurred_at)
        row.last_activity_at = latest(row.last_activity_at, engagement.occurred_at)


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
        for row in rows_of(batch, CustomerRow.__name__, shop_id).values():
            if isinstance(row, fact_rows.FactRecord) and row.email == email:
                fact_rows.refresh(row, **values)
