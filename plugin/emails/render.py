"""Nudge's built-in emails, rendered when a step fires (so the outbox holds exactly what goes
out) or when the settings page asks for a preview.

The emails a workflow step sends are designs made of blocks (``plugin.emails.designs``),
whose subject, preheader and blocks the step's own ``send_email`` params may replace; their
text goes through Jinja's sandbox with the allow-listed placeholders only. The staff alerts
and the signup confirmation are fixed templates (``templates/<name>.html``) that merchants
do not edit. A workflow naming a SendGrid dynamic template still gets a rendered subject.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from html import unescape
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from plugin.emails.blocks import Filling, Links, block_text, merchant_texts, money, prepare
from plugin.emails.designs import DESIGNS
from plugin.emails.merchant_text import fill_all, placeholder_values

# Fixed templates: to the shop's staff, or the answer to a storefront signup.
FIXED = frozenset({"staff_alert", "sales_rep_alert", "signup_confirm"})
EDITABLE = frozenset(DESIGNS)
TEMPLATES = EDITABLE | FIXED


class UnknownTemplate(ValueError):
    """No built-in template has that name."""


@dataclass(frozen=True)
class RenderedEmail:
    """A rendered email: subject, preheader, HTML and a plain-text alternative."""

    subject: str
    html: str
    text: str
    preheader: str = ""


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
    env.filters["money"] = money
    return env


DEFAULTS: dict[str, Any] = {
    "first_name": None,
    "last_name": None,
    "items": [],
    "value": None,
    "currency": None,
    "cart": None,
    "order": None,
    "recommendations": [],
    "best_sellers": [],
    "new_arrivals": [],
    "reorder_items": [],
    "reorder_product": None,
    "reorder_url": None,
    "recovery_url": None,
    "discount_code": None,
    "discount_percent": None,
    "discount_amount": None,
    "discount_expires_at": None,
    "order_name": None,
    "review_url": None,
    "shop_url": None,
    "unsubscribe_url": None,
    "postal_address": None,
    "customer_email": None,
    "link_params": {},
    "footer_notes": [],
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


def email_blocks(template: str, content: Mapping[str, Any] | None = None) -> list[Any]:
    """The blocks an email renders: the step's own, else its design's (none for a fixed
    template)."""
    blocks = (content or {}).get("blocks")
    if isinstance(blocks, list) and blocks:
        return blocks
    design = DESIGNS.get(template)
    return list(design.blocks) if design is not None else []


def render_email(
    template: str, context: Mapping[str, Any], content: Mapping[str, Any] | None = None
) -> RenderedEmail:
    """Render a built-in email; every context key but shop_name is optional.

    ``content``: a step's ``send_email`` params, whose ``subject``, ``preheader`` and
    ``blocks`` replace the design's (fixed templates take none).
    """
    if template not in TEMPLATES:
        raise UnknownTemplate(template)
    values = {**DEFAULTS, **context}
    values["shop_name"] = values.get("shop_name") or "our shop"
    if template in FIXED:
        return _render_fixed(template, values)
    design = DESIGNS[template]
    content = content or {}
    placeholders = placeholder_values(values, money)
    subject = _own(content, "subject") or design.subject
    preheader = _own(content, "preheader") or design.preheader
    blocks = email_blocks(template, content)
    filled = fill_all([subject, preheader, *merchant_texts(blocks)], placeholders)
    subject, preheader = _one_line(filled[subject]), _one_line(filled[preheader])
    ready = prepare(blocks, values, Filling(placeholders, filled, _links(values)))
    body = [block for block in ready if block.type != "footer"]
    notes = [block for block in ready if block.type == "footer"]
    # the layout reads these only: everything else is in the prepared blocks
    html = (
        _environment()
        .get_template("email.html")
        .render(
            subject=subject,
            preheader=preheader,
            shop_name=values["shop_name"],
            unsubscribe_url=values["unsubscribe_url"],
            postal_address=values["postal_address"],
            blocks=body,
            footer_notes=notes,
        )
    )
    text = "\n\n".join(
        [values["shop_name"], *(block_text(b) for b in body), *(block_text(b) for b in notes)]
        + [_footer_text(values)]
    )
    return RenderedEmail(subject=subject, html=html, text=text + "\n", preheader=preheader)


def _own(content: Mapping[str, Any], key: str) -> str | None:
    value = content.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _links(values: Mapping[str, Any]) -> Links:
    params = values.get("link_params")
    host = urlsplit(str(values.get("shop_url") or "")).hostname or ""
    return Links(shop_host=host, params=dict(params) if isinstance(params, Mapping) else {})


def _footer_text(values: Mapping[str, Any]) -> str:
    footer = f"You are receiving this email from {values['shop_name']}."
    if values.get("postal_address"):
        footer += f"\n{values['shop_name']}, {values['postal_address']}"
    if values.get("unsubscribe_url"):
        footer += f"\nUnsubscribe from marketing emails: {values['unsubscribe_url']}"
    return footer


def _render_fixed(template: str, values: dict[str, Any]) -> RenderedEmail:
    """A fixed template: its subject is its own ``subject`` block."""
    page = _environment().get_template(f"{template}.html")
    # rendered like the page, so escaped: a subject is plain text
    subject = _one_line(unescape("".join(page.blocks["subject"](page.new_context(values)))))
    html = page.render({**values, "subject": subject, "preheader": ""})
    return RenderedEmail(subject=subject, html=html, text=_text_version(html))


def _text_version(html: str) -> str:
    body = re.sub(r"(?is)<(style|head)[^>]*>.*?</\1>", "", html)
    body = re.sub(r"(?i)<a [^>]*href=\"([^\"]+)\"[^>]*>(.*?)</a>", r"\2 (\1)", body)
    body = re.sub(r"(?i)</td>", " ", body)
    body = re.sub(r"(?i)<br\s*/?>|</p>|</h\d>|</tr>|</li>", "\n", body)
    body = unescape(re.sub(r"<[^>]+>", "", body))
    lines = [line.strip() for line in body.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
