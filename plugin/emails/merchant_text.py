"""Merchant text with its placeholders filled, rendered in Jinja's sandbox.

Merchant text never becomes template code: each literal piece is passed to the template as
a value, and the only expressions are the placeholders ``rules.email_content`` allows. The
sandbox is the second wall: it refuses every attribute, and has no filters or globals.

What shows when a value is unknown: the fallback written with it (``{first_name|friend}``),
else the placeholder's ``missing`` text ("there" for a first name, "a discount" for the
discount, nothing for most). An unknown placeholder (only in a definition saved before the
checks existed) is left as typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from rules.email_content import PLACEHOLDERS, URL_PLACEHOLDERS, split_text


class _PlaceholdersOnly(SandboxedEnvironment):
    """A sandbox in which no attribute of anything can be read."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return False


def _environment(html: bool) -> SandboxedEnvironment:
    env = _PlaceholdersOnly(autoescape=html, auto_reload=False)
    env.filters = {}  # the allow-list of filters is empty: placeholders need none
    env.globals = {}
    return env


_ENVIRONMENTS = {True: _environment(True), False: _environment(False)}


@lru_cache(maxsize=2048)
def _compiled(text: str, html: bool) -> tuple[Any, tuple[str, ...]]:
    """The template for a text, and its literal pieces (passed in as values ``_0``, ``_1``...)."""
    source: list[str] = []
    literals: list[str] = []
    for part in split_text(text):
        if isinstance(part, str):
            literals.append(part)
            source.append(f"{{{{ _{len(literals) - 1} }}}}")
            continue
        name = part.canonical
        if name is None:
            literals.append(part.raw)
            source.append(f"{{{{ _{len(literals) - 1} }}}}")
            continue
        literals.append(part.fallback if part.fallback is not None else PLACEHOLDERS[name].missing)
        source.append(f"{{{{ {name} or _{len(literals) - 1} }}}}")
    return _ENVIRONMENTS[html].from_string("".join(source)), tuple(literals)


def fill(text: str, values: Mapping[str, str], *, html: bool) -> str:
    """The text with its placeholders filled; escaped (as Markup) when ``html``."""
    template, literals = _compiled(text, html)
    rendered = template.render({**values, **{f"_{i}": piece for i, piece in enumerate(literals)}})
    return Markup(rendered) if html else rendered


def fill_url(text: str, values: Mapping[str, str]) -> str:
    """A link with its placeholders filled: a link placeholder as it is, any other quoted."""
    quoted = {
        name: value if name in URL_PLACEHOLDERS else quote(value, safe="")
        for name, value in values.items()
    }
    return fill(text.strip(), quoted, html=False)


def placeholder_values(context: Mapping[str, Any], money: Any) -> dict[str, str]:
    """Each placeholder's value for one email ("" when unknown); ``money`` formats amounts."""
    percent = context.get("discount_percent")
    amount = context.get("discount_amount")
    percent_text = f"{percent:g}%" if isinstance(percent, int | float) and percent else ""
    amount_text = money(amount, context.get("currency")) if amount else ""
    shop_url = _text(context.get("shop_url"))
    return {
        "first_name": _text(context.get("first_name")),
        "last_name": _text(context.get("last_name")),
        "customer_email": _text(context.get("customer_email")),
        "shop_name": _text(context.get("shop_name")),
        "shop_url": shop_url,
        "cart_url": _text(context.get("recovery_url")) or shop_url,
        "review_url": _text(context.get("review_url")) or shop_url,
        "order_name": _text(context.get("order_name")),
        "discount_code": _text(context.get("discount_code")),
        "discount": percent_text or amount_text,
        "discount_percent": percent_text,
        "discount_amount": amount_text,
        "discount_expires": _text(context.get("discount_expires_at")),
        "topic": _text(context.get("topic")),
    }


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""
