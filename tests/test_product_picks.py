"""The products an email shows, chosen from the stored model and the catalog as it is now."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from plugin.emails.designs import DESIGNS
from plugin.emails.render import email_blocks, render_email
from plugin.pipeline.product_picks import product_context, wanted_sources
from plugin.storage import recommendations as stored
from plugin.storage.batch import begin_batch
from plugin.storage.models import OrderRow, ProductRhythmRow, ProductRow
from rules.facts import Customer, FactSet
from rules.recommend import OrderLines, build
from tests.support.clock import T0

SHOP_URL = "https://test-shop.myshopify.com"


@pytest.fixture
def stocked(services, shop):  # type: ignore[no-untyped-def]
    """Six products, each of a different standing, and a model in which every one sold."""
    products = {
        "beans": dict(status="active", available=True, created_at=T0 - timedelta(days=200)),
        "mug": dict(status="active", available=True, created_at=T0 - timedelta(days=200)),
        "kettle": dict(status="active", available=True, created_at=T0 - timedelta(days=3)),
        "draft": dict(status="draft", available=True, created_at=T0 - timedelta(days=2)),
        "archived": dict(status="archived", available=True, created_at=T0 - timedelta(days=200)),
        "sold_out": dict(status="active", available=False, created_at=T0 - timedelta(days=1)),
        "deleted": dict(status="active", available=True, created_at=T0 - timedelta(days=1)),
    }
    sales = {"draft": 9, "archived": 8, "sold_out": 7, "deleted": 6, "beans": 5, "mug": 4}
    orders = [
        OrderLines(f"c{product}{n}", T0 - timedelta(days=2), (product,))
        for product, count in sales.items()
        for n in range(count)
    ]
    with services.sessions() as session, session.begin():
        for product_id, state in products.items():
            session.add(
                ProductRow(
                    shop_id=shop.id,
                    product_id=product_id,
                    title=product_id.replace("_", " ").title(),
                    handle=product_id,
                    image_url=f"https://cdn.example/{product_id}.png",
                    price=Decimal("10.00"),
                    variants=[],
                    deleted_at=T0 if product_id == "deleted" else None,
                    **state,
                )
            )
        session.add(
            OrderRow(
                shop_id=shop.id,
                external_id="1",
                customer_external_id="ann",
                created_at=T0 - timedelta(days=30),
                items=[{"product_id": "mug", "title": "Mug", "quantity": 1, "price": "10"}],
            )
        )
        stored.save_model(
            session,
            shop.id,
            build(orders, T0),
            replacing=None,
            orders_through=0,
            built_at=T0,
            rescored_at=T0,
            now=T0,
        )
    return shop


def picks(services, shop, template: str, customer: Customer) -> dict:  # type: ignore[no-untyped-def]
    facts = FactSet(now=T0, customer=customer)
    with begin_batch(services.sessions) as batch:
        return product_context(batch, shop.id, SHOP_URL, facts, email_blocks(template), T0)


def ids(context: dict, source: str) -> list[str]:
    return [card["id"] for card in context.get(source, [])]


def test_welcome_best_sellers_are_the_offered_products_that_sell(services, stocked):
    context = picks(services, stocked, "welcome_bestsellers", Customer(id="new"))
    assert ids(context, "best_sellers") == ["beans", "mug"]  # draft, archived... never
    card = context["best_sellers"][0]
    assert card["url"] == f"{SHOP_URL}/products/beans"
    assert card["image_url"] == "https://cdn.example/beans.png"


def test_winback_shows_best_sellers_and_what_is_new_never_what_they_bought(services, stocked):
    context = picks(services, stocked, "winback", Customer(id="ann"))
    assert ids(context, "best_sellers") == ["beans"]  # ann bought the mug
    assert ids(context, "new_arrivals") == ["kettle"]  # new and offered; it has not sold yet
    html = render_email("winback", {"shop_url": SHOP_URL, **context}).html
    assert "New since your last visit" in html and "https://cdn.example/kettle.png" in html


def test_only_the_sources_an_email_shows_are_worked_out(services, stocked):
    assert picks(services, stocked, "welcome", Customer(id="new")) == {}
    assert wanted_sources(DESIGNS["upsell"].blocks) == {"recommendations": 4}
    assert wanted_sources([{"type": "products", "source": "best_sellers", "limit": 99}]) == {
        "best_sellers": 12
    }


def test_a_shop_without_a_model_still_has_new_arrivals(services, shop):
    with services.sessions() as session, session.begin():
        session.add(
            ProductRow(
                shop_id=shop.id,
                product_id="tea",
                title="Tea",
                status="active",
                available=True,
                created_at=T0 - timedelta(days=1),
                variants=[],
            )
        )
    context = picks(services, shop, "winback", Customer(id="ann"))
    assert "best_sellers" not in context and ids(context, "new_arrivals") == ["tea"]


def test_a_replenishment_names_the_product_due_first_only_while_it_is_offered(services, stocked):
    def rhythm(product_id: str, due_in_days: int) -> ProductRhythmRow:
        last = T0 - timedelta(days=30 - due_in_days)
        return ProductRhythmRow(
            shop_id=stocked.id,
            customer_external_id="ann",
            product_id=product_id,
            orders=2,
            first_at=last - timedelta(days=30),
            last_at=last,
            last_order_external_id="1",
            expected_at=last + timedelta(days=30),
        )

    with services.sessions() as session, session.begin():
        session.add_all([rhythm("beans", 2), rhythm("mug", 9)])
    context = picks(services, stocked, "replenishment", Customer(id="ann"))
    assert ids(context, "reorder_items") == ["beans"]
    assert context["reorder_product"] == "Beans"
    assert context["reorder_url"] == f"{SHOP_URL}/products/beans"
    with services.sessions() as session, session.begin():
        session.add(rhythm("deleted", 1))  # due sooner, but no longer sold
    context = picks(services, stocked, "replenishment", Customer(id="ann"))
    assert "reorder_items" not in context and "reorder_product" not in context
    rendered = render_email("replenishment", {"shop_url": SHOP_URL, **context})
    assert rendered.subject == "Running low on what you ordered? Time to restock"
