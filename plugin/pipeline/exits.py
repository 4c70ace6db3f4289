"""End episodes: those an event exits, and any whose steps are all decided; credit an order
to the episodes that messaged its buyer in the week before it.

An ended episode's pending steps are cancelled through its batch
(``plugin.storage.batch_episodes.cancel_steps``), which holds the cancels of the episodes
it ends back to write them in one statement.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from plugin.shop_settings.workflows import ShopWorkflow
from plugin.storage import batch_episodes, facts_store
from plugin.storage.batch import Batch
from plugin.storage.facts_store import guest_key
from plugin.storage.models import Episode, Shop
from rules import events as ev
from rules.events import Event


def event_customer_keys(event: Event) -> set[str]:
    """The keys of the customers an event names: by id, and by address as guests."""
    keys: set[str] = set()
    for fact in (event.customer, event.order, event.checkout):
        if fact is None:
            continue
        customer_id = fact.id if fact is event.customer else getattr(fact, "customer_id", None)
        if customer_id:
            keys.add(str(customer_id))
        email = getattr(fact, "email", None)
        if email:
            keys.add(guest_key(email))
    if event.engagement is not None:
        keys.add(guest_key(event.engagement.email))
    return keys


def exit_episodes(
    batch: Batch, shop: Shop, event: Event, workflows: dict[str, ShopWorkflow], now: datetime
) -> None:
    """End the active episodes this event exits (e.g. an order ends cart abandonment)."""
    names = [name for name, sw in workflows.items() if event.kind in sw.workflow.exit_on]
    if not names:
        return
    keys = event_customer_keys(event)
    if event.engagement is not None:
        customer = facts_store.find_customer_by_email(
            batch.session, shop.id, event.engagement.email
        )
        if customer:
            keys.add(customer)
    subjects: set[str] = set()
    if event.order is not None:
        subjects.update(t for t in (event.order.checkout_token, event.order.cart_token) if t)
    own_subject = event.order.id if event.order is not None else None
    ordered_at = event.order.created_at if event.order is not None else None
    # Two indexed lookups (by customer, by subject) rather than one OR that scans.
    found = dict.fromkeys(batch_episodes.active_of_customers(batch, shop.id, keys, names))
    found.update(dict.fromkeys(batch_episodes.active_of_subjects(batch, shop.id, subjects, names)))
    for episode in found:
        if episode.state != "active" or (
            own_subject is not None and episode.subject == own_subject
        ):
            continue
        if _cart_after_order(episode, workflows, subjects, ordered_at):
            continue
        end_episode(batch, episode, "exited", f"exit: {event.kind}", now)


def _cart_after_order(
    episode: Episode,
    workflows: dict[str, ShopWorkflow],
    order_carts: set[str],
    ordered_at: datetime | None,
) -> bool:
    """Whether the episode follows a cart whose last activity came after the order was
    placed, and that is not the order's own cart: a cart begun after ordering. Orders can
    arrive well after they were placed (WooCommerce delivers its webhooks from a queue run
    by the site's cron), by which time the buyer may have a new cart; that order does not end
    it. Both times are the store's (the cart's ``updated_at``, the order's creation)."""
    shop_workflow = workflows.get(episode.workflow)
    if ordered_at is None or shop_workflow is None or episode.subject in order_carts:
        return False
    if shop_workflow.workflow.trigger.subject != "checkout":
        return False
    return _utc(episode.anchor_at) > _utc(ordered_at)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


ATTRIBUTION = timedelta(days=7)


def attribute_order(batch: Batch, shop: Shop, event: Event, now: datetime) -> None:
    """Credit an order to the episodes that messaged this customer in the week before it.

    Holdout decisions count too, so converted holdouts measure the lift. Single-step
    workflows (upsell) are complete by the time the order comes, so this looks past state.
    """
    if event.kind != ev.ORDER_PLACED or event.order is None:
        return
    keys = event_customer_keys(event)
    ordered_at = event.order.created_at or now
    for episode in batch_episodes.touched_before_order(
        batch, shop.id, keys, event.order.id, ordered_at - ATTRIBUTION, ordered_at
    ):
        if episode.converted_at is None:
            episode.converted_at = ordered_at


def end_episode(batch: Batch, episode: Episode, state: str, reason: str, now: datetime) -> None:
    """Close an episode and cancel whatever it still had pending (held back in the batch:
    plugin.storage.batch_episodes.cancel_steps)."""
    episode.state = state
    episode.exit_reason = reason
    episode.ended_at = now
    batch_episodes.cancel_steps(batch, episode, reason, now)
