"""A step's blocks made ready to render: merchant text filled, products as cards with tracked
links, and a cart's or order's lines with totals that add up.

Product sources read the email's context: ``recommendations``, ``best_sellers``,
``new_arrivals`` and ``reorder_items`` are lists of product cards (``title``, ``url``, ``image_url``, ``price``, ``compare_at_price``), filled by
whoever builds the context; ``cart_items`` and ``order_items`` read ``cart`` and ``order``
(``items`` with ``title``, ``quantity``, unit ``price`` and optionally ``url`` and
``image_url``; ``total``, ``currency``, and when known ``shipping``, ``tax``, ``discounts``).
A block with nothing to show (no products, no discount code) is left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from plugin.emails.merchant_text import fill, fill_url
from rules.email_content import DEFAULT_PRODUCT_LIMIT, PRODUCT_LIMIT

DISCOUNT_CAPTION = "Your code for {discount} off"
LINE_SOURCES = {"cart_items": "cart", "order_items": "order"}
CARD_SOURCES = ("recommendations", "best_sellers", "new_arrivals", "reorder_items")
MINUS = "\u2212"
CURRENCY_SYMBOLS = {"USD": "$", "CAD": "$", "AUD": "$", "NZD": "$", "EUR": "€", "GBP": "£"}


def money(value: Any, currency: str | None = None) -> str:
    """An amount as shoppers read it: ``$12.50``, ``12.50 SEK``; "" for none."""
    amount = _amount(value)
    if amount is None:
        return ""
    sign = MINUS if amount < 0 else ""
    amount = abs(amount).quantize(Decimal("0.01"))
    symbol = CURRENCY_SYMBOLS.get(currency or "", "")
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency or ''}".strip()


def _amount(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


@dataclass(frozen=True)
class Card:
    """A product as a card: image, title, price (and the higher price it replaces), link."""

    title: str
    url: str | None
    image_url: str | None
    price: str
    compare_at: str | None


@dataclass(frozen=True)
class Line:
    """One line of a cart or order: quantity x unit price = line total."""

    title: str
    url: str | None
    image_url: str | None
    quantity: int
    unit_price: str
    total: str


@dataclass(frozen=True)
class Totals:
    """What comes under the lines: subtotal and each adjustment, labelled, then the total."""

    rows: tuple[tuple[str, str], ...]
    total: str


@dataclass(frozen=True)
class Block:
    """One block ready for the templates (which escape what they show): its merchant text
    filled, a text's paragraphs (each a tuple of lines)."""

    type: str
    text: dict[str, str] = field(default_factory=dict)
    paragraphs: tuple[tuple[str, ...], ...] = ()
    url: str | None = None
    code: str | None = None
    cards: tuple[Card, ...] = ()
    lines: tuple[Line, ...] = ()
    totals: Totals | None = None


@dataclass(frozen=True)
class Links:
    """What a link to the shop carries: UTM parameters and the signed ``nudge_t``."""

    shop_host: str
    params: Mapping[str, str]

    def to_shop(self, url: str | None) -> str | None:
        """A safe http(s) link; the shop's own get the parameters (those it has are kept)."""
        url = safe_link(url)
        if url is None or not self.params or urlsplit(url).hostname != self.shop_host:
            return url
        return with_params(url, self.params)

    def to_product(self, url: Any) -> str | None:
        """A product's link, always with the parameters: products are the shop's own."""
        url = safe_link(url)
        return with_params(url, self.params) if url and self.params else url


def link_params(workflow: str, step_id: str, token: str | None) -> dict[str, str]:
    """The parameters a link to the shop carries: where the visit came from, and who."""
    params = {
        "utm_source": "nudge",
        "utm_medium": "email",
        "utm_campaign": workflow,
        "utm_content": step_id,
    }
    return {**params, "nudge_t": token} if token else params


def safe_link(url: Any) -> str | None:
    """The URL when it is an absolute http(s) link, else None (no javascript:, no data:)."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def https_image(url: Any) -> str | None:
    """An image URL mail clients will load without warnings: https only."""
    link = safe_link(url)
    return link if link and link.startswith("https://") else None


def with_params(url: str, params: Mapping[str, str]) -> str:
    """The URL with parameters added to its query; parameters it already has win."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    query += [(key, value) for key, value in params.items() if key not in present]
    return urlunsplit(parts._replace(query=urlencode(query)))


# The merchant text fields of each block type, and the text an empty one stands for.
TEXT_FIELDS = {
    "heading": {"text": ""},
    "text": {"text": ""},
    "footer": {"text": ""},
    "button": {"label": ""},
    "discount": {"text": DISCOUNT_CAPTION},
    "products": {"title": ""},
}


def _source(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    default = TEXT_FIELDS.get(str(raw.get("type")), {}).get(key, "")
    return (value if isinstance(value, str) and value else default).replace("\r\n", "\n")


def merchant_texts(blocks: Iterable[Any]) -> list[str]:
    """Every merchant text field of the blocks, as ``prepare`` looks them up once filled."""
    return [
        _source(raw, key)
        for raw in blocks
        if isinstance(raw, Mapping)
        for key in TEXT_FIELDS.get(str(raw.get("type")), {})
    ]


@dataclass(frozen=True)
class Filling:
    """What the blocks are filled from: placeholder values, and the merchant texts already
    filled with them (``merchant_text.fill_all`` of ``merchant_texts``)."""

    values: Mapping[str, str]
    texts: Mapping[str, str]
    links: Links

    def text(self, raw: Mapping[str, Any], key: str) -> str:
        """A text field with its placeholders filled."""
        source = _source(raw, key)
        return self.texts[source] if source in self.texts else fill(source, self.values)


def prepare(blocks: Iterable[Any], context: Mapping[str, Any], filling: Filling) -> list[Block]:
    """The blocks as the templates draw them; blocks with nothing to show are left out."""
    ready = []
    for raw in blocks:
        if isinstance(raw, Mapping):
            block = _prepare(raw, context, filling)
            if block is not None:
                ready.append(block)
    return ready


def _prepare(raw: Mapping[str, Any], context: Mapping[str, Any], filling: Filling) -> Block | None:
    kind = raw.get("type")
    if kind in ("heading", "text", "footer"):
        text = filling.text(raw, "text").strip()
        return Block(kind, {"text": text}, _paragraphs(text)) if text else None
    if kind == "button":
        url = filling.links.to_shop(fill_url(str(raw.get("url") or ""), filling.values))
        label = filling.text(raw, "label").strip()
        return Block(kind, {"label": label}, url=url) if url and label else None
    if kind == "discount":
        code = filling.values.get("discount_code")
        if not code:
            return None
        expires = filling.values.get("discount_expires") or ""
        caption = filling.text(raw, "text").strip()
        return Block(kind, {"caption": caption, "expires": expires}, code=code)
    if kind == "products":
        return _products(raw, context, filling)
    return None


def _paragraphs(text: str) -> tuple[tuple[str, ...], ...]:
    """Blank lines part paragraphs; a single line break stays one."""
    paragraphs = (p.strip() for p in re.split(r"\n\s*\n", text))
    return tuple(tuple(line.strip() for line in p.split("\n")) for p in paragraphs if p)


def _limit(raw: Mapping[str, Any], default: int) -> int:
    limit = raw.get("limit")
    low, high = PRODUCT_LIMIT
    if isinstance(limit, int) and not isinstance(limit, bool):
        return max(low, min(high, limit))
    return default


def _products(raw: Mapping[str, Any], context: Mapping[str, Any], filling: Filling) -> Block | None:
    source, links = raw.get("source"), filling.links
    titles = {"title": filling.text(raw, "title").strip()}
    if source in CARD_SOURCES:
        cards = _cards(context.get(source), context.get("currency"), links)
        cards = cards[: _limit(raw, DEFAULT_PRODUCT_LIMIT)]
        return Block("products", titles, cards=tuple(cards)) if cards else None
    if source in LINE_SOURCES:
        subject = context.get(LINE_SOURCES[source])
        if not isinstance(subject, Mapping):
            return None
        lines, totals = _lines(
            subject, context.get("currency"), links, _limit(raw, PRODUCT_LIMIT[1])
        )
        return Block("products", titles, lines=lines, totals=totals) if lines else None
    return None


def _cards(products: Any, currency: str | None, links: Links) -> list[Card]:
    cards = []
    for product in products if isinstance(products, list | tuple) else ():
        if not isinstance(product, Mapping) or not str(product.get("title") or "").strip():
            continue
        price, compare_at = _amount(product.get("price")), _amount(product.get("compare_at_price"))
        cards.append(
            Card(
                title=str(product["title"]).strip(),
                url=links.to_product(product.get("url")),
                image_url=https_image(product.get("image_url")),
                price=money(price, currency),
                compare_at=money(compare_at, currency)
                if compare_at is not None and price is not None and compare_at > price
                else None,
            )
        )
    return cards


def _lines(
    subject: Mapping[str, Any], currency: str | None, links: Links, limit: int
) -> tuple[tuple[Line, ...], Totals | None]:
    currency = subject.get("currency") or currency
    rows = []  # title, url, image, quantity, unit price
    for item in subject.get("items") or ():
        if not isinstance(item, Mapping):
            continue
        quantity = item.get("quantity")
        quantity = quantity if isinstance(quantity, int) and quantity > 0 else 1
        unit = _amount(item.get("price")) or Decimal("0")
        title = str(item.get("title") or "").strip() or "Item"
        url, image = links.to_product(item.get("url")), https_image(item.get("image_url"))
        rows.append((title, url, image, quantity, unit))
    if not rows:
        return (), None
    subtotal = sum((quantity * unit for *_, quantity, unit in rows), Decimal("0"))
    lines = [
        Line(title, url, image, quantity, money(unit, currency), money(quantity * unit, currency))
        for title, url, image, quantity, unit in rows
    ]
    if len(rows) > limit:
        # the lines not shown are summed in one, so what is shown still adds up
        hidden = rows[limit - 1 :]
        rest = sum((quantity * unit for *_, quantity, unit in hidden), Decimal("0"))
        count = sum(quantity for *_, quantity, _ in hidden)
        more = Line(f"{count} more items", None, None, count, "", money(rest, currency))
        lines = lines[: limit - 1] + [more]
    return tuple(lines), _totals(subject, subtotal, currency)


def _totals(subject: Mapping[str, Any], subtotal: Decimal, currency: str | None) -> Totals:
    """Subtotal, the known adjustments, whatever is left labelled, and the total."""
    adjustments = [
        (label, amount)
        for label, amount in (
            ("Discounts", -abs(_amount(subject.get("discounts")) or Decimal("0"))),
            ("Shipping", _amount(subject.get("shipping")) or Decimal("0")),
            ("Tax", _amount(subject.get("tax")) or Decimal("0")),
        )
        if amount
    ]
    total = _amount(subject.get("total"))
    if total is None:
        total = subtotal + sum((amount for _, amount in adjustments), Decimal("0"))
    rest = total - subtotal - sum((amount for _, amount in adjustments), Decimal("0"))
    if rest:
        # the facts did not say what it is: say what it may be, never leave it unexplained
        label = "Other charges and discounts" if adjustments else "Shipping, taxes and discounts"
        adjustments.append((label, rest))
    rows = [("Subtotal", subtotal), *adjustments] if adjustments else []
    return Totals(
        tuple((label, money(amount, currency)) for label, amount in rows), money(total, currency)
    )


def block_text(block: Block) -> str:
    """A block as plain text, for the email's text alternative."""
    if block.type in ("heading", "text", "footer"):
        return block.text["text"]
    if block.type == "button":
        return f"{block.text['label']}: {block.url}"
    if block.type == "discount":
        expires = f" (valid until {block.text['expires']})" if block.text["expires"] else ""
        return f"{block.text['caption']}: {block.code}{expires}"
    parts = [block.text["title"]] if block.text.get("title") else []
    for card in block.cards:
        was = f" (was {card.compare_at})" if card.compare_at else ""
        parts.append(f"{card.title}: {card.price}{was}" + (f"\n{card.url}" if card.url else ""))
    for line in block.lines:
        if not line.unit_price:  # the lines not shown, summed
            parts.append(f"{line.title}: {line.total}")
            continue
        each = f" at {line.unit_price} each" if line.quantity > 1 else ""
        parts.append(f"{line.quantity} x {line.title}{each}: {line.total}")
    if block.totals is not None:
        parts += [f"{label}: {amount}" for label, amount in block.totals.rows]
        parts.append(f"Total: {block.totals.total}")
    return "\n".join(parts)
