"""Shop-wide policies (send window, frequency cap, sender, postal address, offers) and their
defaults."""

from __future__ import annotations

from copy import deepcopy
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rules.attribution import Windows
from rules.scheduling import next_in_send_window

if TYPE_CHECKING:
    from plugin.storage.batch import Batch
    from plugin.storage.models import Shop

DEFAULT_SETTINGS: dict[str, Any] = {
    "name": None,  # shown in emails; the domain when unset
    "timezone": "UTC",  # used when the customer's own timezone is unknown
    "send_window": {"start_hour": 9, "end_hour": 21},
    "frequency_cap_hours": 16,  # at most one marketing email per this many hours
    "capped_action": "defer",  # defer | drop
    "from_email": None,
    "from_name": None,
    "reply_to": None,
    "staff_email": None,
    "asm_group_id": None,
    # "street, city, country": every marketing email shows it (CAN-SPAM); while a shop has
    # none, its marketing email is held (plugin.pipeline.held), transactional email goes
    "postal_address": None,
    # discount codes the workflows give one customer (plugin.pipeline.offers)
    "offers": {
        # at most this many codes open (unexpired, no order since) at once
        "max_open_per_customer": 1,
        # and none sooner than this many days after the customer's previous code
        "min_days_between": 14,
        # series that overlap: entering one ends the others' running episodes
        "exclusive_series": [["welcome_series", "lead_nurturing"]],
    },
    # last-touch attribution of orders to messages (rules.attribution): an order placed this
    # many days after a click in a message, or after its delivery, is credited to it
    "attribution": {"click_window_days": 5, "delivery_window_days": 1},
    # the storefront script's on-site overlay for anonymous visitors (plugin.storefront.routes)
    "storefront": {
        "overlay_enabled": True,
        "delay_seconds": 15,
        "exit_intent": True,
        "headline": "Before you go",
        "text": "Get our news and tips by email.",
        "offer": "",
        "button": "Sign me up",
        "topics": [],  # offered in the form; the topics of enabled topic series are added
    },
}
# the overlay's texts and their longest lengths (they share a small box on the storefront)
OVERLAY_TEXTS = {"headline": 80, "text": 300, "offer": 120, "button": 40}


def shop_settings(stored: dict[str, Any] | None) -> dict[str, Any]:
    """Return the shop's settings with defaults filled in (nested dicts merged)."""
    merged = deepcopy(DEFAULT_SETTINGS)
    for key, value in (stored or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def postal_address(settings: dict[str, Any]) -> str | None:
    """The address marketing email must show, or None when the shop has not given one."""
    address = settings.get("postal_address")
    return address.strip() if isinstance(address, str) and address.strip() else None


def attribution_windows(settings: dict[str, Any]) -> Windows:
    """The shop's attribution windows; ``settings`` as ``shop_settings`` gives."""
    windows = settings["attribution"]
    return Windows(
        click_days=float(windows["click_window_days"]),
        delivery_days=float(windows["delivery_window_days"]),
    )


def staff_address(shop: Shop, settings: dict[str, Any]) -> str | None:
    """Where test emails and staff alerts go: the staff address unless it still waits for
    its confirmation link (plugin.web.staff_address), else the owner's from the install."""
    staff = settings.get("staff_email")
    pending = shop.staff_email_unconfirmed
    if isinstance(staff, str) and staff and not (pending and staff.lower() == pending.lower()):
        return staff
    return shop.email


def settings_for_reading(batch: Batch, shop: Shop) -> dict[str, Any]:
    """``shop_settings`` of the shop, merged once per batch while its stored settings stay
    the same object: a batch decides and enrolls hundreds of one shop's steps, each asking,
    and the merge is a deep copy. Shared, so read it, don't change it."""
    held = batch.settings.get(shop.id)
    if held is None or held[0] is not shop.settings:
        held = batch.settings[shop.id] = (shop.settings, shop_settings(shop.settings))
    merged: dict[str, Any] = held[1]
    return merged


def send_window_opens(settings: dict[str, Any], timezone: str | None, at: datetime) -> datetime:
    """The first moment at or after ``at`` inside the shop's send window, in the customer's
    timezone (the shop's when theirs is unknown). ``settings`` as ``shop_settings`` gives."""
    window = settings["send_window"]
    return next_in_send_window(
        at, timezone or settings["timezone"], window["start_hour"], window["end_hour"]
    )
