"""The products an email shows, chosen when its step fires, from the shop's model and
catalog as they are then.

An email's product blocks name their sources (``rules.email_content.PRODUCT_SOURCES``);
only the sources its blocks use are worked out:

- ``recommendations``: what this shop's buyers of the order's (or cart's) products also
  bought (``Model.also_bought``), best sellers filling the rest;
- ``best_sellers`` and ``new_arrivals``: the shop's, lately;
- ``reorder_items``: the product the customer is due to re-order, at its own rhythm;
- ``cart_items`` and ``order_items``: the lines, each with its product's image and link.

Never a product the customer bought before or has in the cart, and never one the catalog
does not offer now (deleted, draft, archived, sold out): the model knows only orders, the
catalog is read when the email is written (once per batch of steps).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from plugin.storage import facts_store
from plugin.storage import recommendations as stored
from plugin.storage.batch import Batch
from rules.email_content import DEFAULT_PRODUCT_LIMIT, PRODUCT_LIMIT
from rules.facts import Checkout, FactSet, Order, Product
from rules.recommend import Model, ProductState, Recommendation, build
from rules.reorder import ProductRhythm, soonest_due

CARD_SOURCES = frozenset({"recommendations", "best_sellers", "new_arrivals", "reorder_items"})


def wanted_sources(blocks: Iterable[Any]) -> dict[str, int]:
    """The product sources the blocks show, each with the most products one block asks."""
    wanted: dict[str, int] = {}
    for block in blocks:
        if not isinstance(block, Mapping) or block.get("type") != "products":
            continue
        source, limit = block.get("source"), block.get("limit")
        if not isinstance(source, str):
            continue
        low, high = PRODUCT_LIMIT
        count = DEFAULT_PRODUCT_LIMIT
        if isinstance(limit, int) and not isinstance(limit, bool):
            count = max(low, min(high, limit))
        wanted[source] = max(wanted.get(source, 0), count)
    return wanted


def product_context(
    batch: Batch,
    shop_id: int,
    shop_url: str,
    facts: FactSet,
    blocks: Iterable[Any],
    now: datetime,
) -> dict[str, Any]:
    """The context entries the blocks' product sources read; nothing for other blocks."""
    wanted = wanted_sources(blocks)
    if not wanted:
        return {}
    session = batch.session
    in_cart = _product_ids(facts.checkout.items if facts.checkout else ())
    in_order = _product_ids(facts.order.items if facts.order else ())
    found: dict[str, Any] = {}
    picks: dict[str, list[str]] = {}
    if wanted.keys() & CARD_SOURCES:
        model, offered = _shop_model(batch, shop_id, now)
        bought = set(in_order)
        if not facts.customer.id.startswith(facts_store.GUEST_PREFIX):
            items = facts.ordered_items or facts_store.load_ordered_items(
                session, shop_id, facts.customer.id
            )
            bought.update(_product_ids(items))
        exclude = bought | set(in_cart)
        seeds = in_order or in_cart
        for source, k in wanted.items():
            chosen: list[Recommendation] = []
            if source == "recommendations":
                chosen = model.also_bought(seeds, offered, exclude, k)
            elif source == "best_sellers":
                chosen = model.best_sellers(offered, exclude, k)
            elif source == "new_arrivals":
                chosen = model.new_arrivals(offered, now, exclude, k)
            if chosen:
                picks[source] = [pick.product_id for pick in chosen]
        if "reorder_items" in wanted and not facts.customer.id.startswith(facts_store.GUEST_PREFIX):
            due = _due_product(session, shop_id, facts.customer.id, offered)
            if due is not None:
                picks["reorder_items"] = [due.product_id]
    named = [*in_cart, *in_order, *(p for ids in picks.values() for p in ids)]
    catalog = facts_store.load_products(batch, shop_id, named, read_only=True)
    for source, ids in picks.items():
        cards = [product_card(catalog[p], shop_url) for p in ids if p in catalog]
        if cards:
            found[source] = cards
    if found.get("reorder_items"):
        found["reorder_product"] = found["reorder_items"][0]["title"]
        found["reorder_url"] = found["reorder_items"][0]["url"]
    if "cart_items" in wanted and facts.checkout is not None:
        found["cart"] = lines(facts.checkout, catalog, shop_url)
    if "order_items" in wanted and facts.order is not None:
        found["order"] = lines(facts.order, catalog, shop_url)
    return found


def product_card(product: Product, shop_url: str) -> dict[str, Any]:
    """A product as the email's product cards read it."""
    return {
        "id": product.id,
        "title": product.title,
        "url": product_url(product, shop_url),
        "image_url": product.image_url,
        "price": product.price,
        "compare_at_price": product.compare_at_price,
    }


def product_url(product: Product, shop_url: str) -> str | None:
    """The product's page: as the Admin API gave it, else the shop's /products/<handle>."""
    if product.url:
        return product.url
    return f"{shop_url}/products/{product.handle}" if product.handle else None


def lines(
    subject: Checkout | Order, catalog: Mapping[str, Product], shop_url: str
) -> dict[str, Any]:
    """A cart's or order's lines and total, each line with its product's image and link
    when the catalog knows the product."""
    items = []
    for item in subject.items:
        line: dict[str, Any] = {"title": item.title, "quantity": item.quantity, "price": item.price}
        product = catalog.get(item.product_id or "")
        if product is not None and product.described and not product.deleted:
            line.update(url=product_url(product, shop_url), image_url=product.image_url)
        items.append(line)
    return {"items": items, "total": subject.value, "currency": subject.currency}


def _product_ids(items: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(item.product_id for item in items if item.product_id))


def _shop_model(batch: Batch, shop_id: int, now: datetime) -> tuple[Model, dict[str, ProductState]]:
    """The shop's model and the products its catalog offers now, read once per batch.

    A shop the worker has built no model for yet (no orders) still has new arrivals: an
    empty model answers them from the catalog alone.
    """
    held = batch.recommending.get(shop_id)
    if held is None:
        model = stored.load_model(batch.session, shop_id) or build((), now)
        held = batch.recommending[shop_id] = (
            model,
            facts_store.product_states(batch.session, shop_id),
        )
    return held


def _due_product(
    session: Any, shop_id: int, customer_id: str, offered: Mapping[str, ProductState]
) -> ProductRhythm | None:
    """The product the customer is due to re-order first, at its own rhythm, if the shop
    still offers it (else none: the email must not name one that is not due)."""
    due = soonest_due(stored.load_rhythms(session, shop_id, customer_id))
    state = offered.get(due.product_id) if due is not None else None
    return due if state is not None and state.recommendable else None
