"""What a merchant may write in an email: placeholders, blocks, and the checks a draft must pass.

An email step's ``send_email`` params may carry ``subject``, ``preheader`` and ``blocks``
(each absent: the built-in template's own). Every text field takes the same placeholders,
``{first_name}``, ``{shop_name}``, ``{discount_code}``...; ``{first_name|friend}`` names what
shows when the value is unknown at send time (else the placeholder's own ``missing`` text,
often nothing). Anything else in braces is literal text: ``{{ x }}`` or ``{% if %}`` goes out
as typed, never as template code, and the checks point out a doubled-brace placeholder.

Pure data and checks; ``plugin.emails`` renders, with Jinja's sandbox.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PlaceholderDef:
    """One placeholder merchants may use: what it holds, and what shows when it is unknown."""

    description: str
    missing: str = ""


PLACEHOLDERS: dict[str, PlaceholderDef] = {
    "first_name": PlaceholderDef("The customer's first name", missing="there"),
    "last_name": PlaceholderDef("The customer's last name"),
    "customer_email": PlaceholderDef("The customer's email address"),
    "shop_name": PlaceholderDef("Your shop's name", missing="our shop"),
    "shop_url": PlaceholderDef("Your shop's home page"),
    "cart_url": PlaceholderDef("The customer's cart or checkout (your shop when there is none)"),
    "review_url": PlaceholderDef("Where the customer reviews an order (their account's orders)"),
    "order_name": PlaceholderDef("The order's number, such as #1001"),
    "discount_code": PlaceholderDef("The discount code the step created"),
    "discount": PlaceholderDef("What the code takes off, such as 10% or $5.00", "a discount"),
    "discount_percent": PlaceholderDef("The code's percentage off, such as 10%"),
    "discount_amount": PlaceholderDef("The code's amount off, such as $5.00"),
    "discount_expires": PlaceholderDef("The code's last valid day, such as March 3"),
    "topic": PlaceholderDef("The topic the customer signed up for"),
    "reorder_product": PlaceholderDef(
        "The product the customer is due to re-order (purchase cycle)", missing="your favourites"
    ),
    "reorder_url": PlaceholderDef("That product's page (your shop when there is none)"),
}
# The subject placeholders of earlier versions, so definitions saved then keep working.
ALIASES = {
    "name": "first_name",
    "percent": "discount",
    "shop": "shop_name",
    "order": "order_name",
    "customer": "customer_email",
}
# Placeholders that are links: a URL field may start with one.
URL_PLACEHOLDERS = frozenset({"shop_url", "cart_url", "review_url", "reorder_url"})

PRODUCT_SOURCES = (
    "recommendations",  # what buyers of the order's or cart's products also bought
    "best_sellers",
    "new_arrivals",
    "reorder_items",  # the product the customer is due to re-order (purchase cycle)
    "cart_items",
    "order_items",
)
PRODUCT_LIMIT = (1, 12)
DEFAULT_PRODUCT_LIMIT = 4
MAX_BLOCKS = 40
SUBJECT_LONGEST = 200
PREHEADER_LONGEST = 250

# One pair of braces around a name, with an optional "|fallback"; a brace doubled on either
# side is literal text.
SLOT = re.compile(r"(?<!\{)\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|([^{}|]*))?\}(?!\})")
DOUBLED = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|[^{}]*)?\}\}")


@dataclass(frozen=True)
class Slot:
    """A placeholder in merchant text: its name and fallback as written, and the whole of it."""

    name: str
    fallback: str | None = None
    raw: str = ""

    @property
    def canonical(self) -> str | None:
        """The allow-listed placeholder it means (an old alias resolved); None if unknown."""
        return canonical(self.name)


def canonical(name: str) -> str | None:
    """The allow-listed placeholder a name means, old aliases included; None if unknown."""
    if name in PLACEHOLDERS:
        return name
    return ALIASES.get(name)


def split_text(text: str) -> list[str | Slot]:
    """Merchant text as literal pieces and placeholders, in order."""
    parts: list[str | Slot] = []
    position = 0
    for match in SLOT.finditer(text):
        if match.start() > position:
            parts.append(text[position : match.start()])
        fallback = match[2].strip() if match[2] is not None else None
        parts.append(Slot(match[1], fallback, match[0]))
        position = match.end()
    if position < len(text):
        parts.append(text[position:])
    return parts


def _suggestion(name: str) -> str:
    known = [*PLACEHOLDERS, *ALIASES]
    close = difflib.get_close_matches(name, known, n=1) or difflib.get_close_matches(
        name.lower(), known, n=1
    )
    return f" (did you mean {{{close[0]}}}?)" if close else ""


def text_errors(value: Any, path: str, *, required: bool, longest: int) -> list[str]:
    """Problems of one text field: its type, length and placeholders."""
    if value is None and not required:
        return []
    if not isinstance(value, str):
        return [f"{path}: expected text"]
    if required and not value.strip():
        return [f"{path}: must not be empty"]
    if len(value) > longest:
        return [f"{path}: at most {longest} characters"]
    errors = [
        f"{path}: a placeholder takes single braces: {{{match[1]}}}"
        for match in DOUBLED.finditer(value)
    ]
    for part in split_text(value):
        if isinstance(part, Slot) and part.canonical is None:
            errors.append(f"{path}: unknown placeholder {{{part.name}}}{_suggestion(part.name)}")
    return errors


def url_errors(value: Any, path: str) -> list[str]:
    """A link: http(s), or one of the link placeholders (a path may follow it)."""
    errors = text_errors(value, path, required=True, longest=2000)
    if errors:
        return errors
    text = value.strip()
    first = split_text(text)[0]
    if isinstance(first, Slot) and first.canonical in URL_PLACEHOLDERS:
        return []
    if re.match(r"(?i)^https?://[^\s/]", text) and not re.search(r"\s", text):
        return []
    links = ", ".join(f"{{{name}}}" for name in sorted(URL_PLACEHOLDERS))
    return [f"{path}: a link starting with https:// or one of {links}"]


@dataclass(frozen=True)
class Field:
    """One field of a block: its kind ('text', 'url', 'source', 'limit'), need and size."""

    kind: str
    required: bool = False
    longest: int = 0

    def errors(self, value: Any, path: str) -> list[str]:
        if self.kind == "text":
            return text_errors(value, path, required=self.required, longest=self.longest)
        if self.kind == "url":
            return url_errors(value, path)
        if self.kind == "source":
            if value in PRODUCT_SOURCES:
                return []
            return [f"{path}: one of {', '.join(PRODUCT_SOURCES)}"]
        low, high = PRODUCT_LIMIT
        if value is None or (
            isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        ):
            return []
        return [f"{path}: a whole number from {low} to {high}"]


BLOCKS: dict[str, dict[str, Field]] = {
    "heading": {"text": Field("text", required=True, longest=200)},
    "text": {"text": Field("text", required=True, longest=5000)},
    "button": {"label": Field("text", required=True, longest=80), "url": Field("url", True)},
    # a grid of product cards, or the cart's or order's lines with their totals
    "products": {
        "source": Field("source", required=True),
        "limit": Field("limit"),
        "title": Field("text", longest=200),
    },
    # the step's discount code; shown only when the step created one
    "discount": {"text": Field("text", longest=200)},
    # a note above the shop's name and the unsubscribe link, which every email carries anyway
    "footer": {"text": Field("text", longest=1000)},
}


def _suggest(name: Any, known: Any) -> str:
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def block_errors(block: Any, path: str) -> list[str]:
    """Problems of one block: its type, unknown fields, each field's value."""
    if not isinstance(block, dict):
        return [f"{path}: expected an object with a 'type'"]
    kind = block.get("type")
    if kind not in BLOCKS:
        return [f"{path}.type: unknown block type '{kind}'{_suggest(kind, BLOCKS)}"]
    fields = BLOCKS[kind]
    errors = [
        f"{path}.{key}: unknown field for a {kind} block{_suggest(key, fields)}"
        for key in sorted(set(block) - set(fields) - {"type"})
    ]
    for key, spec in fields.items():
        errors += spec.errors(block.get(key), f"{path}.{key}")
    return errors


def email_params_errors(params: dict[str, Any], path: str) -> list[str]:
    """Problems of a send_email's subject, preheader and blocks, each with its path."""
    errors = text_errors(
        params.get("subject"), f"{path}.subject", required=False, longest=SUBJECT_LONGEST
    )
    errors += text_errors(
        params.get("preheader"), f"{path}.preheader", required=False, longest=PREHEADER_LONGEST
    )
    if "subject" in params and isinstance(params["subject"], str) and not params["subject"].strip():
        errors.append(f"{path}.subject: must not be empty (remove it for the template's own)")
    if "blocks" not in params:
        return errors
    blocks = params["blocks"]
    if not isinstance(blocks, list) or not blocks:
        return errors + [f"{path}.blocks: a non-empty list (remove it for the template's own)"]
    if len(blocks) > MAX_BLOCKS:
        return errors + [f"{path}.blocks: at most {MAX_BLOCKS}"]
    for i, block in enumerate(blocks):
        errors += block_errors(block, f"{path}.blocks[{i}]")
    return errors


def editor_catalog() -> dict[str, Any]:
    """Placeholders, block types with their fields, product sources: what the editor offers."""
    return {
        "placeholders": [
            {"name": name, "description": spec.description, "missing": spec.missing}
            for name, spec in PLACEHOLDERS.items()
        ],
        "blocks": {
            kind: {
                key: {"kind": spec.kind, "required": spec.required, "longest": spec.longest}
                for key, spec in fields.items()
            }
            for kind, fields in BLOCKS.items()
        },
        "product_sources": list(PRODUCT_SOURCES),
        "product_limit": list(PRODUCT_LIMIT),
    }
