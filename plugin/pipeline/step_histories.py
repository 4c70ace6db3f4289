"""What a due step reads of its customer's history — their orders, whether their address
is suppressed, when they were last emailed — read for a whole batch of steps at once.

One query per kind for the batch instead of one per step: these three were most of the
queries the step stage made. A reader finds its answer here when
the batch prefetched it, and asks the database as before when not (another category of
email, an address known only from the step's checkout).

The due-step stage flushes once, when its batch commits, so the database under this memo
does not change while it is used; should the session flush anyway, the memo is dropped
(``Batch.histories``) and every reader asks the database again (which then holds what the
flush wrote).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, case, event, func, select
from sqlalchemy.orm import Session

from plugin.storage import facts_store
from plugin.storage.batch import Batch
from plugin.storage.models import OrderRow, OutboxMessage, Suppression
from rules.facts import Order

ORDERS_PER_CUSTOMER = 50  # the newest, as facts_store.load_orders reads them
# the only last-email question the step stage asks (episode_facts.facts_for)
EMAIL_CATEGORY, EMAIL_WORKFLOW = "marketing", "cart_abandonment"


@dataclass
class Histories:
    orders: dict[str, tuple[Order, ...]] = field(default_factory=dict)
    # every address looked for -> the scopes it is suppressed for (often none)
    suppressions: dict[str, set[str]] = field(default_factory=dict)
    # customer -> (last marketing email, last cart-abandonment email), in the database
    last_emails: dict[str, tuple[datetime | None, datetime | None]] = field(default_factory=dict)


def prefetch(batch: Batch, shop_id: int, customers: Iterable[str]) -> None:
    """Read the histories of these customers (keys as episodes hold them; the customers'
    rows already in facts_store's memo) for the steps about to be decided."""
    keys = sorted(set(customers))
    known = [k for k in keys if not k.startswith(facts_store.GUEST_PREFIX)]
    emails = set()
    for key in keys:
        if key.startswith(facts_store.GUEST_PREFIX):
            emails.add(key[len(facts_store.GUEST_PREFIX) :])
        else:
            customer = facts_store.load_customer(batch, shop_id, key)
            if customer is not None and customer.email:
                emails.add(customer.email)
    histories = Histories()
    with batch.session.no_autoflush:
        for chunk in facts_store.chunks(known):
            orders = batch.session.execute(
                _NEWEST_ORDERS, {"shop": shop_id, "customers": chunk, "limit": ORDERS_PER_CUSTOMER}
            )
            by_customer: dict[str, list[Order]] = {key: [] for key in chunk}
            for row in orders:
                by_customer[row.customer_external_id].append(
                    facts_store.order_fact(row, with_items=False)
                )
            histories.orders.update((key, tuple(found)) for key, found in by_customer.items())
        wanted = sorted({facts_store.normal_email(e) for e in emails})
        for chunk in facts_store.chunks(wanted):
            histories.suppressions.update((email, set()) for email in chunk)
            for email, scope in batch.session.execute(
                _SUPPRESSIONS, {"shop": shop_id, "emails": chunk}
            ):
                histories.suppressions[email].add(scope)
        for chunk in facts_store.chunks(keys):
            histories.last_emails.update((key, (None, None)) for key in chunk)
            values = {
                "shop": shop_id,
                "customers": chunk,
                "category": EMAIL_CATEGORY,
                "workflow": EMAIL_WORKFLOW,
            }
            for key, any_time, workflow_time in batch.session.execute(_LAST_EMAILS, values):
                histories.last_emails[key] = (
                    facts_store.aware(any_time),
                    facts_store.aware(workflow_time),
                )
    batch.histories[shop_id] = histories


@event.listens_for(Session, "after_flush")
def _forget(session: Session, _flush_context: object) -> None:
    held = Batch.current(session)
    if held is not None:
        held.histories.clear()


def _held(batch: Batch, shop_id: int) -> Histories | None:
    held: Histories | None = batch.histories.get(shop_id)
    return held


def orders(batch: Batch, shop_id: int, customer: str) -> tuple[Order, ...]:
    """The customer's newest orders, newest first (facts_store.load_orders)."""
    histories = _held(batch, shop_id)
    if histories is not None and customer in histories.orders:
        return histories.orders[customer]
    return facts_store.load_orders(batch.session, shop_id, customer, ORDERS_PER_CUSTOMER)


def is_suppressed(batch: Batch, shop_id: int, email: str, scope: str) -> bool:
    """Whether mail of ``scope`` must not go to ``email`` (facts_store.is_suppressed)."""
    histories = _held(batch, shop_id)
    found = histories.suppressions.get(facts_store.normal_email(email)) if histories else None
    if found is None:
        return facts_store.is_suppressed(batch.session, shop_id, email, scope)
    return bool(found & set(facts_store.suppressing_scopes(scope)))


def last_email_at(
    batch: Batch, shop_id: int, customer: str, category: str, workflow: str
) -> tuple[datetime | None, datetime | None]:
    """When the customer was last emailed, at all and by ``workflow``, counting the emails
    this transaction queued (facts_store.last_email_at)."""
    histories = _held(batch, shop_id)
    stored = histories.last_emails.get(customer) if histories else None
    if stored is None or (category, workflow) != (EMAIL_CATEGORY, EMAIL_WORKFLOW):
        return facts_store.last_email_at(batch, shop_id, customer, category, workflow)
    return facts_store.with_queued_emails(batch, shop_id, customer, category, workflow, *stored)


_ranked = (
    select(
        *facts_store.HISTORY_COLUMNS,
        func.row_number()
        .over(
            partition_by=OrderRow.customer_external_id,
            order_by=(OrderRow.created_at.desc(), OrderRow.id.desc()),
        )
        .label("newness"),
    )
    .where(
        OrderRow.shop_id == bindparam("shop"),
        OrderRow.customer_external_id.in_(bindparam("customers", expanding=True)),
    )
    .subquery()
)
# Plain rows, not OrderRow objects: the step stage changes no order, so what the database
# holds is what the session would; loading them into the session was a large part of the
# stage.
# Without their line items (facts_store.HISTORY_COLUMNS).
_NEWEST_ORDERS = (
    select(_ranked)
    .where(_ranked.c.newness <= bindparam("limit"))
    .order_by(_ranked.c.customer_external_id, _ranked.c.newness)
)
_SUPPRESSIONS = select(Suppression.email, Suppression.scope).where(
    Suppression.shop_id == bindparam("shop"),
    Suppression.email.in_(bindparam("emails", expanding=True)),
)
_LAST_EMAILS = (
    select(
        OutboxMessage.customer_external_id,
        func.max(OutboxMessage.created_at),
        func.max(case((OutboxMessage.workflow == bindparam("workflow"), OutboxMessage.created_at))),
    )
    .where(
        OutboxMessage.shop_id == bindparam("shop"),
        OutboxMessage.customer_external_id.in_(bindparam("customers", expanding=True)),
        OutboxMessage.kind == "email",
        OutboxMessage.category == bindparam("category"),
        OutboxMessage.state.not_in(facts_store.NOT_SENT),
    )
    .group_by(OutboxMessage.customer_external_id)
)
