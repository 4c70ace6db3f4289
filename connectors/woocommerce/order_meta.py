"""The meta keys Nudge's WordPress plugin (and Nudge's own API calls) write, and how they read.

WooCommerce delivers an object's meta as ``meta_data``: ``[{"id", "key", "value"}]``.
"""

from __future__ import annotations

from typing import Any

from connectors.errors import MalformedPayload

CONSENT = "_nudge_accepts_marketing"
"""Order meta: ``yes`` or ``no``, the checkout's marketing opt-in box as the buyer left it."""

CART_KEY = "_nudge_cart_key"
"""Order meta: the key of the cart the order was placed from (a ``nudge.cart_updated`` cart)."""

TAGS = "nudge_tags"
"""Customer meta: the tags Nudge gave the customer, comma-separated. Without the leading
underscore, so the merchant sees it on the user's profile and the REST API returns it."""


def meta_values(value: Any) -> dict[str, Any]:
    """An object's meta as a dict, key -> value (the first entry of a repeated key wins)."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise MalformedPayload("meta_data is not a list")
    found: dict[str, Any] = {}
    for entry in value:
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            found.setdefault(entry["key"], entry.get("value"))
    return found


def consent(value: Any) -> bool | None:
    """``yes`` -> True, ``no`` -> False; anything else (absent, garbled) says nothing."""
    if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
        return value.strip().lower() == "yes"
    return None


def tag_list(value: Any) -> tuple[str, ...]:
    """Tags from their comma-separated meta value (an empty or odd value: no tags)."""
    if not isinstance(value, str):
        return ()
    return tuple(dict.fromkeys(tag.strip() for tag in value.split(",") if tag.strip()))


def tag_text(tags: list[str] | tuple[str, ...]) -> str:
    """The meta value for a list of tags (commas inside a tag would split it: dropped)."""
    return ", ".join(dict.fromkeys(t.replace(",", " ").strip() for t in tags if t.strip()))
