"""Turn a fired step's action requests into outbox rows (rendered, keyed, not yet sent)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from urllib.parse import urlencode

from itsdangerous import URLSafeSerializer
from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from plugin.emails.blocks import link_params
from plugin.emails.render import email_blocks, render_email
from plugin.identity import visitor_token
from plugin.pipeline.product_picks import product_context
from plugin.storage.batch import Batch
from plugin.storage.models import Episode, OutboxMessage, Shop
from rules.actions import ActionRequest
from rules.definitions import Workflow
from rules.facts import Checkout, FactSet, Order


@dataclass(frozen=True)
class Sender:
    """What the outbox needs to know about the app and the shop to write a message."""

    app_url: str
    secret_key: str
    shop_name: str
    shop_url: str
    staff_email: str | None
    # the shop's postal address, in every email's footer (marketing email is held without it)
    postal_address: str | None = None
    # the workflow's own from/reply-to/unsubscribe group, overriding the shop's (non-null only)
    overrides: dict[str, Any] = field(default_factory=dict)


def unsubscribe_token(secret_key: str, shop_id: int, email: str) -> str:
    """Signed token naming the shop and address, for the one-click unsubscribe link."""
    return URLSafeSerializer(secret_key, salt="unsubscribe").dumps({"s": shop_id, "e": email})


def read_unsubscribe_token(secret_key: str, token: str) -> tuple[int, str] | None:
    """Return (shop id, email) from a valid token, None for anything else."""
    try:
        data = URLSafeSerializer(secret_key, salt="unsubscribe").loads(token)
        return int(data["s"]), str(data["e"])
    except Exception:  # itsdangerous raises several types; any failure means "not ours"
        return None


def retry_failed(session: Session, ids: list[int], shop_id: int | None = None) -> int:
    """Put parked (failed) messages back in line, as new: a person decided to try again.
    Only failed rows move; ``shop_id`` keeps a shop to its own. Returns how many moved."""
    query = update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.state == "failed")
    if shop_id is not None:
        query = query.where(OutboxMessage.shop_id == shop_id)
    result = session.execute(query.values(state="pending", next_attempt_at=None, attempts=0))
    return cast(CursorResult[Any], result).rowcount  # an UPDATE's result counts its rows


def kept_reason(settings: dict[str, Any]) -> str:
    """Why a 'kept' message never left the machine, said for the app as it is set now."""
    if settings.get("SENDGRID_API_KEY"):
        return "SendGrid was not configured when it was due"
    return "SendGrid is not configured"


def state_words(state: str, settings: dict[str, Any]) -> str:
    """A message's state for people: 'kept' says why it was never sent."""
    return f"kept ({kept_reason(settings)})" if state == "kept" else state


def message_json(message: OutboxMessage) -> dict[str, Any]:
    """An outbox row as `nudge outbox --json` and the settings page show it."""
    return {
        "id": message.id,
        "workflow": message.workflow,
        "step": message.step_id,
        "kind": message.kind,
        "to": message.to_email,
        "subject": message.subject,
        "state": message.state,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "idempotency_key": message.idempotency_key,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        "sent_at": message.sent_at.isoformat() if message.sent_at else None,
    }


def discount_code(key: str) -> str:
    """A unique, unguessable-looking code derived from the action's idempotency key."""
    digest = hashlib.sha256(key.encode()).digest()
    return "NUDGE-" + base64.b32encode(digest)[:8].decode()


def write_actions(
    session: Session,
    shop: Shop,
    sender: Sender,
    episode: Episode,
    step_id: str,
    workflow: Workflow,
    facts: FactSet,
    actions: tuple[ActionRequest, ...],
    now: datetime,
    variant: str | None = None,
) -> list[OutboxMessage]:
    """Write one outbox row per action; a discount's code flows into the emails after it.
    ``variant``: the A/B test variant these actions are (kept on each row for the report)."""
    context = email_context(sender, shop, episode, workflow, step_id, facts)
    rows = []
    for index, action in enumerate(actions):
        # A step is claimed and decided once (plugin.pipeline.due_steps), so each key is written once;
        # the unique constraint on it is the backstop should that ever fail.
        key = f"{shop.id}:{workflow.name}:{episode.customer_external_id}:{episode.id}:{step_id}:{index}"
        row = OutboxMessage(
            shop_id=shop.id,
            idempotency_key=key,
            kind=action.name,
            workflow=workflow.name,
            category=workflow.category,
            episode_id=episode.id,
            step_id=step_id,
            customer_external_id=episode.customer_external_id,
            params={**action.params, "variant": variant} if variant else dict(action.params),
            state="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        if action.name == "create_discount":
            code = discount_code(key)
            expires = now + timedelta(days=float(action.params.get("expires_in_days") or 3))
            row.params = {**row.params, "code": code, "expires_at": expires.isoformat()}
            context.update(
                discount_code=code,
                discount_percent=action.params.get("percent") or None,
                discount_amount=action.params.get("amount") or None,
                discount_expires_at=expires.strftime("%B %d"),
            )
        elif action.name == "send_email":
            template = str(action.params.get("template") or "")
            row.kind = "email"
            row.to_email = facts.customer.email
            row.template = template
            if workflow.category == "marketing" and facts.customer.email:
                context["unsubscribe_url"] = (
                    f"{sender.app_url}/unsubscribe/"
                    f"{unsubscribe_token(sender.secret_key, shop.id, facts.customer.email)}"
                )
            # the products its blocks show, chosen now (never ones the customer has)
            context.update(
                product_context(
                    Batch.of(session),
                    shop.id,
                    sender.shop_url,
                    facts,
                    email_blocks(template, action.params),
                    now,
                )
            )
            rendered = render_email(template, context, action.params)
            row.subject = rendered.subject
            row.preview_html = rendered.html
            # the blocks are in the rendered email and in the workflow's versions already
            row.params.pop("blocks", None)
            row.params = {
                **row.params,
                # a SendGrid dynamic template gets the context, the preheader included
                "context": _json_safe({**context, "preheader": rendered.preheader}),
                "text": rendered.text,
            }
            if sender.overrides:
                row.params["sender"] = dict(sender.overrides)
        elif action.name == "notify_staff":
            row.to_email = (
                str(
                    action.params.get("to")
                    or assigned_rep(facts.customer.tags)
                    or sender.staff_email
                    or ""
                )
                or None
            )
            template = str(action.params.get("template") or "staff_alert")
            rendered = render_email(
                template if template in STAFF_TEMPLATES else "staff_alert",
                {**context, **staff_alert_context(facts, workflow)},
            )
            row.subject, row.preview_html = rendered.subject, rendered.html
        elif action.name == "tag_customer":
            row.to_email = None
        session.add(row)
        rows.append(row)
    return rows


STAFF_TEMPLATES = frozenset({"staff_alert", "sales_rep_alert"})
REP_TAG = "rep:"  # a customer tag assigning a sales rep, e.g. "rep:dana@shop.example"


def assigned_rep(tags: tuple[str, ...] | None) -> str | None:
    """The rep a ``rep:<email>`` customer tag assigns, if it holds an address."""
    for tag in tags or ():
        if tag.lower().startswith(REP_TAG):
            address = tag[len(REP_TAG) :].strip()
            if "@" in address and " " not in address and len(address) <= 320:
                return address
    return None


def staff_alert_context(facts: FactSet, workflow: Workflow) -> dict[str, Any]:
    """What an internal alert says: who, what they looked at, their history."""
    customer = facts.customer
    name = " ".join(n for n in (customer.first_name, customer.last_name) if n) or None
    placed = [o for o in facts.orders if o.cancelled_at is None]
    last = max((o.created_at for o in placed if o.created_at), default=customer.last_order_at)
    context: dict[str, Any] = {
        "customer_email": customer.email,
        "customer_name": name,
        "orders_count": max(customer.orders_count or 0, len(placed)),
        "total_spent": customer.total_spent
        if customer.total_spent is not None
        else sum((o.value for o in placed), start=Decimal("0")),
        "last_order_at": last.strftime("%Y-%m-%d") if last else None,
        "customer_since": customer.created_at.strftime("%Y-%m-%d") if customer.created_at else None,
        "window_hours": workflow.trigger.params.get("window_hours"),
    }
    if facts.browsing is not None:
        context.update(
            intent_pages=[_visit(v) for v in facts.browsing.high_intent[:20]],
            recent_pages=[_visit(v) for v in facts.browsing.recent],
            abandoned_cart_value=facts.browsing.abandoned_cart_value or None,
        )
    return context


def _visit(visit: Any) -> dict[str, Any]:
    return {
        "path": visit.path,
        "title": visit.title,
        "viewed_at": visit.viewed_at.strftime("%Y-%m-%d %H:%M UTC"),
    }


def email_context(
    sender: Sender,
    shop: Shop,
    episode: Episode,
    workflow: Workflow,
    step_id: str,
    facts: FactSet,
    token: str | None = None,
) -> dict[str, Any]:
    """What a step's emails may show of the customer, their cart or order, and the shop.

    Links to the shop carry UTM parameters and ``nudge_t``, the signed token that lets the
    storefront know a known customer's visit; ``token`` replaces it (a preview signs none).
    """
    context = _facts_context(sender, facts)
    context.update(_storefront_context(workflow, episode))
    if token is None and not facts.customer.id.startswith("email:"):
        token = visitor_token(sender.secret_key, shop.id, facts.customer.id)
    if token is not None:
        context["visit_url"] = f"{sender.shop_url}/?{urlencode({'nudge_t': token})}"
    context["link_params"] = link_params(workflow.name, step_id, token)
    return context


def _storefront_context(workflow: Workflow, episode: Episode) -> dict[str, Any]:
    """The topic a series is about."""
    topic = workflow.trigger.params.get("topic")
    if topic == "*" and episode.subject.startswith("topic:"):
        topic = episode.subject.split(":", 2)[1]
    if isinstance(topic, str) and topic != "*":
        return {"topic": topic.replace("-", " ").replace("_", " ")}
    return {}


def _facts_context(sender: Sender, facts: FactSet) -> dict[str, Any]:
    subject = facts.checkout or facts.order
    customer = facts.customer
    context: dict[str, Any] = {
        "shop_name": sender.shop_name,
        "shop_url": sender.shop_url,
        "postal_address": sender.postal_address,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "customer_email": customer.email,
    }
    if subject is not None:
        context.update(
            items=[
                {"title": item.title, "quantity": item.quantity, "price": item.price}
                for item in subject.items
            ],
            value=subject.value,
            currency=subject.currency,
        )
    if facts.checkout is not None:
        context["recovery_url"] = facts.checkout.recovery_url
        context["cart"] = _lines(facts.checkout)
    if facts.order is not None:
        context["order_name"] = facts.order.name
        context["review_url"] = f"{sender.shop_url}/account/orders"
        context["order"] = _lines(facts.order)
    return context


def _lines(subject: Checkout | Order) -> dict[str, Any]:
    """A cart's or order's lines and total, as the email's product blocks read them.

    The facts carry the total but not its shipping, tax and discounts: the email labels
    the difference to the lines' sum as those, together.
    """
    return {
        "items": [
            {"title": item.title, "quantity": item.quantity, "price": item.price}
            for item in subject.items
        ],
        "total": subject.value,
        "currency": subject.currency,
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value
