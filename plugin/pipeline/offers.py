"""The offer policy at decision time: a customer's discount codes as the outbox holds them
(those this transaction queued included), judged by ``rules.offers``; and the series that
end each other when a customer enters one of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, inspect, select

from plugin.pipeline.exits import end_episode
from plugin.storage import batch_episodes
from plugin.storage.batch import Batch
from plugin.storage.facts_store import NOT_SENT
from plugin.storage.models import Episode, OutboxMessage
from rules.facts import FactSet
from rules.offers import Offer, OfferPolicy, offer_refusal

_OFFERS = select(OutboxMessage.params, OutboxMessage.created_at, OutboxMessage.workflow).where(
    OutboxMessage.shop_id == bindparam("shop"),
    OutboxMessage.customer_external_id == bindparam("customer"),
    OutboxMessage.kind == "create_discount",
    # a code Shopify refused (failed) was never given
    OutboxMessage.state.not_in(NOT_SENT),
)


def policy_of(settings: dict[str, Any]) -> OfferPolicy:
    """The shop's offer policy, from its settings as ``shop_settings`` merges them."""
    offers = settings["offers"]
    return OfferPolicy(
        max_open=int(offers["max_open_per_customer"]),
        min_days_between=float(offers["min_days_between"]),
    )


def customer_offers(batch: Batch, shop_id: int, customer: str) -> list[Offer]:
    """Every code given to the customer: stored, and queued by this transaction unflushed."""
    with batch.session.no_autoflush:  # the queued ones are counted below
        rows = batch.session.execute(_OFFERS, {"shop": shop_id, "customer": customer}).all()
    found = [_offer(params, created_at, workflow) for params, created_at, workflow in rows]
    for row in batch.queued.get((shop_id, customer), ()):
        if inspect(row).pending and row.kind == "create_discount" and row.state not in NOT_SENT:
            found.append(_offer(row.params, row.created_at, row.workflow))
    return found


def _offer(params: dict[str, Any], created_at: datetime, workflow: str) -> Offer:
    expires = params.get("expires_at") if isinstance(params, dict) else None
    return Offer(
        code=str((params or {}).get("code") or ""),
        given_at=created_at,
        expires_at=datetime.fromisoformat(expires) if isinstance(expires, str) else None,
        workflow=workflow,
    )


def refusal(
    batch: Batch, shop_id: int, customer: str, facts: FactSet, settings: dict[str, Any]
) -> str | None:
    """Why the shop's policy refuses this customer another code now (None: it allows one)."""
    placed = [o.created_at for o in facts.orders if o.created_at and o.cancelled_at is None]
    last_order = max([*placed, *filter(None, [facts.customer.last_order_at])], default=None)
    offers = customer_offers(batch, shop_id, customer)
    return offer_refusal(policy_of(settings), offers, last_order, facts.now)


def end_overlapping(
    batch: Batch, episode: Episode, settings: dict[str, Any], now: datetime
) -> None:
    """End the customer's running episodes in the series that overlap the one just entered
    (``offers.exclusive_series``): a welcome subscriber who enters lead nurturing leaves the
    welcome series, and gets one first-order code, not two."""
    others: set[str] = set()
    for group in settings["offers"]["exclusive_series"]:
        if episode.workflow in group:
            others.update(name for name in group if name != episode.workflow)
    if not others:
        return
    for running in batch_episodes.active_of_customers(
        batch, episode.shop_id, {episode.customer_external_id}, others
    ):
        if running.state == "active" and running is not episode:
            end_episode(batch, running, "exited", f"exit: entered {episode.workflow}", now)
