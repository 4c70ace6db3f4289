"""Enrollment: events and sweeps start episodes, exit events end them.

An episode is one customer going through one workflow for one subject (a checkout token,
an order id or a customer id). Its steps get a ``due_at`` here, a marketing email's inside
the customer's send window; whether they send is decided later, when due, on the facts as
they are then (plugin.pipeline.due_steps).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from plugin.shop_settings.policies import send_window_opens, settings_for_reading
from plugin.shop_settings.workflows import ShopWorkflow, batch_workflows
from plugin.storage import batch_episodes, browsing, facts_store
from plugin.storage.batch import Batch
from plugin.storage.models import CustomerRow, Episode, OrderRow, Shop, Step
from rules import events as ev
from rules.definitions import Workflow
from rules.events import Event
from rules.scheduling import in_holdout, step_due_at
from rules.variables import TOPIC_TAG


@dataclass(frozen=True)
class Subject:
    """What an episode is about, and the moments its step delays count from."""

    key: str
    customer_key: str
    anchors: dict[str, datetime]
    activity_at: datetime


def guest_key(email: str) -> str:
    """Customer key for a buyer known only by email (a guest checkout)."""
    return "email:" + email.strip().lower()


def on_event(batch: Batch, shop: Shop, event: Event, now: datetime) -> list[Episode]:
    """React to one applied event: end episodes it exits, move anchors, enroll. Return new episodes."""
    workflows = batch_workflows(batch, shop.id)
    _attribute_order(batch, shop, event, now)
    _exit_episodes(batch, shop, event, workflows, now)
    _reanchor_active(batch, shop, event, workflows, now)
    started = []
    for one in (event, *derived_events(batch, shop, event, workflows)):
        for shop_workflow in _triggered(workflows, one):
            subject = _subject_for(batch, shop.id, shop_workflow.workflow, one, now)
            if subject is None:
                continue
            episode = enroll(batch, shop, shop_workflow, subject, now)
            if episode is not None:
                started.append(episode)
    return started


def prefetch(batch: Batch, shop_id: int, events: Iterable[Event], now: datetime) -> None:
    """Read at once the episodes a batch of events will look up (plugin.storage.batch_episodes):
    by the customers they name, by the subjects they are or complete, and those an order
    may be credited to (see _attribute_order); and the steps its events will move."""
    customers: set[str] = set()
    subjects: set[str] = set()
    moving: set[str] = set()  # subjects whose episodes' steps an event moves
    ordered = []
    for event in events:
        if event.kind == ev.ORDER_PLACED and event.order is not None:
            ordered.append(event.order.created_at or now)
        customers |= _event_customer_keys(event)
        if event.customer is not None:
            subjects.add(event.customer.id)
        if event.checkout is not None:
            subjects.add(event.checkout.token)
        if event.order is not None:
            subjects.update(
                key
                for key in (event.order.id, event.order.checkout_token, event.order.cart_token)
                if key
            )
        if (moved := _moved_subject(event)) is not None:
            moving.add(moved)
    window = (min(ordered) - ATTRIBUTION, max(ordered)) if ordered else None
    batch_episodes.prefetch(batch, shop_id, customers, subjects, window, moving)


def _triggered(workflows: dict[str, ShopWorkflow], event: Event) -> list[ShopWorkflow]:
    """The enabled workflows this event triggers.

    A topic signup triggers the series of its own topic; only a topic with no series of
    its own falls to the workflows whose trigger topic is '*'.
    """
    matching = [
        sw for sw in workflows.values() if sw.enabled and sw.workflow.trigger.event == event.kind
    ]
    if event.kind != ev.TOPIC_SIGNUP:
        return matching
    topic = str((event.data or {}).get("topic") or "")
    own = [sw for sw in matching if sw.workflow.trigger.params.get("topic") == topic]
    return own or [sw for sw in matching if sw.workflow.trigger.params.get("topic") == "*"]


def normalize_topic(raw: object) -> str | None:
    """A topic name as workflows spell it ('Skin Care' -> 'skin-care'), None if unusable."""
    if not isinstance(raw, str):
        return None
    topic = re.sub(r"[^a-z0-9_-]+", "-", raw.strip().lower()).strip("-_")[:40]
    return topic or None


def derived_events(
    batch: Batch, shop: Shop, event: Event, workflows: dict[str, ShopWorkflow]
) -> list[Event]:
    """Events that only exist as a reading of the merged facts: a customer who now holds
    marketing consent (customer_subscribed), and ``topic:<name>`` tags (topic_signup).

    Each is looked for only when an enabled workflow listens for it, so shops without
    those workflows pay nothing.
    """
    listening = {sw.workflow.trigger.event for sw in workflows.values() if sw.enabled}
    customer_id = event.customer.id if event.customer is not None else None
    if customer_id is None:
        return []
    derived: list[Event] = []
    if ev.CUSTOMER_SUBSCRIBED in listening and _may_subscribe(event):
        merged = facts_store.load_customer(batch, shop.id, customer_id)
        if merged is not None and merged.accepts_marketing is True and merged.email:
            # the consent's own time: a customer imported or merged with an old consent is
            # stale on arrival (max_age_hours) and never welcomed as new
            moment = merged.consent_updated_at or merged.created_at or event.occurred_at
            derived.append(Event(ev.CUSTOMER_SUBSCRIBED, occurred_at=moment, customer=merged))
    if ev.TOPIC_SIGNUP in listening:
        tags: list[object] = []
        if event.kind == ev.TAGS_ADDED:
            tags = list((event.data or {}).get("tags") or [])  # type: ignore[call-overload]
        elif event.kind == ev.CUSTOMER_UPSERTED and event.customer is not None:
            tags = list(event.customer.tags or ())
        for tag in tags:
            if isinstance(tag, str) and tag.lower().startswith(TOPIC_TAG):
                topic = normalize_topic(tag[len(TOPIC_TAG) :])
                if topic:
                    derived.append(
                        Event(
                            ev.TOPIC_SIGNUP,
                            occurred_at=event.occurred_at,
                            customer=event.customer,
                            data={"topic": topic},
                        )
                    )
    return derived


def _may_subscribe(event: Event) -> bool:
    if event.kind in (ev.CUSTOMER_CREATED, ev.CONSENT_CHANGED):
        return True
    # older API versions carry consent on the customer itself
    return (
        event.kind == ev.CUSTOMER_UPSERTED
        and event.customer is not None
        and event.customer.accepts_marketing is True
    )


def topic_subject(topic: str, customer_key: str) -> str:
    """The episode subject of a topic series: one per customer and topic."""
    return f"topic:{topic}:{customer_key}"


def enroll(
    batch: Batch, shop: Shop, shop_workflow: ShopWorkflow, subject: Subject, now: datetime
) -> Episode | None:
    """Start an episode and schedule its steps, unless one is running or re-entry is too soon."""
    workflow = shop_workflow.workflow
    max_age = workflow.trigger.max_age_hours
    if max_age is not None and now - subject.activity_at > timedelta(hours=max_age):
        return None  # already stale on arrival: e.g. a checkout abandoned weeks ago
    latest = batch_episodes.newest(batch, shop.id, workflow.name, subject.key)
    if latest is not None:
        if latest.state == "active":
            return None
        if workflow.reenroll_after_days is None:
            return None
        if now - latest.enrolled_at < timedelta(days=workflow.reenroll_after_days):
            return None
    episode = Episode(
        shop_id=shop.id,
        workflow=workflow.name,
        workflow_version=shop_workflow.version,
        subject=subject.key,
        customer_external_id=subject.customer_key,
        state="active",
        holdout=in_holdout(subject.customer_key, workflow.name, workflow.holdout_percent),
        enrolled_at=now,
        anchor_at=subject.activity_at,
    )
    steps = [
        batch_episodes.NewStep(shop.id, workflow.steps[position].id, position, due_at)
        for position, due_at in enumerate(
            _scheduled_times(batch, shop, workflow, subject.customer_key, subject.anchors, now, now)
        )
    ]
    batch.session.add(episode)
    batch_episodes.add(batch, episode, steps)  # both written by the transaction's next flush
    return episode


def _due_times(workflow: Workflow, anchors: dict[str, datetime], now: datetime) -> list[datetime]:
    """Each step's due time; an anchor not known yet counts from enrollment."""
    moments = {"enrollment": now, **anchors}
    result = []
    for step in workflow.steps:
        due = step_due_at(step.delay, _with_fallback(moments, step.delay.from_, now))
        result.append(due)
        moments["previous_step"] = due
    return result


def _scheduled_times(
    batch: Batch,
    shop: Shop,
    workflow: Workflow,
    customer_key: str,
    anchors: dict[str, datetime],
    enrolled_at: datetime,
    now: datetime,
) -> list[datetime]:
    """Each step's due time, a marketing email's moved into the send window in the
    customer's timezone: the step falls due when it may send, instead of being claimed at
    night only to be put back until morning (in a replayed store, a large share of the
    decisions were such deferrals). When it falls due the window is checked again, on the
    settings as they are then. The next step still counts from the previous one's own due
    time, not from when the window let it send."""
    due_times = _due_times(workflow, anchors, enrolled_at)
    emails = [workflow.sends_marketing_email(step) for step in workflow.steps]
    if not any(emails):
        return due_times
    settings = settings_for_reading(batch, shop)
    timezone = facts_store.customer_timezone(batch, shop.id, customer_key)
    return [
        _in_window(settings, timezone, due, now) if email else due
        for email, due in zip(emails, due_times, strict=True)
    ]


def _in_window(
    settings: dict[str, Any], timezone: str | None, due: datetime, now: datetime
) -> datetime:
    """When a step due at ``due`` may send. One already due (its moment passed before its
    delivery was processed) is decided at the next pass, so it is held to the window as of
    ``now``: moved to the window's opening if ``now`` is outside it, else left at its past
    moment, so that steps overdue together are still decided oldest first."""
    decided_at = max(due, now)
    opens = send_window_opens(settings, timezone, decided_at)
    return opens if opens > decided_at else due


def _with_fallback(moments: dict[str, datetime], name: str, now: datetime) -> dict[str, datetime]:
    if name in moments:
        return moments
    return {**moments, name: moments.get("enrollment", now)}


def _subject_for(
    batch: Batch, shop_id: int, workflow: Workflow, event: Event, now: datetime
) -> Subject | None:
    """Find what the event is about, from the merged facts (not the partial delivery).
    Read without line items: what a subject is and when does not depend on them, and
    they were decoded for every checkout and order event."""
    kind = workflow.trigger.subject
    if kind == "checkout" and event.checkout is not None:
        checkout = facts_store.load_checkout(batch, shop_id, event.checkout.token, with_items=False)
        if checkout is None or checkout.completed_at is not None or not checkout.email:
            return None
        activity = checkout.updated_at or checkout.created_at or now
        customer = checkout.customer_id or facts_store.find_customer_by_email(
            batch.session, shop_id, checkout.email
        )
        return Subject(
            key=checkout.token,
            customer_key=customer or guest_key(checkout.email),
            anchors={"checkout_activity": activity},
            activity_at=activity,
        )
    if kind == "order" and event.order is not None:
        order = facts_store.load_order(batch, shop_id, event.order.id, with_items=False)
        if order is None or not (order.customer_id or order.email):
            return None
        anchors = {"order_created": order.created_at or now}
        if order.fulfilled_at is not None:
            anchors["fulfillment"] = order.fulfilled_at
        activity = order.fulfilled_at if event.kind == ev.ORDER_FULFILLED else order.created_at
        return Subject(
            key=order.id,
            customer_key=order.customer_id or guest_key(order.email or ""),
            anchors=anchors,
            activity_at=activity or now,
        )
    if kind == "customer" and event.kind == ev.TOPIC_SIGNUP and event.customer is not None:
        topic = str((event.data or {}).get("topic") or "")
        return Subject(
            key=topic_subject(topic, event.customer.id),
            customer_key=event.customer.id,
            anchors={},
            activity_at=event.occurred_at or now,
        )
    if kind == "customer" and event.customer is not None:
        return Subject(
            key=event.customer.id,
            customer_key=event.customer.id,
            anchors={},
            activity_at=event.occurred_at or now,
        )
    return None


def _event_customer_keys(event: Event) -> set[str]:
    keys: set[str] = set()
    for fact in (event.customer, event.order, event.checkout):
        if fact is None:
            continue
        customer_id = fact.id if fact is event.customer else getattr(fact, "customer_id", None)
        if customer_id:
            keys.add(str(customer_id))
        email = getattr(fact, "email", None)
        if email:
            keys.add(guest_key(email))
    if event.engagement is not None:
        keys.add(guest_key(event.engagement.email))
    return keys


def _exit_episodes(
    batch: Batch, shop: Shop, event: Event, workflows: dict[str, ShopWorkflow], now: datetime
) -> None:
    """End the active episodes this event exits (e.g. an order ends cart abandonment)."""
    names = [name for name, sw in workflows.items() if event.kind in sw.workflow.exit_on]
    if not names:
        return
    keys = _event_customer_keys(event)
    if event.engagement is not None:
        customer = facts_store.find_customer_by_email(
            batch.session, shop.id, event.engagement.email
        )
        if customer:
            keys.add(customer)
    subjects = set()
    if event.order is not None:
        subjects.update(t for t in (event.order.checkout_token, event.order.cart_token) if t)
    own_subject = event.order.id if event.order is not None else None
    # Two indexed lookups (by customer, by subject) rather than one OR that scans.
    found = dict.fromkeys(batch_episodes.active_of_customers(batch, shop.id, keys, names))
    found.update(dict.fromkeys(batch_episodes.active_of_subjects(batch, shop.id, subjects, names)))
    for episode in found:
        if episode.state != "active" or (
            own_subject is not None and episode.subject == own_subject
        ):
            continue
        end_episode(batch, episode, "exited", f"exit: {event.kind}", now)


ATTRIBUTION = timedelta(days=7)


def _attribute_order(batch: Batch, shop: Shop, event: Event, now: datetime) -> None:
    """Credit an order to the episodes that messaged this customer in the week before it.

    Holdout decisions count too, so converted holdouts measure the lift. Single-step
    workflows (upsell) are complete by the time the order comes, so this looks past state.
    """
    if event.kind != ev.ORDER_PLACED or event.order is None:
        return
    keys = _event_customer_keys(event)
    ordered_at = event.order.created_at or now
    for episode in batch_episodes.touched_before_order(
        batch, shop.id, keys, event.order.id, ordered_at - ATTRIBUTION, ordered_at
    ):
        if episode.converted_at is None:
            episode.converted_at = ordered_at


def end_episode(batch: Batch, episode: Episode, state: str, reason: str, now: datetime) -> None:
    """Close an episode and cancel whatever it still had pending (held back in the batch:
    plugin.storage.batch_episodes.cancel_steps)."""
    episode.state = state
    episode.exit_reason = reason
    episode.ended_at = now
    batch_episodes.cancel_steps(batch, episode, reason, now)


def _moved_subject(event: Event) -> str | None:
    """The subject whose episodes' steps this event moves (more cart activity, a
    fulfilment), if any."""
    if event.kind == ev.CHECKOUT_UPDATED and event.checkout is not None:
        return event.checkout.token
    if event.kind in (ev.ORDER_FULFILLED, ev.ORDER_UPDATED) and event.order is not None:
        return event.order.id
    return None


def _reanchor_active(
    batch: Batch, shop: Shop, event: Event, workflows: dict[str, ShopWorkflow], now: datetime
) -> None:
    """Move pending steps when their anchor moves (more cart activity, a fulfilment)."""
    subject_key = _moved_subject(event)
    if subject_key is None:
        return
    for episode in batch_episodes.active_of_subjects(batch, shop.id, (subject_key,), None):
        shop_workflow = workflows.get(episode.workflow)
        if shop_workflow is None or episode.state != "active":
            continue
        subject = _subject_for(batch, shop.id, shop_workflow.workflow, event, now)
        if subject is None:
            if event.kind == ev.CHECKOUT_UPDATED:
                end_episode(batch, episode, "exited", "exit: checkout completed", now)
            continue
        episode.anchor_at = subject.activity_at
        due_times = _scheduled_times(
            batch,
            shop,
            shop_workflow.workflow,
            episode.customer_external_id,
            subject.anchors,
            episode.enrolled_at,
            now,
        )
        steps = batch_episodes.steps_of(batch, episode)
        if steps is not None:  # enrolled in this transaction: written with it
            for step in steps:
                if step.state == "pending" and step.position < len(due_times):
                    step.due_at = due_times[step.position]  # none deferred yet
            continue
        # in the database: moved there at once, in one executemany (as plain rows, not
        # Step objects loaded into the session and flushed)
        moved = []
        for step in batch_episodes.movable_steps(batch, episode):
            if step.position < len(due_times) and due_times[step.position] != step.due_at:
                step.due_at = due_times[step.position]  # as the batch's next move reads it
                moved.append({"_id": step.id, "due_at": step.due_at})
        if moved:
            batch.session.connection().execute(UPDATE_STEPS, moved)


# Steps by id ("_id"), in an executemany whose rows name the columns to set (the same for
# every row): here the moved due times, and the due-step stage's decisions.
UPDATE_STEPS = update(Step.__table__).where(Step.__table__.c.id == bindparam("_id"))


def sweep(batch: Batch, shop: Shop, now: datetime, limit: int = 10_000) -> int:
    """Enroll customers found by the time-triggered workflows' indexed queries."""
    enrolled = 0
    for shop_workflow in batch_workflows(batch, shop.id).values():
        trigger = shop_workflow.workflow.trigger
        if not shop_workflow.enabled or trigger.sweep is None:
            continue
        subjects = _sweep_subjects(batch.session, shop.id, shop_workflow.workflow, now, limit)
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


def _sweep_subjects(
    session: Session, shop_id: int, workflow: Workflow, now: datetime, limit: int
) -> list[Subject]:
    trigger = workflow.trigger
    params = trigger.params
    recent = Episode.enrolled_at > now - timedelta(days=workflow.reenroll_after_days or 36_500)
    if trigger.sweep == "inactive":
        cutoff = now - timedelta(days=float(params.get("inactive_days", 90)))
        running = exists().where(
            Episode.shop_id == shop_id,
            Episode.workflow == workflow.name,
            Episode.subject == CustomerRow.external_id,
            (Episode.state == "active") | recent,
        )
        rows = session.execute(
            select(CustomerRow.external_id, CustomerRow.last_activity_at)
            .where(
                CustomerRow.shop_id == shop_id,
                CustomerRow.last_activity_at <= cutoff,
                # lapsed customers only: people who never ordered are leads, not lapsed
                CustomerRow.last_order_at.is_not(None),
                CustomerRow.email.is_not(None),
                ~running,
            )
            .order_by(CustomerRow.last_activity_at)
            .limit(limit)
        ).all()
        return [
            Subject(key=cid, customer_key=cid, anchors={}, activity_at=last) for cid, last in rows
        ]
    if trigger.sweep == "lead":
        return _lead_subjects(session, shop_id, workflow, now, limit)
    if trigger.sweep == "high_intent":
        return _intent_subjects(session, shop_id, workflow, now, limit)
    if trigger.sweep == "reorder_due":
        lead = timedelta(days=float(params.get("lead_days", 3)))
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
                CustomerRow.expected_reorder_at <= now + lead,
                # a date long past means the cycle was missed; re-engagement takes over
                CustomerRow.expected_reorder_at > now - timedelta(days=14),
                CustomerRow.email.is_not(None),
                ~taken,
            )
            .order_by(CustomerRow.expected_reorder_at)
            .limit(limit)
        ).all()
        return [
            Subject(
                key=order_id,
                customer_key=cid,
                anchors={"expected_reorder": expected},
                activity_at=now,
            )
            for cid, expected, order_id in rows
            if order_id is not None
        ]
    return []


def _not_enrolled(shop_id: int, workflow: Workflow, now: datetime):  # type: ignore[no-untyped-def]
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
