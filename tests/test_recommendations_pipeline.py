"""Recommendations through the pipeline: real product and order payloads in, the worker keeps
the shop's model, and the emails that fire carry what this shop's buyers also bought."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from plugin.pipeline.recommender import refresh_models
from plugin.storage import recommendations as stored
from plugin.storage.models import (
    OrderRow,
    OutboxMessage,
    ProductRhythmRow,
    RecommendationModel,
    Shop,
)
from tests.support.recorded import load_fixture

IPOD = json.loads(load_fixture("shopify/products_create.json"))  # the real products/create
ORDER = json.loads(load_fixture("shopify/orders_create.json"))  # the real orders/create

IPOD_ID = str(IPOD["id"])
SNOWBOARD_ID = str(ORDER["line_items"][0]["product_id"])  # what the real order bought
PEN_ID = "6122640146581"  # what the real 2020 order bought
SNOWBOARD_IMAGE = "https://cdn.shopify.com/s/files/1/0005/4838/0009/products/snowboard.png"
PEN_IMAGE = "https://cdn.shopify.com/s/files/1/0005/4838/0009/products/pen.png"


def product(product_id: str, title: str, image: str) -> dict[str, Any]:
    """The real products/create payload, made another product of the same shop."""
    payload = copy.deepcopy(IPOD)
    payload.update(id=int(product_id), title=title, handle=title.lower().replace(" ", "-"))
    for picture in [payload["image"], *payload["images"]]:
        picture.update(src=image, product_id=int(product_id))
    for n, variant in enumerate(payload["variants"]):
        variant.update(id=int(product_id) * 10 + n, product_id=int(product_id))
    return payload


def order(order_id: int, customer: int, at, *products: tuple[str, str]) -> dict[str, Any]:
    """The real orders/create payload, placed by another customer for other products."""
    payload = copy.deepcopy(ORDER)
    email = f"buyer{customer}@example.com"
    stamp = at.isoformat()
    payload.update(
        id=order_id,
        name=f"#{order_id}",
        email=email,
        contact_email=email,
        checkout_token=f"checkout-{order_id}",
        cart_token=None,
        created_at=stamp,
        updated_at=stamp,
        processed_at=stamp,
        buyer_accepts_marketing=True,
    )
    consent = {"state": "subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": stamp}
    payload["customer"] = {
        **payload["customer"],
        "id": customer,
        "email": email,
        "email_marketing_consent": consent,  # as customers/create said it before 2025-01
    }
    line = payload["line_items"][0]
    payload["line_items"] = [
        {**line, "id": order_id * 10 + n, "product_id": int(pid), "title": title, "name": title}
        for n, (pid, title) in enumerate(products)
    ]
    return payload


IPOD_LINE = (IPOD_ID, IPOD["title"])
SNOWBOARD_LINE = (SNOWBOARD_ID, "The Collection Snowboard: Hydrogen")
PEN_LINE = (PEN_ID, "Classic Fountain Pen")


def stock_the_shop(send_webhook, clock) -> None:
    """The catalog, and buyers of the iPod who also bought a snowboard (three) or a pen (four)."""
    send_webhook("products/create", IPOD)
    send_webhook("products/create", product(SNOWBOARD_ID, SNOWBOARD_LINE[1], SNOWBOARD_IMAGE))
    send_webhook("products/create", product(PEN_ID, PEN_LINE[1], PEN_IMAGE))
    earlier = clock.now - timedelta(days=20)
    for n in range(3):
        send_webhook("orders/create", order(9000 + n, 700 + n, earlier, IPOD_LINE, SNOWBOARD_LINE))
    for n in range(4):
        # two orders each: pairs count once per customer, whichever orders they are in
        send_webhook("orders/create", order(9100 + n, 800 + n, earlier, IPOD_LINE))
        send_webhook(
            "orders/create", order(9200 + n, 800 + n, earlier + timedelta(days=1), PEN_LINE)
        )


def upsell_emails(services) -> list[OutboxMessage]:
    with services.sessions() as session:
        return list(
            session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.workflow == "upsell", OutboxMessage.kind == "email"
                )
            )
        )


def test_an_upsell_recommends_what_buyers_of_the_same_product_also_bought(
    send_webhook, services, clock, at
):
    stock_the_shop(send_webhook, clock)
    at(clock.now)  # the worker applies them and builds the model
    send_webhook("orders/create", order(9300, 900, clock.now, IPOD_LINE))
    at(clock.now + timedelta(minutes=20))  # counted within a quarter of an hour
    with services.sessions() as session:
        model = stored.load_model(session, 1)
    assert model is not None and model.bought_together(IPOD_ID, PEN_ID) == 4

    at(clock.now + timedelta(days=7, hours=1))
    (email,) = [e for e in upsell_emails(services) if e.to_email == "buyer900@example.com"]
    html = email.preview_html or ""
    assert "Classic Fountain Pen" in html and PEN_IMAGE in html
    assert "The Collection Snowboard: Hydrogen" in html and SNOWBOARD_IMAGE in html
    # the pen (four buyers in common) before the snowboard (three)
    assert html.index("Classic Fountain Pen") < html.index("The Collection Snowboard")
    # never what the customer bought: the iPod is the order itself, not a recommendation
    cards = email.params["context"]["recommendations"]
    assert IPOD_ID not in {card["id"] for card in cards}
    assert "utm_campaign=upsell" in html and "nudge_t=" in html


def test_a_deleted_product_is_never_recommended(send_webhook, services, clock, at):
    stock_the_shop(send_webhook, clock)
    send_webhook("orders/create", order(9300, 900, clock.now, IPOD_LINE))
    at(clock.now)
    send_webhook("products/delete", {"id": int(PEN_ID)})
    at(clock.now + timedelta(days=7, hours=1))
    (email,) = [e for e in upsell_emails(services) if e.to_email == "buyer900@example.com"]
    html = email.preview_html or ""
    assert "Classic Fountain Pen" not in html and PEN_IMAGE not in html
    assert SNOWBOARD_IMAGE in html


def test_a_customer_is_never_shown_what_they_bought_before(send_webhook, services, clock, at):
    stock_the_shop(send_webhook, clock)
    # a pen buyer comes back for the iPod's partner... they already own the pen
    send_webhook("orders/create", order(9301, 800, clock.now, IPOD_LINE))
    at(clock.now)
    at(clock.now + timedelta(days=7, hours=1))
    (email,) = [e for e in upsell_emails(services) if e.to_email == "buyer800@example.com"]
    cards = {card["id"] for card in email.params["context"]["recommendations"]}
    assert PEN_ID not in cards and IPOD_ID not in cards and SNOWBOARD_ID in cards


def test_orders_count_once_however_often_they_are_delivered(send_webhook, services, clock, at):
    stock_the_shop(send_webhook, clock)
    at(clock.now)
    again = order(9000, 700, clock.now - timedelta(days=20), IPOD_LINE, SNOWBOARD_LINE)
    send_webhook("orders/updated", {**again, "updated_at": clock.now.isoformat()})
    send_webhook("orders/create", order(9400, 950, clock.now, IPOD_LINE, SNOWBOARD_LINE))
    at(clock.now + timedelta(minutes=5))
    with services.sessions() as session:  # saved less than 15 minutes ago: not yet
        assert stored.load_model(session, 1).bought_together(IPOD_ID, SNOWBOARD_ID) == 3
    at(clock.now + timedelta(minutes=20))
    with services.sessions() as session:
        model = stored.load_model(session, 1)
        row = session.scalar(select(RecommendationModel))
    assert model is not None and row is not None
    assert model.bought_together(IPOD_ID, SNOWBOARD_ID) == 4  # three, and customer 950
    assert model.buyers(IPOD_ID) == 8
    # the daily rebuild from every stored order agrees with the counts kept on the way
    at(clock.now + timedelta(days=1, minutes=10))
    with services.sessions() as session:
        rebuilt = stored.load_model(session, 1)
        assert (
            rebuilt is not None
            and session.scalar(select(RecommendationModel)).built_at > row.built_at
        )
    assert rebuilt.bought_together(IPOD_ID, SNOWBOARD_ID) == 4 and rebuilt.buyers(IPOD_ID) == 8


def test_a_shop_without_orders_gets_no_model_and_a_failing_shop_stops_no_other(
    services, shop, clock, monkeypatch
):
    assert refresh_models(services, clock.now) == 0
    with services.sessions() as session, session.begin():
        other = Shop(domain="other-shop.myshopify.com", platform="shopify", settings={})
        session.add(other)
        session.flush()
        for n, owner in enumerate((shop.id, other.id)):
            items = [{"product_id": "7", "title": "Tea", "quantity": 1, "price": "5"}]
            session.add(
                OrderRow(shop_id=owner, external_id=str(n), created_at=clock.now, items=items)
            )
        other_id = other.id
    read = stored.standing_orders

    def broken_for_the_first_shop(session, shop_id, *args, **kwargs):  # type: ignore[no-untyped-def]
        if shop_id == shop.id:
            raise RuntimeError("disk full")
        return read(session, shop_id, *args, **kwargs)

    monkeypatch.setattr(stored, "standing_orders", broken_for_the_first_shop)
    assert refresh_models(services, clock.now) == 1
    with services.sessions() as session:
        assert [row.shop_id for row in session.scalars(select(RecommendationModel))] == [other_id]
    monkeypatch.undo()
    assert refresh_models(services, clock.now) == 1  # the next pass tries it again


def test_rhythms_per_product_follow_the_orders(send_webhook, services, clock, at):
    start = clock.now - timedelta(days=70)
    for n, days in enumerate((0, 30, 60)):  # the pen every 30 days; the snowboard once
        lines = [PEN_LINE] if n else [PEN_LINE, SNOWBOARD_LINE]
        send_webhook("orders/create", order(9500 + n, 990, start + timedelta(days=days), *lines))
    at(clock.now)
    with services.sessions() as session:
        (rhythm,) = session.scalars(select(ProductRhythmRow)).all()
    assert rhythm.product_id == PEN_ID and rhythm.orders == 3
    assert rhythm.expected_at == start + timedelta(days=90)
    assert rhythm.last_order_external_id == "9502"
    redact = {"shop_domain": "test-shop.myshopify.com", "customer": {"id": 990}}
    send_webhook("customers/redact", {**redact, "orders_to_redact": []})
    at(clock.now)
    with services.sessions() as session:  # the customer's rhythms go with their data
        assert session.scalars(select(ProductRhythmRow)).all() == []


def test_rhythms_follow_a_new_order_at_once_while_the_model_waits(
    send_webhook, services, clock, at
):
    """The model counts new orders at most every 15 minutes; the rhythms, which the sweeps
    and steps read, follow every pass, so a decision never depends on when one ran."""
    stock_the_shop(send_webhook, clock)
    at(clock.now)  # the model has just counted: it waits a quarter of an hour now
    with services.sessions() as session:
        buyers = stored.load_model(session, 1).buyers(PEN_ID)
    start = clock.now - timedelta(days=60)
    for n, days in enumerate((0, 30, 60)):
        send_webhook("orders/create", order(9600 + n, 991, start + timedelta(days=days), PEN_LINE))
    at(clock.now + timedelta(minutes=1))
    with services.sessions() as session:
        rhythms = session.scalars(select(ProductRhythmRow)).all()
        model = stored.load_model(session, 1)
    assert [(r.customer_external_id, r.product_id, r.orders) for r in rhythms] == [
        ("991", PEN_ID, 3)
    ]
    assert model is not None and model.buyers(PEN_ID) == buyers  # not counted yet


CHECKOUT = json.loads(load_fixture("shopify/checkouts_update.json"))  # the real checkouts/update


def abandoned_checkout(at, *products: tuple[str, str]) -> dict[str, Any]:
    """The real checkouts/update payload, left with other products in it, just now."""
    payload = copy.deepcopy(CHECKOUT)
    stamp = at.isoformat()
    payload.update(created_at=stamp, updated_at=stamp, buyer_accepts_marketing=True)
    payload["customer"] = {**payload["customer"], "accepts_marketing": True}
    line = payload["line_items"][0]
    payload["line_items"] = [
        {**line, "key": f"line-{n}", "product_id": int(pid), "title": title}
        for n, (pid, title) in enumerate(products)
    ]
    return payload


def test_a_cart_reminder_shows_the_carts_items_with_images_and_what_goes_with_them(
    send_webhook, services, clock, at
):
    stock_the_shop(send_webhook, clock)
    send_webhook("checkouts/update", abandoned_checkout(clock.now, IPOD_LINE, SNOWBOARD_LINE))
    at(clock.now)
    at(clock.now + timedelta(hours=5))
    with services.sessions() as session:
        (email,) = session.scalars(
            select(OutboxMessage).where(OutboxMessage.workflow == "cart_abandonment")
        ).all()
    html = email.preview_html or ""
    ipod_image = IPOD["image"]["src"].replace("&", "&amp;")
    # the cart's lines, each with its product's image and link
    assert ipod_image in html and SNOWBOARD_IMAGE in html
    assert "products/ipod-nano?" in html
    # and what buyers of the iPod also bought, not what is in the cart already
    assert "You may also like" in html
    assert [card["id"] for card in email.params["context"]["recommendations"]] == [PEN_ID]


def test_a_replenishment_names_the_product_due_at_its_own_rhythm(send_webhook, services, clock, at):
    start = clock.now - timedelta(days=88)
    for n, days in enumerate((0, 30, 60)):  # the pen every 30 days: due at day 90
        send_webhook("orders/create", order(9600 + n, 990, start + timedelta(days=days), PEN_LINE))
    # the customer's rhythm across orders is slower: a snowboard at day 69 (due at day 92)
    send_webhook("orders/create", order(9603, 990, start + timedelta(days=69), SNOWBOARD_LINE))
    send_webhook("products/create", product(PEN_ID, PEN_LINE[1], PEN_IMAGE))
    at(clock.now)  # day 88: the pen is due in two days, the basket in four
    with services.sessions() as session:
        (email,) = session.scalars(
            select(OutboxMessage).where(OutboxMessage.workflow == "purchase_cycle")
        ).all()
    assert email.subject == "Running low on Classic Fountain Pen? Time to restock"
    html = email.preview_html or ""
    assert PEN_IMAGE in html
    link = "https://test-shop.myshopify.com/products/classic-fountain-pen?utm_source=nudge"
    assert html.count(link) >= 2  # the product's card and the "Reorder now" button


def test_celerys_inbox_task_keeps_the_models_as_the_embedded_worker_does(
    send_webhook, services, clock
):
    import plugin.pipeline.tasks as tasks

    stock_the_shop(send_webhook, clock)
    tasks.bind(services)
    try:
        assert tasks.process_inbox_task() == 14  # run in this process, as a worker runs it
    finally:
        tasks.bind(None)
    with services.sessions() as session:
        model = stored.load_model(session, 1)
    assert model is not None and model.bought_together(IPOD_ID, SNOWBOARD_ID) == 3
