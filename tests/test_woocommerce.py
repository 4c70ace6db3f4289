"""WooCommerce: signed deliveries, the unsigned creation ping, payload mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from connectors import woocommerce
from plugin.pipeline.inbox import process_inbox
from plugin.storage.models import Delivery, OrderRow, Shop
from rules import events as ev
from tests.support.recorded import load_fixture
from tests.support.shop import SHOP_ADDRESS

WOO_SHOP = "woo.example.com"
WOO_SECRET = "woo-secret"


@pytest.fixture
def woo_shop(services):  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        session.add(
            Shop(
                domain=WOO_SHOP,
                platform="woocommerce",
                access_token="ck_x",
                webhook_secret=WOO_SECRET,
                settings={"postal_address": SHOP_ADDRESS},
            )
        )


def _post(client, topic: str, body: bytes, secret: str = WOO_SECRET, delivery: str = "d-1"):  # type: ignore[no-untyped-def]
    return client.post(
        f"/webhooks/woocommerce/{WOO_SHOP}",
        data=body,
        headers={
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Signature": woocommerce.sign(body, secret),
            "X-WC-Webhook-Delivery-ID": delivery,
            "Content-Type": "application/json",
        },
    )


def test_order_fixture_maps_to_a_placed_and_fulfilled_order():
    events = woocommerce.to_events(
        "order.created", json.loads(load_fixture("woocommerce/order_created.json"))
    )
    assert [e.kind for e in events] == [ev.CUSTOMER_UPSERTED, ev.ORDER_PLACED, ev.ORDER_FULFILLED]
    order = events[1].order
    assert order is not None
    assert (order.id, order.customer_id, order.email) == ("15", "1", "user@example.com")
    assert order.created_at == datetime(2023, 8, 16, 7, 45, 56, tzinfo=UTC)
    assert order.fulfilled_at == datetime(2023, 8, 16, 7, 45, 57, tzinfo=UTC)
    assert order.items[0].product_id == "14" and order.items[0].price == Decimal("0")


def test_customer_fixture_maps_to_customer_events():
    events = woocommerce.to_events(
        "customer.created", json.loads(load_fixture("woocommerce/customer_created.json"))
    )
    assert [e.kind for e in events] == [ev.CUSTOMER_UPSERTED, ev.CUSTOMER_CREATED]
    customer = events[0].customer
    assert customer is not None
    assert (customer.id, customer.email, customer.accepts_marketing) == (
        "25",
        "john.doe@example.com",
        None,
    )
    assert customer.created_at == datetime(2017, 3, 21, 19, 9, 28, tzinfo=UTC)  # the _gmt field


@pytest.mark.parametrize(
    "payload",
    [[], {}, {"id": "15"}, {"id": 1, "line_items": "x"}, {"id": 1, "date_created_gmt": 5}],
)
def test_malformed_payloads_raise_a_clear_error(payload):
    with pytest.raises(woocommerce.MalformedPayload):
        woocommerce.to_events("order.created", payload)


def test_unknown_topic():
    with pytest.raises(woocommerce.UnknownTopic):
        woocommerce.to_events("coupon.updated", {"id": 1})


def test_unsigned_creation_ping_gets_200_and_stores_nothing(client, woo_shop, services):
    response = client.post(
        f"/webhooks/woocommerce/{WOO_SHOP}",
        data=load_fixture("woocommerce/ping_body.txt").strip(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    with services.sessions() as session:
        assert session.scalars(select(Delivery)).all() == []


def test_signed_order_is_stored_then_becomes_facts(client, woo_shop, services):
    body = load_fixture("woocommerce/order_created.json")
    assert _post(client, "order.created", body).status_code == 200
    assert _post(client, "order.created", body).json["status"] == "duplicate"
    process_inbox(services)
    with services.sessions() as session:
        order = session.scalars(select(OrderRow)).one()
        assert (order.external_id, order.email) == ("15", "user@example.com")
        assert session.scalars(select(Delivery.status)).all() == ["processed"]


def test_bad_signature_and_wrong_platform_are_401(client, woo_shop, shop):
    body = load_fixture("woocommerce/order_created.json")
    assert _post(client, "order.created", body, secret="wrong").status_code == 401
    # a Shopify shop's domain on the WooCommerce route is not a WooCommerce shop
    response = client.post(
        "/webhooks/woocommerce/test-shop.myshopify.com",
        data=body,
        headers={
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Signature": woocommerce.sign(body, "x"),
        },
    )
    assert response.status_code == 401


def test_signed_garbage_is_kept_as_failed_and_acknowledged(client, services, woo_shop):
    response = _post(client, "order.created", b"not json")
    assert (response.status_code, response.json["status"]) == (200, "failed")
    with services.sessions() as session:
        [delivery] = session.scalars(select(Delivery)).all()
    assert (delivery.status, delivery.body) == ("failed", b"not json")


def product_payload(**changes):  # type: ignore[no-untyped-def]
    return {**json.loads(load_fixture("woocommerce/product_created.json")), **changes}


def test_product_fixture_maps_to_a_catalog_product():
    [event] = woocommerce.to_events("product.created", product_payload())
    product = event.product
    assert event.kind == ev.PRODUCT_UPSERTED and product is not None
    assert (product.id, product.title, product.handle) == (
        "794",
        "Premium Quality",
        "premium-quality-19",
    )
    # categories are its collections, the first its type; no brand: no vendor
    assert product.collections == ("Clothing", "T-shirts") and product.product_type == "Clothing"
    assert (product.vendor, product.tags) == ("", ())
    assert (product.price, product.compare_at_price) == (Decimal("21.99"), None)
    assert (product.available, product.status) == (True, "active")
    assert product.url == "https://example.com/product/premium-quality-19/"
    assert product.image_url == "https://example.com/wp-content/uploads/2017/03/T_2_front-4.jpg"
    assert product.updated_at == datetime(2017, 3, 23, 20, 1, 14, tzinfo=UTC)


def test_a_product_on_sale_out_of_stock_and_drafted():
    payload = product_payload(
        price="15.00",
        sale_price="15.00",
        stock_status="outofstock",
        status="draft",
        brands=[{"id": 3, "name": "Northwind", "slug": "northwind"}],
        tags=[{"id": 1, "name": "summer", "slug": "summer"}],
        images=[{"src": "http://example.com/plain.jpg"}],
    )
    [event] = woocommerce.to_events("product.updated", payload)
    product = event.product
    assert product is not None
    assert (product.price, product.compare_at_price) == (Decimal("15.00"), Decimal("21.99"))
    assert (product.available, product.status, product.vendor) == (False, "draft", "Northwind")
    assert product.tags == ("summer",) and product.image_url is None  # not https: dropped


def test_a_deleted_product_is_named_by_its_id():
    [event] = woocommerce.to_events("product.deleted", {"id": 794})
    assert event.kind == ev.PRODUCT_DELETED and event.product is not None
    assert (event.product.id, event.product.deleted) == ("794", True)


@pytest.mark.parametrize(
    "payload",
    [
        {"id": 1, "categories": "Clothing"},
        {"id": 1, "price": "twenty"},
        {"id": 1, "price": "NaN", "regular_price": "5"},
        {"id": 1, "variations": 3},
        {"id": 1, "date_modified_gmt": "yesterday"},
    ],
)
def test_malformed_products_raise_a_clear_error(payload):
    with pytest.raises(woocommerce.MalformedPayload):
        woocommerce.to_events("product.updated", payload)
