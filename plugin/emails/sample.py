"""A step's email rendered with sample data and queued to the merchant: "send me a test".

It goes through the ordinary outbox and delivery (SendGrid, or kept as a preview without an
API key), as a transactional message with no episode and no customer, so it never counts
toward a workflow's statistics, a customer's frequency cap or anyone's consent.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from plugin.emails.render import render_email
from plugin.shop_settings.policies import shop_settings
from plugin.storage.models import OutboxMessage, Shop


class NoRecipient(ValueError):
    """The shop has no staff (or sender) address to send a test to."""


def sample_context(shop: Shop, actions: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """What a real customer's email would carry, made up: a name, a cart, maybe a code."""
    settings = shop_settings(shop.settings)
    shop_url = f"https://{shop.domain}"
    context: dict[str, Any] = {
        "shop_name": settings.get("name") or shop.domain,
        "shop_url": shop_url,
        "first_name": "Alex",
        "items": [
            {"title": "Sample product", "quantity": 1, "price": "24.00"},
            {"title": "Another sample", "quantity": 2, "price": "9.50"},
        ],
        "value": "43.00",
        "currency": "USD",
        "recovery_url": f"{shop_url}/cart",
        "order_name": "#1001",
        "review_url": f"{shop_url}/account/orders",
    }
    discount = next((a for a in actions if a.get("name") == "create_discount"), None)
    if discount is not None:
        params = discount.get("params") or {}
        expires = now + timedelta(days=float(params.get("expires_in_days") or 3))
        context.update(
            discount_code="NUDGE-TEST",
            discount_percent=params.get("percent") or None,
            discount_amount=params.get("amount") or None,
            discount_expires_at=expires.strftime("%B %d"),
        )
    return context


def queue_test_email(
    session: Session, shop: Shop, workflow: str, step: dict[str, Any], now: datetime
) -> OutboxMessage:
    """Render the step's (first) email with sample data and queue it to the shop's staff."""
    settings = shop_settings(shop.settings)
    to_email = settings.get("staff_email") or settings.get("from_email")
    if not to_email:
        raise NoRecipient("set a staff email (or a sender address) to receive test emails")
    actions = list(step.get("actions") or [])
    email = next(a for a in actions if a.get("name") == "send_email")
    params = email.get("params") or {}
    context = sample_context(shop, actions, now)
    rendered = render_email(str(params["template"]), context)
    row = OutboxMessage(
        shop_id=shop.id,
        # every click is a new message: a test is meant to arrive each time it is asked for
        idempotency_key=f"{shop.id}:test:{workflow}:{step.get('id')}:{secrets.token_hex(8)}",
        kind="email",
        workflow=workflow,
        category="transactional",
        step_id=step.get("id"),
        to_email=to_email,
        template=params["template"],
        subject="[Test] " + str(params.get("subject") or rendered.subject),
        preview_html=rendered.html,
        params={
            **({"template_id": params["template_id"]} if params.get("template_id") else {}),
            "context": context,
            "text": rendered.text,
            "test": True,
        },
        state="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row
