"""The Shopify connector on every recorded payload, signatures, and hostile shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import shopify
from rules import events as ev
from tests.snapshots import assert_snapshot

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
    "samples_2026-07/checkouts_update": "checkouts/update",
    "samples_2026-07/customer_tags_added": "customer.tags_added",
    "samples_2026-07/customers_create": "customers/create",
    "samples_2026-07/customers_email_marketing_consent_update": "customers/email_marketing_consent_update",
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
        ("orders/create", {"id": 1, "line_items": "nope"}),
        ("orders/create", {"id": 1, "total_price": "ten"}),
        ("checkouts/update", {"token": None}),
        ("checkouts/update", {"token": "t", "line_items": [{"quantity": "2"}]}),
        ("customers/email_marketing_consent_update", {"customer_id": 1}),
        ("customer.tags_added", {"customerId": "gid://shopify/Customer/1"}),
        ("fulfillments/update", {"status": "success"}),
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
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    topic=st.sampled_from(sorted(shopify.TOPICS)),
    payload=st.dictionaries(field_names, json_values, max_size=8) | json_values,
)
def test_any_json_gives_events_or_a_clear_error(topic, payload):
    try:
        events = shopify.to_events(topic, payload)
    except shopify.MalformedPayload:
        return
    assert all(isinstance(e, ev.Event) for e in events)
