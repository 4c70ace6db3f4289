"""Nudge's built-in email templates (Jinja, autoescaped), used when a workflow names no
SendGrid dynamic template. Rendering happens when a step fires, so the outbox always
holds a preview of exactly what goes out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from html import unescape
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

SUBJECTS = {
    "cart_reminder": "{name}, you left something in your cart",
    "cart_offer": "Still thinking it over? Here is {percent} off",
    "upsell": "Picked for you, {name}",
    "replenishment": "Running low? Time to restock",
    "feedback_request": "How was your order{order}?",
    "winback": "We miss you, {name}",
    "winback_offer": "A welcome-back gift: {percent} off",
    "stay_subscribed": "Do you still want to hear from us?",
    "staff_alert": "Nudge alert: {customer} needs attention",
    "welcome": "Welcome to {shop}",
    "welcome_bestsellers": "Where to start: our best sellers",
    "welcome_offer": "A welcome gift: {percent} off your first order",
    "topic_nurture": "Getting started with {topic}",
    "topic_guide": "Our guide to {topic}",
    "topic_picks": "Our picks for {topic}",
    "lead_guide": "How to choose well",
    "lead_stories": "What our customers say",
    "lead_offer": "{percent} off your first order",
    "sales_rep_alert": "Sales alert: {customer} is showing buying intent",
    "signup_confirm": "Please confirm your subscription to {shop}",
}
TEMPLATES = frozenset(SUBJECTS)


class UnknownTemplate(ValueError):
    """No built-in template has that name."""


@dataclass(frozen=True)
class RenderedEmail:
    """A rendered email: subject, HTML and a plain-text alternative."""

    subject: str
    html: str
    text: str


def _money(value: Any, currency: str | None = None) -> str:
    if value is None or value == "":
        return ""
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    symbol = {"USD": "$", "CAD": "$", "AUD": "$", "EUR": "€", "GBP": "£"}.get(currency or "", "")
    return f"{symbol}{amount}" if symbol else f"{amount} {currency or ''}".strip()


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("plugin.emails", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # the templates ship with the package: checking their files' times on every
        # render (Jinja's default) was a fifth of rendering an email
        auto_reload=False,
    )
    env.filters["money"] = _money
    return env


DEFAULTS: dict[str, Any] = {
    "first_name": None,
    "items": [],
    "value": None,
    "currency": None,
    "recovery_url": None,
    "discount_code": None,
    "discount_percent": None,
    "discount_amount": None,
    "discount_expires_at": None,
    "order_name": None,
    "review_url": None,
    "shop_url": None,
    "unsubscribe_url": None,
    "products": [],
    "customer_email": None,
    # storefront-era workflows
    "topic": None,
    "visit_url": None,
    "confirm_url": None,
    "customer_name": None,
    "intent_pages": [],
    "recent_pages": [],
    "window_hours": None,
    "abandoned_cart_value": None,
    "orders_count": 0,
    "total_spent": None,
    "last_order_at": None,
    "customer_since": None,
}


def _subject(template: str, context: dict[str, Any]) -> str:
    percent = context.get("discount_percent")
    return SUBJECTS[template].format(
        name=context.get("first_name") or "Hi",
        percent=f"{percent:g}%" if isinstance(percent, int | float) else "a discount",
        order=f" {context['order_name']}" if context.get("order_name") else "",
        customer=context.get("customer_name") or context.get("customer_email") or "a customer",
        shop=context.get("shop_name") or "our shop",
        topic=context.get("topic") or "your topic",
    )


def _text_version(html: str) -> str:
    body = re.sub(r"(?is)<(style|head)[^>]*>.*?</\1>", "", html)
    body = re.sub(r"(?i)<a [^>]*href=\"([^\"]+)\"[^>]*>(.*?)</a>", r"\2 (\1)", body)
    body = re.sub(r"(?i)</td>", " ", body)
    body = re.sub(r"(?i)<br\s*/?>|</p>|</h\d>|</tr>|</li>", "\n", body)
    body = unescape(re.sub(r"<[^>]+>", "", body))
    lines = [line.strip() for line in body.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def render_email(template: str, context: dict[str, Any]) -> RenderedEmail:
    """Render a built-in template; every context key but shop_name is optional."""
    if template not in TEMPLATES:
        raise UnknownTemplate(template)
    values = {**DEFAULTS, **context}
    values.setdefault("shop_name", "our shop")
    subject = _subject(template, values)
    html = (
        _environment()
        .get_template(f"{template}.html")
        .render(subject=subject, template=template, **values)
    )
    return RenderedEmail(subject=subject, html=html, text=_text_version(html))
