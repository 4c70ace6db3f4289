"""Explain one customer: for every workflow of the shop, whether they were enrolled or why
not, what each step decided and on which values, what became of each message, and the
orders they placed after one.

Read-only: it loads what the pipeline stored (episodes, steps, outbox, engagements, the
refusals of plugin.pipeline.refusals) and re-checks each decided step's conditions on the
stored facts to show every condition with its value (``evaluate_step``, the worker's own
evaluation). ``nudge explain`` and ``GET /api/customers/explain`` print what this returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from plugin.pipeline.episode_facts import facts_for
from plugin.pipeline.refusals import REASON_WORDS
from plugin.shop_settings.workflows import ShopWorkflow, shop_workflows
from plugin.storage import facts_store
from plugin.storage.batch import Batch
from plugin.storage.facts_store import guest_key, normal_email
from plugin.storage.models import (
    CustomerRefusal,
    CustomerRow,
    EngagementRow,
    Episode,
    OrderRow,
    OutboxMessage,
    Shop,
    Step,
    Suppression,
)
from rules.catalog import label_of
from rules.consent_history import consent_at, consent_history
from rules.evaluation import OPERATOR_WORDS, evaluate_step
from rules.evaluation import explain as explain_check
from rules.facts import Customer, FactSet
from rules.scheduling import customer_delay

EPISODES_PER_WORKFLOW = 5  # the newest of each workflow are shown
ORDERS_SHOWN = 20
# The engagements that say what became of a sent message, in the words a merchant reads
ENGAGEMENT_WORDS = {
    "delivered": "delivered",
    "open": "opened",
    "click": "clicked",
    "bounce": "bounced",
    "dropped": "dropped",
    "spamreport": "reported as spam",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
}


class CustomerUnknown(LookupError):
    """No customer, guest checkout or order of this shop has that address."""


def explain_customer(session: Session, shop: Shop, email: str, now: datetime) -> dict[str, Any]:
    """Everything the shop's workflows did, and did not do, for the customer at ``email``."""
    address = normal_email(email)
    customer_id = facts_store.find_customer_by_email(session, shop.id, address)
    keys = customer_keys(session, shop.id, address, customer_id)
    batch = Batch.of(session)
    customer = facts_store.load_customer(batch, shop.id, customer_id) if customer_id else None
    episodes = session.scalars(
        select(Episode)
        .where(Episode.shop_id == shop.id, Episode.customer_external_id.in_(keys))
        .order_by(Episode.enrolled_at.desc(), Episode.id.desc())
    ).all()
    orders = _orders(session, shop.id, keys, address)
    if customer is None and not episodes and not orders:
        raise CustomerUnknown(address)
    refused = {
        row.workflow: row
        for row in session.scalars(
            select(CustomerRefusal).where(
                CustomerRefusal.shop_id == shop.id,
                CustomerRefusal.customer_external_id.in_(keys),
            )
        )
    }
    steps = _steps_by_episode(session, [e.id for e in episodes])
    messages = _messages_by_episode(session, shop.id, [e.id for e in episodes])
    by_workflow: dict[str, list[Episode]] = {}
    for episode in episodes:
        by_workflow.setdefault(episode.workflow, []).append(episode)
    workflows = shop_workflows(session, shop.id)
    sent = [m for ms in messages.values() for m in ms if m.get("sent_at")]
    return {
        "shop": shop.domain,
        "email": address,
        "customer": _customer_json(customer, customer_id),
        "workflows": [
            _workflow_json(
                batch,
                item,
                by_workflow.get(name, []),
                steps,
                messages,
                refused.get(name),
                customer.accepts_marketing if customer else None,
                now,
            )
            for name, item in sorted(workflows.items())
        ],
        "orders": orders,
        "orders_after_messages": orders_after_messages(sent, orders),
    }


def customer_keys(
    session: Session, shop_id: int, who: str, customer_id: str | None = None
) -> list[str]:
    """The keys episodes name a customer by: their id, and their address as a guest's.

    ``who`` is an address or a customer id."""
    if "@" not in who:
        return [who]
    address = normal_email(who)
    customer_id = customer_id or facts_store.find_customer_by_email(session, shop_id, address)
    return [key for key in (customer_id, guest_key(address)) if key]


def orders_after_messages(
    messages: Sequence[dict[str, Any]], orders: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The customer's orders placed after a message of theirs was sent or kept: not an
    attribution (no window, no last touch), only the order in time. Each names the latest
    message before it."""
    found = []
    for order in orders:
        placed = order.get("created_at")
        before = [m for m in messages if placed and m["sent_at"] <= placed]
        if before:
            latest = max(before, key=lambda m: m["sent_at"])
            found.append({**order, "after_message": latest["id"], "workflow": latest["workflow"]})
    return found


def _customer_json(customer: Any, customer_id: str | None) -> dict[str, Any] | None:
    if customer is None:
        return None
    return {
        "id": customer_id,
        "first_name": customer.first_name,
        "accepts_marketing": customer.accepts_marketing,
        "orders_count": customer.orders_count,
        "created_at": _iso(customer.created_at),
    }


def _workflow_json(
    batch: Batch,
    item: ShopWorkflow,
    episodes: list[Episode],
    steps: dict[int, list[Step]],
    messages: dict[int, list[dict[str, Any]]],
    refusal: CustomerRefusal | None,
    accepts_marketing: bool | None,
    now: datetime,
) -> dict[str, Any]:
    shown = episodes[:EPISODES_PER_WORKFLOW]
    result: dict[str, Any] = {
        "workflow": item.name,
        "title": item.workflow.title,
        "enabled": item.enabled,
        "enrolled": bool(episodes),
        "episodes_total": len(episodes),
        "why_not": None,
        "latest_refusal": _refusal_json(refusal),
        "episodes": [
            _episode_json(batch, item, episode, steps.get(episode.id, []), messages, now)
            for episode in shown
        ],
    }
    if not episodes:
        result["why_not"] = _why_not(item, refusal, accepts_marketing)
    return result


def _why_not(item: ShopWorkflow, refusal: CustomerRefusal | None, consent: bool | None) -> str:
    """Why a customer has no episode of a workflow, in a merchant's words."""
    if refusal is not None:
        return REASON_WORDS.get(refusal.reason, refusal.reason)
    if not item.enabled:
        return "workflow off"
    if item.workflow.category == "marketing" and consent is False:
        return REASON_WORDS["no_consent"]
    trigger = item.workflow.trigger
    if trigger.event:
        return f"its trigger ({trigger.event}) never came for this customer"
    return f"the {trigger.sweep} sweep never found this customer"


def _refusal_json(row: CustomerRefusal | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "reason": row.reason,
        "words": REASON_WORDS.get(row.reason, row.reason),
        "subject": row.subject,
        "event": row.event,
        "event_at": _iso(row.event_at),
        "refused_at": _iso(row.refused_at),
    }


def _episode_json(
    batch: Batch,
    item: ShopWorkflow,
    episode: Episode,
    steps: list[Step],
    messages: dict[int, list[dict[str, Any]]],
    now: datetime,
) -> dict[str, Any]:
    return {
        "subject": episode.subject,
        "state": episode.state,
        "holdout": episode.holdout,
        "workflow_version": episode.workflow_version,
        "enrolled_at": _iso(episode.enrolled_at),
        "ended_at": _iso(episode.ended_at),
        "exit_reason": episode.exit_reason,
        "converted_at": _iso(episode.converted_at),
        "steps": [_step_json(batch, item, episode, step, now) for step in steps],
        "messages": messages.get(episode.id, []),
    }


def _step_json(
    batch: Batch, item: ShopWorkflow, episode: Episode, step: Step, now: datetime
) -> dict[str, Any]:
    """A step's stored decision, and its conditions re-checked on the stored facts as they
    stood at the decision (or now, for a step not decided yet): the orders, checkout
    completion, emails and suppressions since are left out, and consent is as the
    customer's record said it then; the rest of the record is as it is now."""
    result: dict[str, Any] = {
        "step": step.step_id,
        "state": step.state,
        "reason": step.reason,
        "due_at": _iso(step.due_at),
        "decided_at": _iso(step.decided_at),
        "conditions": None,
    }
    definition = next((s for s in item.workflow.steps if s.id == step.step_id), None)
    if definition is not None and definition.variants and step.state == "pending":
        # an A/B test: the variant it will take, the customer's arm (whose delay set the
        # due time) or the winner once there is one; a decided step's reason names its own
        result["variant"] = customer_delay(
            item.workflow.name, definition, episode.customer_external_id
        )[1]
    if definition is None or step.state == "cancelled":
        return result
    at = step.decided_at or min(step.due_at, now)
    facts = _as_of(batch, item, episode, facts_for(batch, episode, item.workflow, at), at)
    decision = evaluate_step(definition, facts)
    result["conditions"] = {
        "checked_at": _iso(at),
        "held": decision.fired,
        # the worker fired it, yet the re-check fails: some value read now (a re-order
        # rhythm, the last activity, tags) is not what it was at the decision, which stands
        "changed_since": step.state == "fired" and not decision.fired,
        "checks": [
            {
                "condition": label_of(check.name),
                "variable": check.name,
                "operator": OPERATOR_WORDS.get(check.operator, check.operator),
                "value": check.value,
                "actual": _plain(check.actual),
                "passed": check.passed,
                "words": explain_check(check),
            }
            for check in decision.checks
        ],
    }
    return result


def _as_of(
    batch: Batch, item: ShopWorkflow, episode: Episode, facts: FactSet, at: datetime
) -> FactSet:
    """The stored facts without what came after ``at``: the orders placed since, the
    checkout's completion since, and the emails queued since (a fired step's own email
    among them, which would fail its own "not emailed lately" check)."""
    checkout = facts.checkout
    if checkout is not None and checkout.completed_at is not None and checkout.completed_at > at:
        checkout = replace(checkout, completed_at=None)
    last: dict[str, datetime | None] = {"marketing": None, "cart_abandonment": None}
    for created, workflow, category in batch.session.execute(
        select(OutboxMessage.created_at, OutboxMessage.workflow, OutboxMessage.category).where(
            OutboxMessage.shop_id == episode.shop_id,
            OutboxMessage.customer_external_id == episode.customer_external_id,
            OutboxMessage.kind == "email",
            OutboxMessage.created_at < at,
        )
    ):
        for key in (category, workflow):
            held = last.get(key)
            if key in last and (held is None or created > held):
                last[key] = created
    return replace(
        facts,
        customer=_consent_as_of(batch, episode, facts, at),
        checkout=checkout,
        orders=tuple(o for o in facts.orders if o.created_at is None or o.created_at <= at),
        last_marketing_email_at=last["marketing"],
        last_abandonment_email_at=last["cart_abandonment"],
        suppressed=facts.suppressed and _suppressed_by(batch, item, episode, facts.customer, at),
    )


def _consent_as_of(batch: Batch, episode: Episode, facts: FactSet, at: datetime) -> Customer:
    """The customer with their consent as their record said it at ``at`` (one who said no
    since was asked while they said yes); when it had said nothing yet, the buyer's own
    checkbox on the checkout or order, as the worker reads it."""
    customer = facts.customer
    row = batch.session.execute(
        select(
            CustomerRow.accepts_marketing,
            CustomerRow.consent_updated_at,
            CustomerRow.unsubscribed_at,
        ).where(
            CustomerRow.shop_id == episode.shop_id,
            CustomerRow.external_id == episode.customer_external_id,
        )
    ).first()
    history = consent_history(*row) if row is not None else []
    if not history:
        return customer
    consent = consent_at(history, at)
    if consent is None:
        subject = facts.checkout or facts.order
        consent = subject.accepts_marketing if subject is not None else None
    return replace(customer, accepts_marketing=consent)


def _suppressed_by(
    batch: Batch, item: ShopWorkflow, episode: Episode, customer: Customer, at: datetime
) -> bool:
    """Whether the address was suppressed for the workflow's mail by ``at`` (not only
    since)."""
    scope = "marketing" if item.workflow.category == "marketing" else "all"
    return (
        batch.session.scalar(
            select(Suppression.id)
            .where(
                Suppression.shop_id == episode.shop_id,
                Suppression.email == normal_email(customer.email or ""),
                Suppression.scope.in_(facts_store.suppressing_scopes(scope)),
                Suppression.created_at <= at,
            )
            .limit(1)
        )
        is not None
    )


def _steps_by_episode(session: Session, episode_ids: list[int]) -> dict[int, list[Step]]:
    found: dict[int, list[Step]] = {}
    if episode_ids:
        for step in session.scalars(
            select(Step).where(Step.episode_id.in_(episode_ids)).order_by(Step.position)
        ):
            found.setdefault(step.episode_id, []).append(step)
    return found


def _messages_by_episode(
    session: Session, shop_id: int, episode_ids: list[int]
) -> dict[int, list[dict[str, Any]]]:
    """Each episode's emails: their outbox state, then what SendGrid said of them."""
    if not episode_ids:
        return {}
    rows = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.shop_id == shop_id,
            OutboxMessage.episode_id.in_(episode_ids),
            OutboxMessage.kind == "email",
        )
        .order_by(OutboxMessage.created_at)
    ).all()
    events: dict[int, list[EngagementRow]] = {}
    if rows:
        for engagement in session.scalars(
            select(EngagementRow)
            .where(
                EngagementRow.shop_id == shop_id,
                EngagementRow.message_id.in_([m.id for m in rows]),
            )
            .order_by(EngagementRow.occurred_at)
        ):
            assert engagement.message_id is not None
            events.setdefault(engagement.message_id, []).append(engagement)
    found: dict[int, list[dict[str, Any]]] = {}
    for message in rows:
        assert message.episode_id is not None
        seen = events.get(message.id, [])
        found.setdefault(message.episode_id, []).append(
            {
                "id": message.id,
                "workflow": message.workflow,
                "step": message.step_id,
                "subject": message.subject,
                "state": message.state,
                "created_at": _iso(message.created_at),
                # when it left (sent) or was kept instead of leaving
                "sent_at": _iso(message.sent_at) if message.state in ("sent", "kept") else None,
                "events": _engagement_states(seen),
            }
        )
    return found


def _engagement_states(rows: Iterable[EngagementRow]) -> list[dict[str, Any]]:
    return [
        {"state": ENGAGEMENT_WORDS.get(row.kind, row.kind), "at": _iso(row.occurred_at)}
        for row in rows
    ]


def _orders(session: Session, shop_id: int, keys: list[str], email: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(OrderRow)
        .where(
            OrderRow.shop_id == shop_id,
            or_(OrderRow.customer_external_id.in_(keys), OrderRow.email == email),
        )
        .order_by(OrderRow.created_at.desc())
        .limit(ORDERS_SHOWN)
    ).all()
    return [
        {
            "id": row.external_id,
            "name": row.name,
            "value": str(row.value),
            "currency": row.currency,
            "created_at": _iso(row.created_at),
            "cancelled": row.cancelled_at is not None,
            "refunded": row.refunded,
        }
        for row in rows
    ]


def _plain(value: Any) -> Any:
    """A variable's value as JSON holds it."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return str(value)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
