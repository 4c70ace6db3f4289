"""Sweeps: the time-triggered workflows find whom to enroll with indexed queries (lapsed
customers, leads, a reorder falling due, high intent on the storefront), instead of waiting
for a webhook.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from plugin.pipeline.enrollment import Subject, enroll
from plugin.shop_settings.workflows import batch_workflows
from plugin.storage import batch_episodes, browsing, facts_store
from plugin.storage.batch import Batch
from plugin.storage.models import CustomerRow, Episode, OrderRow, ProductRhythmRow, Shop
from rules.definitions import Workflow
from rules.sweep_eligibility import lapsed_cutoff, reorder_window


def sweep(batch: Batch, shop: Shop, now: datetime, limit: int = 10_000) -> int:
    """Enroll customers found by the time-triggered workflows' indexed queries."""
    enrolled = 0
    for shop_workflow in batch_workflows(batch, shop.id).values():
        trigger = shop_workflow.workflow.trigger
        if not shop_workflow.enabled or trigger.sweep is None:
            continue
        subjects = sweep_subjects(batch.session, shop.id, shop_workflow.workflow, now, limit)
        # their rows at once: enrolling reads each one's timezone (_scheduled_times)
        facts_store.prefetch_keys(
            batch, shop.id, customers={subject.customer_key for subject in subjects}
        )
        # and their episodes: enrolling asks for each one's newest in the workflow
        batch_episodes.prefetch(batch, shop.id, (), [subject.key for subject in subjects])
        for subject in subjects:
            if enroll(batch, shop, shop_workflow, subject, now) is not None:
                enrolled += 1
    return enrolled


def sweep_subjects(
    session: Session, shop_id: int, workflow: Workflow, now: datetime, limit: int
) -> list[Subject]:
    """Whom a time-triggered workflow's sweep would enroll now, at most ``limit``."""
    finders = {
        "inactive": _lapsed_subjects,
        "lead": _lead_subjects,
        "high_intent": _intent_subjects,
        "reorder_due": _reorder_subjects,
    }
    find = finders.get(workflow.trigger.sweep or "")
    return find(session, shop_id, workflow, now, limit) if find is not None else []


def _lapsed_subjects(
    session: Session, shop_id: int, workflow: Workflow, now: datetime, limit: int
) -> list[Subject]:
    """Customers with no order and no engagement for ``inactive_days``."""
    cutoff = lapsed_cutoff(workflow.trigger.params, now)  # the backtest's rule too
    rows = session.execute(
        select(CustomerRow.external_id, CustomerRow.last_activity_at)
        .where(
            CustomerRow.shop_id == shop_id,
            CustomerRow.last_activity_at <= cutoff,
            # lapsed customers only: people who never ordered are leads, not lapsed
            CustomerRow.last_order_at.is_not(None),
            CustomerRow.email.is_not(None),
            _not_enrolled(shop_id, workflow, now),
        )
        .order_by(CustomerRow.last_activity_at)
        .limit(limit)
    ).all()
    # last_activity_at is never NULL here: it was compared with the cutoff
    return [
        Subject(key=cid, customer_key=cid, anchors={}, activity_at=cast(datetime, last))
        for cid, last in rows
    ]


def _reorder_subjects(
    session: Session, shop_id: int, workflow: Workflow, now: datetime, limit: int
) -> list[Subject]:
    """Customers whose expected reorder falls within ``lead_days``, each about their latest
    order (one episode per order): by the customer's own rhythm across orders, or by a
    product's, whichever is due first."""
    after, until = reorder_window(workflow.trigger.params, now)  # the backtest's rule too
    last_order = aliased(OrderRow)
    latest_order_id = (
        select(last_order.external_id)
        .where(
            last_order.shop_id == shop_id,
            last_order.customer_external_id == CustomerRow.external_id,
            last_order.cancelled_at.is_(None),
        )
        .order_by(last_order.created_at.desc())
        .limit(1)
        # correlated to the outer customers row also where it sits inside `taken`;
        # left to itself SQLAlchemy gives that copy its own FROM customers
        .correlate_except(last_order)
        .scalar_subquery()
    )
    taken = exists().where(
        Episode.shop_id == shop_id,
        Episode.workflow == workflow.name,
        Episode.subject == latest_order_id,
    )
    rows = session.execute(
        select(CustomerRow.external_id, CustomerRow.expected_reorder_at, latest_order_id)
        .where(
            CustomerRow.shop_id == shop_id,
            CustomerRow.expected_reorder_at <= until,
            # a date long past means the cycle was missed; re-engagement takes over
            CustomerRow.expected_reorder_at > after,
            CustomerRow.email.is_not(None),
            ~taken,
        )
        .order_by(CustomerRow.expected_reorder_at)
        .limit(limit)
    ).all()
    found = [(cid, expected, order_id) for cid, expected, order_id in rows if order_id is not None]
    found += _product_reorder_rows(session, shop_id, workflow, after, until, limit)
    # one reminder per customer a sweep: the product (or the whole basket) due first
    soonest: dict[str, tuple[str, datetime, str]] = {}
    for cid, expected, order_id in sorted(found, key=lambda row: row[1]):
        soonest.setdefault(cid, (cid, expected, order_id))
    return [
        Subject(
            key=order_id,
            customer_key=cid,
            anchors={"expected_reorder": expected},
            activity_at=now,
        )
        for cid, expected, order_id in list(soonest.values())[:limit]
    ]


def _product_reorder_rows(
    session: Session,
    shop_id: int,
    workflow: Workflow,
    after: datetime,
    until: datetime,
    limit: int,
) -> list[tuple[str, datetime, str]]:
    """Customers due to re-order a product at its own rhythm (plugin.storage.recommendations
    keeps them), each about the latest order of that product."""
    taken = exists().where(
        Episode.shop_id == shop_id,
        Episode.workflow == workflow.name,
        Episode.subject == ProductRhythmRow.last_order_external_id,
    )
    rows = session.execute(
        select(
            ProductRhythmRow.customer_external_id,
            ProductRhythmRow.expected_at,
            ProductRhythmRow.last_order_external_id,
        )
        .join(
            CustomerRow,
            (CustomerRow.shop_id == ProductRhythmRow.shop_id)
            & (CustomerRow.external_id == ProductRhythmRow.customer_external_id),
        )
        .where(
            ProductRhythmRow.shop_id == shop_id,
            ProductRhythmRow.expected_at <= until,
            ProductRhythmRow.expected_at > after,
            CustomerRow.email.is_not(None),
            ~taken,
        )
        .order_by(ProductRhythmRow.expected_at)
        .limit(limit)
    ).all()
    return [(cid, expected, order_id) for cid, expected, order_id in rows]


def _not_enrolled(shop_id: int, workflow: Workflow, now: datetime) -> ColumnElement[bool]:
    """No running episode of this workflow for the customer, none inside the re-entry gap."""
    recent = Episode.enrolled_at > now - timedelta(days=workflow.reenroll_after_days or 36_500)
    return ~exists().where(
        Episode.shop_id == shop_id,
        Episode.workflow == workflow.name,
        Episode.subject == CustomerRow.external_id,
        (Episode.state == "active") | recent,
    )


def _lead_subjects(
    session: Session, shop_id: int, workflow: Workflow, now: datetime, limit: int
) -> list[Subject]:
    """Subscribed contacts with no order, ``after_days`` after they subscribed (or arrived).

    Only those who subscribed within ``within_days`` before that: switching the workflow on
    must not sweep up a shop's whole list of long-standing subscribers as new leads.
    """
    after = timedelta(days=float(workflow.trigger.params.get("after_days", 7)))
    within = timedelta(days=float(workflow.trigger.params.get("within_days", 14)))
    since = func.coalesce(CustomerRow.consent_updated_at, CustomerRow.created_at)
    rows = session.execute(
        select(CustomerRow.external_id, since)
        .where(
            CustomerRow.shop_id == shop_id,
            CustomerRow.accepts_marketing.is_(True),
            CustomerRow.email.is_not(None),
            CustomerRow.unsubscribed_at.is_(None),
            CustomerRow.last_order_at.is_(None),
            or_(CustomerRow.orders_count.is_(None), CustomerRow.orders_count == 0),
            since <= now - after,
            since > now - after - within,
            _not_enrolled(shop_id, workflow, now),
        )
        .order_by(since)
        .limit(limit)
    ).all()
    return [Subject(key=cid, customer_key=cid, anchors={}, activity_at=now) for cid, _ in rows]


def _intent_subjects(
    session: Session,
    shop_id: int,
    workflow: Workflow,
    now: datetime,
    limit: int,
    only: str | None = None,
) -> list[Subject]:
    """Known customers over the high-intent thresholds, not alerted inside the window."""
    candidates = browsing.intent_customers(session, shop_id, workflow, now, limit, only)
    if not candidates:
        return []
    fresh = session.scalars(
        select(CustomerRow.external_id).where(
            CustomerRow.shop_id == shop_id,
            CustomerRow.external_id.in_(candidates),
            _not_enrolled(shop_id, workflow, now),
        )
    ).all()
    return [Subject(key=cid, customer_key=cid, anchors={}, activity_at=now) for cid in fresh]


def enroll_on_intent(batch: Batch, shop: Shop, customer_id: str, now: datetime) -> int:
    """Check one customer against the high-intent workflows at once (a page view just came in),
    rather than waiting for the next sweep."""
    enrolled = 0
    for shop_workflow in batch_workflows(batch, shop.id).values():
        workflow = shop_workflow.workflow
        if not shop_workflow.enabled or workflow.trigger.sweep != "high_intent":
            continue
        for subject in _intent_subjects(batch.session, shop.id, workflow, now, 1, only=customer_id):
            if enroll(batch, shop, shop_workflow, subject, now) is not None:
                enrolled += 1
    return enrolled
