"""Assemble the FactSet a step is judged on, from the facts as they are now.

Line items keep what their payload said; a workflow whose conditions read product
attributes gets the catalog's products that its facts name (``FactSet.catalog``), and one
that reads the customer's history of them gets the items of their orders too
(``FactSet.ordered_items``). A product the catalog does not know is absent: the variables
say "unknown" (rules.variables). The inbox looked such products up when the order or
checkout arrived (plugin.shopify_app.catalog_sync.look_up), so a decision never waits on
the Admin API.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from plugin.pipeline import step_histories
from plugin.storage import browsing, facts_store, recommendations
from plugin.storage.batch import Batch
from plugin.storage.models import Episode
from rules.definitions import Workflow
from rules.facts import Checkout, Customer, FactSet, LineItem, Order
from rules.variables import CATALOG_VARIABLES, HISTORY_PRODUCT_VARIABLES

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
    reads_catalog, reads_history, reads_rhythms = catalog_reads(workflow)
    ordered: tuple[LineItem, ...] = ()
    if reads_history and not customer.id.startswith(GUEST_PREFIX):
        ordered = facts_store.load_ordered_items(batch.session, shop_id, customer.id)
    catalog = {}
    if reads_catalog:
        named = [item.product_id for item in (*(subject.items if subject else ()), *ordered)]
        catalog = facts_store.load_products(batch, shop_id, named, read_only=True)
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
        catalog=catalog,
        ordered_items=ordered,
        product_rhythms=(
            recommendations.load_rhythms(batch.session, shop_id, customer.id)
            if reads_rhythms and not customer.id.startswith(GUEST_PREFIX)
            else ()
        ),
    )


_reads: dict[int, tuple[Workflow, tuple[bool, bool, bool]]] = {}
RHYTHM_VARIABLES = frozenset({"days_until_product_reorder"})


def catalog_reads(workflow: Workflow) -> tuple[bool, bool, bool]:
    """Whether a workflow's conditions read the catalog, whether they read the customer's
    history of products, and their rhythms per product (worked out once per workflow
    object)."""
    known = _reads.get(id(workflow))
    if known is None or known[0] is not workflow:
        named: set[str] = set()
        for step in workflow.steps:
            _names(step.conditions, named)
        reads = (
            bool(named & CATALOG_VARIABLES),
            bool(named & HISTORY_PRODUCT_VARIABLES),
            bool(named & RHYTHM_VARIABLES),
        )
        if len(_reads) > 1024:
            _reads.clear()
        known = _reads[id(workflow)] = (workflow, reads)
    return known[1]


def _names(node: Any, found: set[str]) -> None:
    """The variables a condition tree names, added to ``found``."""
    if not isinstance(node, dict):
        return
    for group in ("all", "any"):
        for member in node.get(group) or ():
            _names(member, found)
    if isinstance(node.get("name"), str):
        found.add(node["name"])


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
