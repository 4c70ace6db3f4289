"""The Shopify connector on every recorded payload, signatures, and hostile shapes."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import shopify
from rules import events as ev
from rules.facts import Customer, Order
from tests.support.snapshots import assert_snapshot

FIXTURES = Path(__file__).parent / "fixtures" / "shopify"
TOPIC_OF = {
    "carts_update": "carts/update",
    "carts_update_empty": "carts/update",
    "carts_update_with_properties": "carts/update",
    "checkouts_create": "checkouts/create",
    "checkouts_update": "checkouts/update",
    "customers_create": "customers/create",
    "fulfillments_update": "fulfillments/update",
    "orders_create": "orders/create",
    "orders_create_full_2020": "orders/create",
    "orders_paid": "orders/paid",
    "orders_partially_fulfilled": "orders/partially_fulfilled",
    "orders_updated": "orders/updated",
    "products_create": "products/create",
    "samples_2026-07/checkouts_update": "checkouts/update",
    "samples_2026-07/customer_tags_added": "customer.tags_added",
    "samples_2026-07/customers_create": "customers/create",
    "samples_2026-07/customers_email_marketing_consent_update": "customers_email_marketing_consent/update",
    "samples_2026-07/customers_purchasing_summary": "customers/purchasing_summary",
}
COMPLIANCE = {
    "samples_2026-07/app_uninstalled": "app/uninstalled",
    "samples_2026-07/customers_data_request": "customers/data_request",
    "samples_2026-07/customers_redact": "customers/redact",
    "samples_2026-07/shop_redact": "shop/redact",
}


def load(name: str):  # type: ignore[no-untyped-def]
    return json.loads((FIXTURES / f"{name}.json").read_text())


def events_of(name: str) -> list[ev.Event]:
    return shopify.to_events(TOPIC_OF[name], load(name))


def test_every_shared_fixture_is_covered():
    on_disk = {
        str(p.relative_to(FIXTURES))[:-5]
        for p in FIXTURES.rglob("*.json")
        if not p.name.endswith(".events.json")
    }
    assert on_disk == set(TOPIC_OF) | set(COMPLIANCE)


@pytest.mark.parametrize("name", sorted(TOPIC_OF))
def test_fixture_events_match_snapshot(name):
    assert_snapshot(FIXTURES / f"{name}.events.json", events_of(name))


@pytest.mark.parametrize("name", sorted(COMPLIANCE))
def test_compliance_topics_are_left_to_the_app(name):
    assert COMPLIANCE[name] in shopify.COMPLIANCE_TOPICS
    with pytest.raises(shopify.UnknownTopic):
        shopify.to_events(COMPLIANCE[name], load(name))


def test_checkout_links_to_its_order_by_token():
    [checkout_event] = events_of("checkouts_create")
    order = next(e.order for e in events_of("orders_create") if e.kind == ev.ORDER_PLACED)
    assert checkout_event.checkout is not None and order is not None
    assert (
        checkout_event.checkout.token == order.checkout_token == "84ad78572dae52a8cbea7d55371afe89"
    )
    assert checkout_event.checkout.email is None  # buyer not identified yet: no abandonment target


def test_checkout_update_carries_email_customer_and_value():
    customer_event, checkout_event = events_of("checkouts_update")
    checkout = checkout_event.checkout
    assert checkout is not None and customer_event.customer is not None
    assert checkout.email == "testuser101@gmail.com"
    assert checkout.customer_id == customer_event.customer.id == "7188389789809"
    assert checkout.updated_at == datetime(2024, 9, 17, 7, 29, 2, tzinfo=UTC)
    assert checkout.created_at is None  # the recorded payload's created_at is garbled
    assert checkout.value > 0


def test_2025_customer_shape_leaves_consent_and_counts_unknown():
    customer = events_of("samples_2026-07/customers_create")[0].customer
    assert customer is not None
    assert (customer.accepts_marketing, customer.tags, customer.orders_count) == (None, None, None)


def test_pre_2025_customer_shape_keeps_consent_and_tags():
    customer = events_of("customers_create")[0].customer
    assert customer is not None
    assert (customer.accepts_marketing, customer.tags, customer.orders_count) == (False, (), 0)


def test_consent_topic_and_graphql_ids():
    [consent] = events_of("samples_2026-07/customers_email_marketing_consent_update")
    assert consent.kind == ev.CONSENT_CHANGED and consent.customer is not None
    assert consent.customer.accepts_marketing is False  # not_subscribed
    [summary] = events_of("samples_2026-07/customers_purchasing_summary")
    assert summary.customer is not None
    assert (summary.customer.id, summary.customer.orders_count, summary.customer.total_spent) == (
        "1",
        1,
        Decimal("100.00"),
    )
    [tags] = events_of("samples_2026-07/customer_tags_added")
    assert (
        tags.customer is not None
        and tags.customer.id == "1"
        and tags.data == {"tags": ["tag1", "tag2"]}
    )


def test_fulfilment_and_partial_fulfilment():
    [fulfilled] = events_of("fulfillments_update")
    assert fulfilled.kind == ev.ORDER_FULFILLED and fulfilled.order is not None
    assert fulfilled.order.id == "4617255092480" and fulfilled.order.created_at is None
    kinds = [e.kind for e in events_of("orders_partially_fulfilled")]
    assert ev.ORDER_FULFILLED in kinds


def test_carts_are_marked_and_valued_from_lines():
    [cart] = events_of("carts_update")
    assert cart.checkout is not None and cart.checkout.is_cart
    assert cart.checkout.value == Decimal("749.95") * 3
    assert cart.checkout.email is None


def test_partial_fulfilment_without_fulfilments_uses_the_orders_time():
    order = next(e.order for e in events_of("orders_partially_fulfilled") if e.order)
    assert order.fulfilled_at == datetime(2022, 1, 1, 0, 0, tzinfo=UTC)  # -05:00 offset


def test_fulfilment_says_only_which_order_and_when():
    [event] = events_of("fulfillments_update")
    assert event.order == Order(
        id="4617255092480", fulfilled_at=datetime(2022, 1, 5, 12, 43, 2, tzinfo=UTC)
    )
    assert event.occurred_at == event.order.fulfilled_at


@pytest.mark.parametrize("status", ["pending", "open", "cancelled", "error", "failure", None])
def test_unsuccessful_fulfilment_gives_no_event(status):
    payload = {**load("fulfillments_update"), "status": status}
    assert shopify.to_events("fulfillments/update", payload) == []


def test_refunded_orders_and_graphql_customer_ids():
    payload = {
        "id": 7,
        "created_at": "2024-05-01T10:00:00+02:00",
        "financial_status": "partially_refunded",
        "buyer_accepts_marketing": True,
        "customer": {"id": "gid://shopify/Customer/42", "email": "a@example.com"},
    }
    customer_event, updated = shopify.to_events("orders/updated", payload)
    assert customer_event.kind == ev.CUSTOMER_UPSERTED and updated.kind == ev.ORDER_UPDATED
    assert updated.order is not None and updated.order.refunded
    assert updated.order.customer_id == "42" and updated.order.id == "7"
    assert updated.order.accepts_marketing is True
    assert updated.order.created_at == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    # buyer_accepts_marketing is the order's; the customer's consent stays unknown.
    assert customer_event.customer == Customer(id="42", email="a@example.com")


@pytest.mark.parametrize(
    ("consent", "expected"),
    [
        ({"state": "subscribed"}, True),
        ({"state": "pending"}, False),
        ({"state": "unsubscribed"}, False),
        ({"state": "redacted"}, False),
        (None, None),
    ],
)
def test_only_subscribed_is_consent(consent, expected):
    payload = {"id": 5, "email_marketing_consent": consent}
    [upserted] = shopify.to_events("customers/update", payload)
    assert upserted.customer is not None and upserted.customer.accepts_marketing is expected


def test_checkout_value_falls_back_to_subtotal_and_cart_lines():
    checkout = {"token": "t1", "total_price": None, "subtotal_price": "12.50"}
    [event] = shopify.to_events("checkouts/create", checkout)
    assert event.checkout is not None and event.checkout.value == Decimal("12.50")
    cart = {
        "id": "c1",
        "line_items": [
            {"price": "2.50", "quantity": 2, "product_type": "Tea"},
            {"price": "1", "quantity": 1},
        ],
        "customer": {"id": 9},
    }
    upserted, cart_event = shopify.to_events("carts/create", cart)
    assert upserted.kind == ev.CUSTOMER_UPSERTED and upserted.customer == Customer(id="9")
    assert cart_event.checkout is not None
    assert (cart_event.checkout.token, cart_event.checkout.value) == ("c1", Decimal("6.00"))
    assert cart_event.checkout.is_cart and cart_event.checkout.customer_id == "9"
    assert cart_event.checkout.items[0].product_type == "Tea"


@pytest.mark.parametrize(
    ("alias", "name", "fixture"),
    [
        (
            "customers/email_marketing_consent_update",
            "customers_email_marketing_consent/update",
            "samples_2026-07/customers_email_marketing_consent_update",
        ),
        ("customers/tags_added", "customer.tags_added", "samples_2026-07/customer_tags_added"),
        ("customers/tags_removed", "customer.tags_removed", "samples_2026-07/customer_tags_added"),
    ],
)
def test_other_spellings_of_a_topic_give_the_same_events(alias, name, fixture):
    assert alias in shopify.ACCEPTED_TOPICS and alias not in shopify.TOPICS
    assert shopify.canonical_topic(alias) == name and shopify.canonical_topic(name) == name
    assert shopify.to_events(alias, load(fixture)) == shopify.to_events(name, load(fixture))


@pytest.mark.parametrize("topic", ["collections/create", "orders/delete", "", "ORDERS/CREATE"])
def test_unhandled_topics_raise_unknown_topic(topic):
    with pytest.raises(shopify.UnknownTopic) as raised:
        shopify.to_events(topic, {"id": 1})
    assert raised.value.args == (topic,)


def test_headers_are_read_case_insensitively():
    headers = {
        "x-shopify-topic": "orders/create",
        "X-SHOPIFY-SHOP-DOMAIN": "s.myshopify.com",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    }
    assert shopify.topic_from_headers(headers) == "orders/create"
    assert shopify.shop_from_headers(headers) == "s.myshopify.com"
    assert shopify.delivery_id_from_headers(headers) == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert shopify.topic_from_headers({}) is None
    assert shopify.shop_from_headers({}) is None
    assert shopify.delivery_id_from_headers({}) is None


def test_verify_signs_the_recorded_bytes_not_their_parsed_json():
    raw = (FIXTURES / "customers_create.json").read_bytes()
    headers = {"X-Shopify-Hmac-Sha256": shopify.sign(raw, "app-secret")}
    assert shopify.verify(headers, raw, "app-secret")
    assert not shopify.verify(headers, json.dumps(json.loads(raw)).encode(), "app-secret")


BODY = b'{"id": 1}'


def test_verify_accepts_only_the_right_signature_over_the_exact_bytes():
    secret = "hush"
    good = {"X-Shopify-Hmac-Sha256": shopify.sign(BODY, secret)}
    assert shopify.verify(good, BODY, secret)
    assert shopify.verify({"x-shopify-hmac-sha256": good["X-Shopify-Hmac-Sha256"]}, BODY, secret)
    assert not shopify.verify(good, BODY, "other-secret")
    assert not shopify.verify(good, b'{"id": 2}', secret)
    assert not shopify.verify(good, BODY + b" ", secret)
    assert not shopify.verify({}, BODY, secret)
    assert not shopify.verify({"X-Shopify-Hmac-Sha256": "%%%not-base64"}, BODY, secret)
    assert not shopify.verify(good, BODY, "")


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("orders/create", []),
        ("orders/create", {}),
        ("orders/create", {"id": [1]}),
        ("orders/create", {"id": True}),
        ("orders/create", {"id": 1.5}),
        ("orders/create", {"id": 1, "created_at": 20240101}),
        ("carts/update", {"id": {"token": "x"}}),
        ("customers/create", {"email": "a@example.com"}),
        ("customers/purchasing_summary", {"numberOfOrders": 1}),
        ("orders/create", {"id": 1, "line_items": "nope"}),
        ("orders/create", {"id": 1, "total_price": "ten"}),
        ("checkouts/update", {"token": None}),
        ("checkouts/update", {"token": "t", "line_items": [{"quantity": "2"}]}),
        ("customers_email_marketing_consent/update", {"customer_id": 1}),
        ("customer.tags_added", {"customerId": "gid://shopify/Customer/1"}),
        ("fulfillments/update", {"status": "success"}),
        ("products/create", {"title": "no id"}),
        ("products/update", {"id": "ipod-nano"}),
        ("products/update", {"id": 1, "variants": {"id": 2}}),
        ("products/update", {"id": 1, "variants": [{"id": 2, "price": "free"}]}),
        ("products/update", {"id": 1, "variants": [{"price": "1.00"}]}),
        ("products/delete", {}),
    ],
)
def test_malformed_payloads_raise_a_clear_error(topic, payload):
    with pytest.raises(shopify.MalformedPayload):
        shopify.to_events(topic, payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    [
        "id",
        "token",
        "email",
        "created_at",
        "updated_at",
        "total_price",
        "line_items",
        "customer",
        "customer_id",
        "customerId",
        "tags",
        "email_marketing_consent",
        "fulfillments",
        "order_id",
        "status",
        "checkout_token",
        "cancelled_at",
        "financial_status",
        "amountSpent",
        "numberOfOrders",
        "price",
        "quantity",
        "variants",
        "product_type",
        "vendor",
        "image",
        "title",
        "inventory_policy",
        "inventory_quantity",
        "compare_at_price",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    topic=st.sampled_from(sorted(shopify.ACCEPTED_TOPICS)),
    payload=st.dictionaries(field_names, json_values, max_size=8) | json_values,
)
def test_any_json_gives_events_or_a_clear_error(topic, payload):
    try:
        events = shopify.to_events(topic, payload)
    except shopify.MalformedPayload:
        return
    assert all(isinstance(e, ev.Event) for e in events)


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-02T10:00:00-05:00",
        "2026-03-02T10:00:00Z",
        "2026-03-02T10:00:00.123456789+02:00",
        "2026-03-02 10:00:00+0530",
        "2026-03-02",
        "20260302T100000Z",
        "2026-03-02T24:00:00Z",  # only dateutil reads hour 24
        "2026-03-02T10:00:00.5+05",
    ],
)
def test_timestamps_read_as_dateutil_reads_them(text):
    from dateutil.parser import isoparse

    from connectors.shopify.mapping import moment

    expected = isoparse(text)
    expected = expected.replace(tzinfo=UTC) if expected.tzinfo is None else expected
    assert moment(text) == expected and moment(text).tzinfo is UTC


def test_a_garbled_timestamp_is_unknown():
    from connectors.shopify.mapping import moment

    assert moment("2024-09-16T03:50:1500:00") is None
    assert moment("not a date") is None


def test_a_product_delivery_describes_the_whole_product():
    [event] = events_of("products_create")
    product = event.product
    assert event.kind == ev.PRODUCT_UPSERTED and product is not None
    assert (product.id, product.product_type, product.vendor) == (
        "632910392",
        "Cult Products",
        "Apple",
    )
    assert product.tags == ("Emotive", "Flash Memory", "MP3", "Music")
    assert [v.id for v in product.variants] == ["808950810"]  # what order lines name
    assert (product.price, product.available, product.status) == (Decimal("199.99"), True, "active")
    assert product.collections is None and product.url is None  # not in webhooks
    assert event.occurred_at == product.updated_at == datetime(2012, 8, 24, 18, 1, 47, tzinfo=UTC)


def test_an_emptied_type_and_tags_are_statements_not_silence():
    [event] = shopify.to_events(
        "products/update", {"id": 5, "title": "Gift card", "product_type": "", "tags": ""}
    )
    assert event.product is not None
    assert (event.product.product_type, event.product.tags) == ("", ())


def test_a_deleted_product_is_named_by_its_id():
    [event] = shopify.to_events("products/delete", {"id": 632910392})
    assert event.kind == ev.PRODUCT_DELETED and event.occurred_at is None  # dated on arrival
    assert event.product is not None and (event.product.id, event.product.deleted) == (
        "632910392",
        True,
    )


def test_an_image_url_that_is_not_https_is_dropped_with_a_note(caplog):
    caplog.set_level(logging.WARNING, logger="connectors")  # whatever other tests set
    payload = {**load("products_create"), "image": {"src": "http://cdn.example/ipod.png"}}
    [event] = shopify.to_events("products/update", payload)
    assert event.product is not None and event.product.image_url is None
    assert "image URL dropped, not an https URL" in caplog.text


@pytest.mark.parametrize(
    ("variant", "available"),
    [
        ({"inventory_policy": "continue", "inventory_quantity": 0}, True),  # sold when out
        ({"inventory_policy": "deny", "inventory_quantity": 0}, False),
        ({"inventory_policy": "deny", "inventory_quantity": 3}, True),
        ({"inventory_policy": "deny", "inventory_management": None}, True),  # not tracked
        ({}, None),
    ],
)
def test_a_variant_is_available_when_it_can_be_bought(variant, available):
    payload = {"id": 1, "title": "T", "variants": [{"id": 2, "price": "5.00", **variant}]}
    [event] = shopify.to_events("products/update", payload)
    assert event.product is not None
    assert event.product.variants[0].available is available
    assert event.product.available is available
