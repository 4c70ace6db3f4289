"""Enrollment: an applied event starts episodes, moves the steps of running ones, and ends
those it exits (``plugin.pipeline.exits``); sweeps start the time-triggered ones
(``plugin.pipeline.sweeps``).

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
from typing import Any, cast

from sqlalchemy import Table, bindparam, update

from plugin.pipeline import refusals
from plugin.pipeline.exits import (
    ATTRIBUTION,
    attribute_order,
    end_episode,
    event_customer_keys,
    exit_episodes,
)
from plugin.pipeline.offers import end_overlapping
from plugin.shop_settings.policies import send_window_opens, settings_for_reading
from plugin.shop_settings.workflows import ShopWorkflow, batch_workflows
from plugin.storage import batch_episodes, facts_store
from plugin.storage.batch import Batch
from plugin.storage.facts_store import guest_key
from plugin.storage.models import Episode, Shop, Step
from rules import events as ev
from rules.definitions import Workflow
from rules.events import Event
from rules.scheduling import customer_delay, in_holdout, step_due_at
from rules.variables import TOPIC_TAG


@dataclass(frozen=True)
class Subject:
    """What an episode is about, and the moments its step delays count from."""

    key: str
    customer_key: str
    anchors: dict[str, datetime]
    activity_at: datetime


def on_event(batch: Batch, shop: Shop, event: Event, now: datetime) -> list[Episode]:
    """React to one applied event: end episodes it exits, move anchors, enroll. Return new episodes."""
    workflows = batch_workflows(batch, shop.id)
    attribute_order(batch, shop, event, now)
    exit_episodes(batch, shop, event, workflows, now)
    _reanchor_active(batch, shop, event, workflows, now)
    started = []
    for one in (event, *derived_events(batch, shop, event, workflows, now)):
        for shop_workflow in _triggered(workflows, one, enabled=False):
            # a trigger that came while its workflow was off: explain says so
            subject = _subject_for(batch, shop.id, shop_workflow.workflow, one, now)
            if subject is not None:
                _note_refusal(batch, shop, shop_workflow, subject, refusals.WORKFLOW_OFF, one, now)
        for shop_workflow in _triggered(workflows, one):
            subject = _subject_for(batch, shop.id, shop_workflow.workflow, one, now)
            if subject is None:
                continue
            episode = enroll(batch, shop, shop_workflow, subject, now, trigger=one)
            if episode is not None:
                started.append(episode)
    return started


def _note_refusal(
    batch: Batch,
    shop: Shop,
    shop_workflow: ShopWorkflow,
    subject: Subject,
    reason: str,
    trigger: Event,
    now: datetime,
) -> None:
    refusals.note(
        batch,
        shop.id,
        shop_workflow.name,
        subject.customer_key,
        reason,
        subject.key,
        trigger.kind,
        subject.activity_at,
        now,
    )


def prefetch(batch: Batch, shop_id: int, events: Iterable[Event], now: datetime) -> None:
    """Read at once the episodes a batch of events will look up (plugin.storage.batch_episodes):
    by the customers they name, by the subjects they are or complete, and those an order
    may be credited to (see attribute_order); and the steps its events will move."""
    customers: set[str] = set()
    subjects: set[str] = set()
    moving: set[str] = set()  # subjects whose episodes' steps an event moves
    ordered = []
    for event in events:
        if event.kind == ev.ORDER_PLACED and event.order is not None:
            ordered.append(event.order.created_at or now)
        customers |= event_customer_keys(event)
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


def _triggered(
    workflows: dict[str, ShopWorkflow], event: Event, enabled: bool = True
) -> list[ShopWorkflow]:
    """The enabled workflows this event triggers (with ``enabled=False``: the disabled
    ones it would have).

    A topic signup triggers the series of its own topic; only a topic with no series of
    its own falls to the workflows whose trigger topic is '*'.
    """
    matching = [
        sw
        for sw in workflows.values()
        if sw.enabled is enabled and sw.workflow.trigger.event == event.kind
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
    batch: Batch, shop: Shop, event: Event, workflows: dict[str, ShopWorkflow], now: datetime
) -> list[Event]:
    """Events that only exist as a reading of the merged facts: a customer who now holds
    marketing consent (customer_subscribed), and ``topic:<name>`` tags (topic_signup).

    Each is looked for only when a workflow listens for it, so shops without those
    workflows pay nothing. A customer who now says no to marketing is noted as
    refused by the workflows that wait for a subscription (plugin.pipeline.refusals).
    """
    # a workflow that is off listens too: the trigger it missed is noted (see on_event)
    listening = {sw.workflow.trigger.event for sw in workflows.values()}
    customer_id = event.customer.id if event.customer is not None else None
    if customer_id is None:
        return []
    derived: list[Event] = []
    if ev.CUSTOMER_SUBSCRIBED in listening and _may_subscribe(event):
        merged = facts_store.load_customer(batch, shop.id, customer_id)
        if merged is not None and merged.accepts_marketing is False:
            for sw in workflows.values():
                if sw.enabled and sw.workflow.trigger.event == ev.CUSTOMER_SUBSCRIBED:
                    refusals.note(
                        batch,
                        shop.id,
                        sw.name,
                        customer_id,
                        refusals.NO_CONSENT,
                        customer_id,
                        event.kind,
                        event.occurred_at,
                        now,
                    )
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
    batch: Batch,
    shop: Shop,
    shop_workflow: ShopWorkflow,
    subject: Subject,
    now: datetime,
    trigger: Event | None = None,
) -> Episode | None:
    """Start an episode and schedule its steps, unless one is running or re-entry is too soon.

    A refusal for a ``trigger`` event is noted (plugin.pipeline.refusals), except the
    usual one of more activity on a subject already enrolled: a sweep's are not, as a
    sweep finds the same customers on every pass.
    """
    workflow = shop_workflow.workflow
    reason = refusal(batch, shop, workflow, subject, now)
    if reason is not None:
        if trigger is not None and reason != refusals.ALREADY_ENROLLED:
            _note_refusal(batch, shop, shop_workflow, subject, reason, trigger, now)
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
    end_overlapping(batch, episode, settings_for_reading(batch, shop), now)
    return episode


def refusal(
    batch: Batch, shop: Shop, workflow: Workflow, subject: Subject, now: datetime
) -> str | None:
    """Why the subject may not be enrolled now (a plugin.pipeline.refusals reason), or None."""
    max_age = workflow.trigger.max_age_hours
    if max_age is not None and now - subject.activity_at > timedelta(hours=max_age):
        return refusals.STALE_EVENT  # already stale on arrival: e.g. a checkout abandoned weeks ago
    latest = batch_episodes.newest(batch, shop.id, workflow.name, subject.key)
    if latest is None:
        return None
    if latest.state == "active":
        return refusals.ALREADY_ENROLLED
    if workflow.reenroll_after_days is None:
        return refusals.ENROLLED_BEFORE
    if now - latest.enrolled_at < timedelta(days=workflow.reenroll_after_days):
        return refusals.REENROLL_WINDOW
    return None


def _due_times(
    workflow: Workflow, customer_key: str, anchors: dict[str, datetime], now: datetime
) -> list[datetime]:
    """Each step's due time, after the customer's variant's delay in an A/B test of it; an
    anchor not known yet counts from enrollment."""
    moments = {"enrollment": now, **anchors}
    result = []
    for step in workflow.steps:
        delay, _variant = customer_delay(workflow.name, step, customer_key)
        due = step_due_at(delay, _with_fallback(moments, delay.from_, now))
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
    due_times = _due_times(workflow, customer_key, anchors, enrolled_at)
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
        moment = order.fulfilled_at if event.kind == ev.ORDER_FULFILLED else order.created_at
        return Subject(
            key=order.id,
            customer_key=order.customer_id or guest_key(order.email or ""),
            anchors=anchors,
            activity_at=moment or now,
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
        workflow = shop_workflow.workflow
        # by step id: the definition may have been edited since the episode's steps were
        # written (a step moved, removed or added); a step no longer in it keeps its time
        # (and is skipped when due), one added since is not the episode's
        due_times = dict(
            zip(
                (step.id for step in workflow.steps),
                _scheduled_times(
                    batch,
                    shop,
                    workflow,
                    episode.customer_external_id,
                    subject.anchors,
                    episode.enrolled_at,
                    now,
                ),
                strict=True,
            )
        )
        steps = batch_episodes.steps_of(batch, episode)
        if steps is not None:  # enrolled in this transaction: written with it
            for step in steps:
                if step.state == "pending" and step.step_id in due_times:
                    step.due_at = due_times[step.step_id]  # none deferred yet
            continue
        # in the database: moved there at once, in one executemany (as plain rows, not
        # Step objects loaded into the session and flushed)
        moved = []
        for stored in batch_episodes.movable_steps(batch, episode):
            due_at = due_times.get(stored.step_id)
            if due_at is not None and due_at != stored.due_at:
                stored.due_at = due_at  # as the batch's next move reads it
                moved.append({"_id": stored.id, "due_at": stored.due_at})
        if moved:
            batch.session.connection().execute(UPDATE_STEPS, moved)


# Steps by id ("_id"), in an executemany whose rows name the columns to set (the same for
# every row): here the moved due times, and the due-step stage's decisions.
_STEPS = cast(Table, Step.__table__)
UPDATE_STEPS = update(_STEPS).where(_STEPS.c.id == bindparam("_id"))
