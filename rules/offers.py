"""The shop-wide offer policy, decided on a customer's codes: pure, given ``now``.

A step that creates a discount code is refused (skipped, with a reason that names the
policy) when the customer already holds ``max_open`` open codes, or got one fewer than
``min_days_between`` days ago. A code is open until it expires or the customer orders:
Nudge does not read which codes an order used, so an order closes every code given before
it (a code not used by that order stays valid in the shop until it expires, and is no
longer counted).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Offer:
    """A discount code a workflow gave the customer."""

    code: str
    given_at: datetime
    expires_at: datetime | None  # None: no expiry known (counted open until an order)
    workflow: str = ""


@dataclass(frozen=True)
class OfferPolicy:
    """How many open codes a customer may hold, and how far apart new ones come."""

    max_open: int = 1
    min_days_between: float = 14


def open_offers(
    offers: Iterable[Offer], last_order_at: datetime | None, now: datetime
) -> list[Offer]:
    """The codes still open at ``now``: unexpired, and given after the customer's last order."""
    return [
        offer
        for offer in offers
        if (offer.expires_at is None or offer.expires_at > now)
        and (last_order_at is None or offer.given_at > last_order_at)
    ]


def offer_refusal(
    policy: OfferPolicy, offers: Iterable[Offer], last_order_at: datetime | None, now: datetime
) -> str | None:
    """Why the policy refuses the customer another code now; None when it allows one.

    The reason holds the policy's numbers, never the customer's, so skips count by rule.
    """
    given = [offer for offer in offers if offer.given_at <= now]
    if len(open_offers(given, last_order_at, now)) >= policy.max_open:
        most = policy.max_open
        return f"offer policy: already holds {most} open discount code{'s' if most != 1 else ''}"
    latest = max((offer.given_at for offer in given), default=None)
    if latest is not None and now - latest < timedelta(days=policy.min_days_between):
        return f"offer policy: a discount code in the last {policy.min_days_between:g} days"
    return None
