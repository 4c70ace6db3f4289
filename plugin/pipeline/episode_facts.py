"""Assemble the FactSet a step is judged on, from the facts as they are now."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from plugin.pipeline import step_histories
from plugin.storage import browsing, facts_store
from plugin.storage.batch import Batch
from plugin.storage.models import Episode
from rules.definitions import Workflow
from rules.facts import Checkout, Customer, FactSet, Order

GUEST_PREFIX = facts_store.GUEST_PREFIX


def facts_for(batch: Batch, episode: Episode, workflow: Workflow, now: datetime) -> FactSet:
    """Load the episode's customer, subject and history into one FactSet."""
    shop_id = episode.shop_id
    checkout: Checkout | None = None
    order: Order | None = None
    if workflow.trigger.subject == "checkout":
        checkout = facts_store.load_checkout(batch, shop_id, episode.subject)
    elif workflow.trigger.subject == "order":
        order = facts_store.load_order(batch, shop_id, episode.subject)
    subject = checkout or order
    customer = _customer(batch, shop_id, episode.customer_external_id, subject)
    # the batch's histories, when the due-step stage prefetched them (plugin.pipeline.step_histories)
    orders = (
        step_histories.orders(batch, shop_id, customer.id)
        if not customer.id.startswith(GUEST_PREFIX)
        else ()
    )
    suppressed = bool(customer.email) and step_histories.is_suppressed(
        batch,
        shop_id,
        customer.email or "",
        "marketing" if workflow.category == "marketing" else "all",
    )
    last_marketing, last_abandonment = step_histories.last_email_at(
        batch, shop_id, customer.id, "marketing", "cart_abandonment"
    )
    return FactSet(
        now=now,
        customer=customer,
        checkout=checkout,
        order=order,
        orders=orders,
        anchor_at=episode.anchor_at,
        last_marketing_email_at=last_marketing,
        last_abandonment_email_at=last_abandonment,
        suppressed=suppressed,
        browsing=(
            browsing.load_browsing(batch.session, shop_id, customer.id, workflow, now)
            if browsing.needs_browsing(workflow)
            else None
        ),
    )


def _customer(batch: Batch, shop_id: int, key: str, subject: Checkout | Order | None) -> Customer:
    """The stored customer, or one made from the subject for guests.

    When the customer record says nothing about consent (API 2025-01+ payloads do not),
    the buyer's own consent checkbox on the checkout or order stands in for it.
    """
    customer = None
    # a guest checkout's buyer has no row; a storefront contact (customer subject) has one
    if not key.startswith(GUEST_PREFIX) or subject is None:
        customer = facts_store.load_customer(batch, shop_id, key)
    if customer is None:
        email = subject.email if subject is not None else None
        if email is None and key.startswith(GUEST_PREFIX):
            email = key[len(GUEST_PREFIX) :]
        customer = Customer(id=key, email=email)
    if customer.email is None and subject is not None and subject.email:
        customer = replace(customer, email=subject.email)
    if customer.accepts_marketing is None and subject is not None:
        customer = replace(customer, accepts_marketing=subject.accepts_marketing)
    return customer
