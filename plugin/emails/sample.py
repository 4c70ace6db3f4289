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

from plugin.emails.blocks import link_params
from plugin.emails.render import render_email
from plugin.shop_settings.policies import postal_address, shop_settings, staff_address
from plugin.storage.models import OutboxMessage, Shop


class NoRecipient(ValueError):
    """The shop has no confirmed staff address (nor the owner's) to send a test to."""


# Stands where a customer's signed token goes in links: it names nobody, so a merchant who
# clicks a preview's link is never taken for a customer.
PREVIEW_TOKEN = "preview"
SAMPLE_PRODUCTS = (
    ("Ceramic pour-over dripper", "dripper", "32.00", "40.00"),
    ("Single-origin beans, 250 g", "beans", "16.50", None),
    ("Loose-leaf green tea", "tea", "12.00", None),
    ("Glass carafe, 600 ml", "carafe", "28.00", "34.00"),
)


def sample_products(shop_url: str, app_url: str | None) -> list[dict[str, Any]]:
    """Product cards as recommendations or best sellers would fill them."""
    return [
        {
            "title": title,
            "url": f"{shop_url}/products/sample-{slug}",
            "image_url": f"{app_url}/static/emails/sample-{slug}.png" if app_url else None,
            "price": price,
            "compare_at_price": compare_at,
        }
        for title, slug, price, compare_at in SAMPLE_PRODUCTS
    ]


def sample_discount(actions: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The step's discount (if it creates one) as its email would show it, with a made-up code."""
    discount = next((a for a in actions if a.get("name") == "create_discount"), None)
    if discount is None:
        return {}
    params = discount.get("params")
    params = params if isinstance(params, dict) else {}
    days = params.get("expires_in_days")
    # a draft's discount is not checked before it is previewed: any odd value reads as 3 days
    days = days if isinstance(days, int | float) and not isinstance(days, bool) else 3
    expires = now + timedelta(days=days if 0 < days <= 3650 else 3)
    return {
        "discount_code": "NUDGE-TEST",
        "discount_percent": params.get("percent") or None,
        "discount_amount": params.get("amount") or None,
        "discount_expires_at": expires.strftime("%B %d"),
    }


def sample_context(
    shop: Shop,
    actions: list[dict[str, Any]],
    now: datetime,
    app_url: str | None = None,
    workflow: str = "sample",
    step_id: str = "sample",
) -> dict[str, Any]:
    """What a real customer's email would carry, made up: a name, a cart, an order, products
    (with pictures served from ``app_url``), maybe a code."""
    settings = shop_settings(shop.settings)
    shop_url = f"https://{shop.domain}"
    items = [
        {"title": "Ceramic pour-over dripper", "quantity": 1, "price": "32.00"},
        {"title": "Paper filters, 100", "quantity": 2, "price": "6.50"},
    ]
    # 45.00 of lines, 5.90 shipping and 3.60 tax: the sample shows every row of a total
    lines = {"items": items, "currency": "USD", "shipping": "5.90", "tax": "3.60", "total": "54.50"}
    products = sample_products(shop_url, app_url)
    context: dict[str, Any] = {
        "shop_name": settings.get("name") or shop.domain,
        "shop_url": shop_url,
        "postal_address": postal_address(settings),
        "first_name": "Alex",
        "last_name": "Sample",
        "customer_email": "alex@example.com",
        "items": items,
        "value": "54.50",
        "currency": "USD",
        "cart": lines,
        "order": lines,
        "recommendations": products,
        "best_sellers": products[::-1],
        "new_arrivals": products[1:],
        "reorder_items": products[:1],
        "reorder_product": products[0]["title"] if products else None,
        "reorder_url": products[0]["url"] if products else None,
        "recovery_url": f"{shop_url}/cart",
        "order_name": "#1001",
        "review_url": f"{shop_url}/account/orders",
        "topic": "pour-over coffee",
        "link_params": link_params(workflow, step_id, PREVIEW_TOKEN),
    }
    return {**context, **sample_discount(actions, now)}


def queue_test_email(
    session: Session,
    shop: Shop,
    workflow: str,
    step: dict[str, Any],
    now: datetime,
    app_url: str | None = None,
) -> OutboxMessage:
    """Render the step's (first) email with sample data and queue it to the shop's staff."""
    to_email = staff_address(shop, shop_settings(shop.settings))
    if not to_email:
        raise NoRecipient("set a staff email, and confirm it with its link, to receive test emails")
    actions = list(step.get("actions") or [])
    email = next(a for a in actions if a.get("name") == "send_email")
    params = email.get("params") or {}
    context = sample_context(shop, actions, now, app_url, workflow, str(step.get("id")))
    rendered = render_email(str(params["template"]), context, params)
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
        subject="[Test] " + rendered.subject,
        preview_html=rendered.html,
        params={
            **({"template_id": params["template_id"]} if params.get("template_id") else {}),
            "context": {**context, "preheader": rendered.preheader},
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
