"""Merchant text with its placeholders filled, rendered in Jinja's sandbox.

Merchant text never becomes template code: each literal piece is passed to the template as
a value, and the only expressions are the placeholders ``rules.email_content`` allows. The
sandbox is the second wall: it refuses every attribute, and has no filters or globals. The
filled text is plain text: the email's templates autoescape it, and what a shopper typed (a
first name) with it.

What shows when a value is unknown: the fallback written with it (``{first_name|friend}``),
else the placeholder's ``missing`` text ("there" for a first name, "a discount" for the
discount, nothing for most). An unknown placeholder (only in a definition saved before the
checks existed) is left as typed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from jinja2.sandbox import SandboxedEnvironment

from rules.email_content import PLACEHOLDERS, URL_PLACEHOLDERS, split_text


class _PlaceholdersOnly(SandboxedEnvironment):
    """A sandbox in which no attribute of anything can be read."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return False


def _environment() -> SandboxedEnvironment:
    env = _PlaceholdersOnly(auto_reload=False)
    env.filters = {}  # the allow-list of filters is empty: placeholders need none
    env.globals = {}
    return env


_SANDBOX = _environment()


def _source(text: str, index: int, literals: dict[str, str]) -> str:
    """Template code for one text: its literal pieces as values, its placeholders with their
    fallbacks (also values)."""
    code = []
    for part in split_text(text):
        name = part.canonical if not isinstance(part, str) else None
        key = f"_{index}_{len(literals)}"
        if isinstance(part, str):
            literals[key] = part
            code.append(f"{{{{ {key} }}}}")
        elif name is None:
            literals[key] = part.raw
            code.append(f"{{{{ {key} }}}}")
        else:
            literals[key] = (
                part.fallback if part.fallback is not None else PLACEHOLDERS[name].missing
            )
            code.append(f"{{{{ {name} or {key} }}}}")
    return "".join(code)


@lru_cache(maxsize=1024)
def _compiled(texts: tuple[str, ...]) -> tuple[Any, dict[str, str]]:
    """One template for all of an email's texts (each an exported ``text_<i>``), and the
    literal pieces it is given as values."""
    literals: dict[str, str] = {}
    code = "".join(
        f"{{% set text_{i} %}}{_source(text, i, literals)}{{% endset %}}"
        for i, text in enumerate(texts)
    )
    return _SANDBOX.from_string(code), literals


def fill_all(texts: Iterable[str], values: Mapping[str, str]) -> dict[str, str]:
    """Each text with its placeholders filled, as plain text; one sandboxed render for all."""
    texts = tuple(texts)
    filled = {text: text for text in texts if "{" not in text}  # nothing to fill
    wanted = tuple(dict.fromkeys(text for text in texts if "{" in text))
    if wanted:
        template, literals = _compiled(wanted)
        module = template.make_module({**values, **literals})
        filled.update((text, str(getattr(module, f"text_{i}"))) for i, text in enumerate(wanted))
    return filled


def fill(text: str, values: Mapping[str, str]) -> str:
    """One text with its placeholders filled, as plain text."""
    return fill_all((text,), values)[text]


def fill_url(text: str, values: Mapping[str, str]) -> str:
    """A link with its placeholders filled: a link placeholder as it is, any other quoted."""
    quoted = {
        name: values[name] if name in URL_PLACEHOLDERS else quote(values[name], safe="")
        for name in _names(text)
    }
    return fill(text.strip(), quoted)


@lru_cache(maxsize=1024)
def _names(text: str) -> frozenset[str]:
    """The allow-listed placeholders a text uses."""
    return frozenset(
        name for part in split_text(text) if not isinstance(part, str) and (name := part.canonical)
    )


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
        "reorder_product": _text(context.get("reorder_product")),
        "reorder_url": _text(context.get("reorder_url")) or shop_url,
    }


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""
