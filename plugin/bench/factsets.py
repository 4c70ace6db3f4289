"""Synthetic fact sets for the rule-evaluation benchmark: one subject per core workflow
(``factsets``), and orders whose products the catalog describes, most of them, for the
benchmark's workflow that reads product attributes (``catalog_factsets``)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from rules.facts import Checkout, Customer, FactSet, LineItem, Order, Product

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
WORKFLOWS = ("cart_abandonment", "upsell", "purchase_cycle", "feedback_request", "reengagement")
CATALOG_WORKFLOW_NAME = "cross_sell_by_type"
TYPES = ("Coffee", "Tea", "Mugs", "Gift cards", "Grinders")
VENDORS = ("Northwind", "Botanica", "Acme")
TAGS = ("organic", "subscription", "gift", "limited", "bestseller")
COLLECTIONS = ("Best sellers", "New", "Kitchen", "Sale")
PRODUCTS = 60  # in the shop's catalog; a few more that it does not know


def _catalog(rng: random.Random) -> dict[str, Product]:
    """The shop's products: most described, some known only by their deletion, a few with
    collections not known (told by webhooks only)."""
    products = {}
    for n in range(1, PRODUCTS + 1):
        product_id = str(1000 + n)
        if rng.random() < 0.05:
            products[product_id] = Product(id=product_id, deleted=True)
            continue
        products[product_id] = Product(
            id=product_id,
            title=f"Product {n}",
            product_type=rng.choice(TYPES),
            vendor=rng.choice(VENDORS),
            tags=tuple(rng.sample(TAGS, rng.randrange(4))),
            collections=tuple(rng.sample(COLLECTIONS, rng.randrange(3)))
            if rng.random() < 0.9
            else None,
        )
    return products


def _lines(rng: random.Random, catalog: dict[str, Product], count: int) -> tuple[LineItem, ...]:
    """Order lines as Shopify sends them: product and variant ids, the vendor; now and then
    a product the catalog does not know (yet)."""
    lines = []
    for _ in range(count):
        unknown = rng.random() < 0.04
        product_id = (
            str(5000 + rng.randrange(20)) if unknown else str(1001 + rng.randrange(PRODUCTS))
        )
        product = catalog.get(product_id)
        lines.append(
            LineItem(
                product_id=product_id,
                variant_id=product_id + "01",
                vendor=product.vendor if product is not None and rng.random() < 0.8 else None,
                price=Decimal(rng.randrange(300, 6_000)) / 100,
            )
        )
    return tuple(lines)


def _maybe(rng: random.Random, share: float, value: datetime) -> datetime | None:
    return value if rng.random() < share else None


def _orders(rng: random.Random, customer_id: str, count: int) -> tuple[Order, ...]:
    """A history, newest first: orders some days apart, a few cancelled or refunded."""
    moments = sorted(
        (NOW - timedelta(days=rng.uniform(1, 400)) for _ in range(count)), reverse=True
    )
    return tuple(
        Order(
            id=f"{customer_id}-o{i}",
            customer_id=customer_id,
            checkout_token=f"{customer_id}-c{rng.randrange(4)}" if rng.random() < 0.3 else None,
            value=Decimal(rng.randrange(0, 30_000)) / 100,
            created_at=moment,
            fulfilled_at=_maybe(rng, 0.7, moment + timedelta(days=rng.uniform(0, 5))),
            cancelled_at=_maybe(rng, 0.05, moment + timedelta(hours=2)),
            refunded=rng.random() < 0.05,
        )
        for i, moment in enumerate(moments)
    )


def _shopper(rng: random.Random, cid: str) -> tuple[Customer, tuple[Order, ...]]:
    """A customer and their order history."""
    orders = _orders(rng, cid, rng.choice((0, 0, 1, 1, 2, 3, 5, 8)))
    customer = Customer(
        id=cid,
        email=f"{cid}@example.com" if rng.random() < 0.95 else None,
        accepts_marketing=rng.choice((True, True, False, None)),
        orders_count=rng.choice((None, len(orders))),
        last_engaged_at=_maybe(rng, 0.6, NOW - timedelta(days=rng.uniform(0, 200))),
        mean_days_between_orders=rng.choice((None, rng.uniform(10, 90))),
        created_at=NOW - timedelta(days=rng.uniform(0, 700)),
    )
    return customer, orders


def factsets(count: int, seed: int = 11) -> Iterator[tuple[str, FactSet]]:
    """``count`` (workflow, facts) pairs, the five workflows in turn, deterministic per seed."""
    rng = random.Random(seed)
    for n in range(count):
        workflow = WORKFLOWS[n % len(WORKFLOWS)]
        cid = f"c{n}"
        customer, orders = _shopper(rng, cid)
        checkout = order = None
        anchor = None
        if workflow == "cart_abandonment":
            created = NOW - timedelta(hours=rng.uniform(1, 120))
            checkout = Checkout(
                token=f"{cid}-c{rng.randrange(4)}",
                customer_id=cid,
                email=customer.email,
                value=Decimal(rng.randrange(500, 20_000)) / 100,
                created_at=created,
                updated_at=_maybe(rng, 0.8, created + timedelta(minutes=rng.uniform(0, 90))),
                completed_at=_maybe(rng, 0.1, created + timedelta(hours=1)),
            )
        elif workflow in ("upsell", "feedback_request"):
            order = orders[rng.randrange(len(orders))] if orders else _orders(rng, cid, 1)[0]
        else:
            anchor = NOW - timedelta(days=rng.uniform(0, 60))
        yield (
            workflow,
            FactSet(
                now=NOW,
                customer=customer,
                checkout=checkout,
                order=order,
                orders=orders,
                anchor_at=anchor,
                last_marketing_email_at=_maybe(
                    rng, 0.5, NOW - timedelta(hours=rng.uniform(1, 400))
                ),
                last_abandonment_email_at=_maybe(
                    rng, 0.3, NOW - timedelta(days=rng.uniform(0, 40))
                ),
                suppressed=rng.random() < 0.03,
            ),
        )


def catalog_factsets(count: int, seed: int = 11) -> Iterator[FactSet]:
    """``count`` fact sets for the workflow that reads product attributes: an order with its
    lines, what the customer ordered before, and the catalog's products they name (as the
    due-step stage loads them), deterministic per seed."""
    rng = random.Random(seed + 1)
    shop_catalog = _catalog(rng)
    for n in range(count):
        cid = f"p{n}"
        customer, orders = _shopper(rng, cid)
        subject = orders[rng.randrange(len(orders))] if orders else _orders(rng, cid, 1)[0]
        order = replace(subject, items=_lines(rng, shop_catalog, rng.choice((1, 1, 2, 3, 4))))
        ordered = _lines(rng, shop_catalog, rng.choice((0, 1, 2, 4, 8)))
        named = {item.product_id for item in (*order.items, *ordered)}
        yield FactSet(
            now=NOW,
            customer=customer,
            order=order,
            orders=orders,
            last_marketing_email_at=_maybe(rng, 0.5, NOW - timedelta(hours=rng.uniform(1, 400))),
            suppressed=rng.random() < 0.03,
            catalog={k: shop_catalog[k] for k in named if k is not None and k in shop_catalog},
            ordered_items=ordered,
        )
