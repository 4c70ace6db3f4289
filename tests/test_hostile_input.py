"""Hostile input at every public endpoint: never a 5xx, never a fact from an unsigned body,
and the app still processes a valid delivery afterwards."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from plugin.inbox import process_inbox
from plugin.models import CustomerRow, Delivery
from tests.conftest import SHOP, shopify_signature

ENDPOINTS = [
    "/webhooks/shopify",
    f"/webhooks/woocommerce/{SHOP}",
    "/webhooks/woocommerce/unknown.example",
    "/webhooks/sendgrid",
    "/unsubscribe/not-a-token",
    "/api/workflows",
    "/api/workflows/upsell",
    "/api/settings",
    "/healthz",
]
TOPICS = [
    "orders/create",
    "checkouts/update",
    "customers/create",
    "customers/redact",
    "app/uninstalled",
    "nope",
    "",
    "x" * 300,
]

bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass") if t else b""),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=10,
    ).map(lambda v: json.dumps(v).encode()),
    st.just(b'{"id": 1, "email": "ann@example.com"'),  # truncated
    st.just(b"\xff\xfe{\x00}"),  # wrong encoding
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "X-Shopify-Topic": st.sampled_from(TOPICS),
        "X-Shopify-Shop-Domain": st.sampled_from(
            [SHOP, "evil.com", "", "x.myshopify.com.evil.com"]
        ),
        "X-Shopify-Hmac-Sha256": st.sampled_from(
            ["", "AAAA", "%%%", shopify_signature(b"{}", "not-the-shop-secret")]
        ),
        "X-Shopify-Webhook-Id": st.text(min_size=1, max_size=40).filter(
            lambda t: t.isprintable() and "\n" not in t
        ),
        "X-WC-Webhook-Topic": st.sampled_from(["order.created", "customer.created", "nope"]),
        "X-WC-Webhook-Signature": st.sampled_from(["", "AAAA"]),
        "Authorization": st.sampled_from(["Bearer x", "Bearer " + "a." * 40, "Basic Zm9v"]),
        "Content-Type": st.sampled_from(
            ["application/json", "application/x-www-form-urlencoded", "text/plain"]
        ),
    },
)


@settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(ENDPOINTS),
    method=st.sampled_from(["POST", "PUT", "GET"]),
    body=bodies,
    sent=headers,
)
def test_no_request_crashes_the_app_or_becomes_a_fact(
    client, shop, services, path, method, body, sent
):
    response = client.open(path, method=method, data=body, headers=sent)
    assert response.status_code < 500, (path, method, body[:80], sent)
    with services.sessions() as session:
        # whatever was accepted, nothing unsigned ever reached the inbox as work
        assert (
            session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "pending")
            )
            == 0
        )


def test_oversized_and_signed_later_still_processed(client, shop, services, send_webhook):
    huge = b'{"id": 1, "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    assert send_webhook("customers/create", huge).status_code == 413
    body = json.dumps(
        {"id": 77, "email": "ann@example.com", "updated_at": "2026-01-01T00:00:00Z"}
    ).encode()
    assert send_webhook("customers/create", body).status_code == 200
    process_inbox(services)
    with services.sessions() as session:
        assert session.scalars(select(CustomerRow.email)).all() == ["ann@example.com"]
