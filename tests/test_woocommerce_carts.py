"""WooCommerce as a full platform: the plugin's carts and consent, through the pipeline.

A consenting shopper who leaves a cart gets the reminder linking back to that cart and
nothing once they order; a consenting buyer gets the upsell; one who did not consent gets no
marketing email. Bad carts are refused at the door; a deleted customer is erased.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from connectors import woocommerce
from connectors.woocommerce import carts
from plugin.pipeline.inbox import process_inbox
from plugin.storage.models import (
    CheckoutRow,
    ComplianceRecord,
    CustomerRow,
    Delivery,
    Episode,
    OrderRow,
    Shop,
)
from rules import events as ev
from tests.support import woo
from tests.support.clock import T0
from tests.support.workflows import emails


@pytest.fixture
def woo_shop(services):  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        session.add(woo.woo_store(services.settings["SECRET_KEY"]))


@pytest.fixture
def send(client, woo_shop):  # type: ignore[no-untyped-def]
    return woo.WooSender(client)


# --- the connector -------------------------------------------------------------------------


def test_a_cart_becomes_the_checkout_facts_shopify_carts_become():
    [event] = woocommerce.to_events(carts.TOPIC, woo.cart("k-1", T0))
    checkout = event.checkout
    assert event.kind == ev.CHECKOUT_UPDATED and checkout is not None
    assert (checkout.token, checkout.cart_token, checkout.is_cart) == ("k-1", "k-1", True)
    assert (checkout.email, checkout.accepts_marketing, checkout.customer_id) == (
        "ada@example.com",
        True,
        None,
    )
    assert (checkout.value, checkout.currency, checkout.updated_at) == (Decimal("60.00"), "USD", T0)
    assert checkout.recovery_url == f"https://{woo.WOO_SHOP}/?nudge_cart=k-1"
    assert checkout.completed_at is None
    assert [(i.product_id, i.variant_id, i.quantity) for i in checkout.items] == [("111", None, 1)]


def test_a_signed_in_shoppers_cart_names_them_and_a_completed_one_is_completed():
    upserted, updated = woocommerce.to_events(
        carts.TOPIC, woo.cart("k-2", T0, customer_id=7, completed=True)
    )
    assert upserted.kind == ev.CUSTOMER_UPSERTED and upserted.customer is not None
    assert (upserted.customer.id, upserted.customer.first_name) == ("7", "Ada")
    assert updated.checkout is not None and updated.checkout.customer_id == "7"
    assert updated.checkout.completed_at == T0


def test_order_meta_carries_consent_and_the_cart_key():
    payload = woo.order(90, T0, customer_id=7, accepts_marketing=False, cart_key="k-1")
    kinds = [e.kind for e in woocommerce.to_events("order.created", payload)]
    assert kinds == [ev.CUSTOMER_UPSERTED, ev.CONSENT_CHANGED, ev.ORDER_PLACED]
    _, consent, placed = woocommerce.to_events("order.created", payload)
    assert consent.customer is not None and placed.order is not None
    assert (consent.customer.accepts_marketing, consent.customer.consent_updated_at) == (False, T0)
    assert (placed.order.cart_token, placed.order.accepts_marketing) == ("k-1", False)
    # a guest's order: its own consent, and no customer to change
    guest = woocommerce.to_events("order.created", woo.order(91, T0, accepts_marketing=True))
    assert [e.kind for e in guest] == [ev.ORDER_PLACED]
    assert guest[0].order is not None and guest[0].order.accepts_marketing is True
    # no meta (a store without the plugin): consent unknown, not refused
    none = woocommerce.to_events("order.created", woo.order(92, T0, accepts_marketing=None))
    assert none[0].order is not None and none[0].order.accepts_marketing is None


def test_customer_meta_nudge_tags_are_the_customers_tags():
    payload = woo.customer(
        7, T0, meta_data=[{"id": 1, "key": "nudge_tags", "value": "vip, topic:tea"}]
    )
    upserted = woocommerce.to_events("customer.updated", payload)[0]
    assert upserted.customer is not None and upserted.customer.tags == ("vip", "topic:tea")
    plain = woocommerce.to_events("customer.updated", woo.customer(7, T0))[0]
    assert plain.customer is not None and plain.customer.tags is None  # not said


# --- bad input at the door -----------------------------------------------------------------

TOO_MANY = [{"product_id": 1, "variation_id": 0, "name": "x", "quantity": 1, "price": "1"}] * 10_000


UNREADABLE = [
    ({"email": None}, "email is missing"),
    ({"email": ""}, "email is missing"),
    ({"email": "not-an-address"}, "email is not an address"),
    ({"items": TOO_MANY}, "10000 items; a cart has at most 250"),
    ({"items": "beans"}, "items must be a list"),
    ({"items": [{"product_id": "x", "quantity": 1, "price": "1"}]}, "product_id"),
    ({"total": "NaN"}, "total is not an amount"),
    ({"accepts_marketing": "yes"}, "accepts_marketing must be true or false"),
    ({"checkout_url": "javascript:alert(1)"}, "checkout_url must be an http(s) URL"),
    ({"updated_at": "yesterday"}, "updated_at"),
    ({"cart_key": None}, "cart_key is missing"),
    ({"customer_id": -1}, "customer_id"),
]


def test_a_cart_that_cannot_be_read_is_refused_with_422_and_nothing_is_stored(send, services):
    for change, said in UNREADABLE:
        response = send(carts.TOPIC, {**woo.cart("k-1", T0), **change})
        assert response.status_code == 422, change
        assert said in response.json["error"]
    assert send(carts.TOPIC, b"{not json").status_code == 422
    assert send(carts.TOPIC, b"[1, 2]").status_code == 422
    with services.sessions() as session:
        assert session.scalars(select(Delivery)).all() == []


def test_an_unsigned_or_mis_signed_cart_is_401(client, send, services):
    body = json.dumps(woo.cart("k-1", T0)).encode()
    assert send(carts.TOPIC, body, secret="not-the-secret").status_code == 401
    unsigned = client.post(
        f"/webhooks/woocommerce/{woo.WOO_SHOP}",
        data=body,
        headers={"X-WC-Webhook-Topic": carts.TOPIC, "Content-Type": "application/json"},
    )
    assert unsigned.status_code == 401
    with services.sessions() as session:
        assert session.scalars(select(Delivery)).all() == []


def test_a_cart_for_an_unknown_shop_never_creates_one(client, services, woo_shop):
    stranger = woo.WooSender(client, shop="unknown.example.com")
    assert stranger(carts.TOPIC, woo.cart("k-1", T0)).status_code == 401
    # even signed with a secret some other shop uses
    assert stranger(carts.TOPIC, woo.cart("k-1", T0), secret=woo.WOO_SECRET).status_code == 401
    with services.sessions() as session:
        assert session.scalars(select(Shop.domain)).all() == [woo.WOO_SHOP]
        assert session.scalars(select(Delivery)).all() == []


# --- erasure -------------------------------------------------------------------------------


def test_customer_deleted_erases_them_like_customers_redact(send, services):
    send("customer.created", woo.customer(7, T0, email="gone@example.com"))
    send(carts.TOPIC, woo.cart("k-9", T0, customer_id=7, email="gone@example.com"))
    send("order.created", woo.order(95, T0, customer_id=7, email="gone@example.com"))
    send(carts.TOPIC, woo.cart("k-10", T0, email="kept@example.com"))
    process_inbox(services, T0)
    assert send("customer.deleted", {"id": 7}).json["status"] == "accepted"
    process_inbox(services, T0)
    with services.sessions() as session:
        assert session.scalars(select(CustomerRow.external_id)).all() == []
        assert session.scalars(select(CheckoutRow.token)).all() == ["k-10"]
        order = session.scalars(select(OrderRow)).one()
        assert (order.email, order.customer_external_id) == (None, "redacted")
        record = session.scalars(select(ComplianceRecord)).one()
        assert (record.topic, record.customer_external_id) == ("customer.deleted", "7")
        statuses = dict(session.execute(select(Delivery.topic, Delivery.status)).all())
        assert statuses["customer.deleted"] == "processed"
        bodies = session.scalars(select(Delivery.body).where(Delivery.topic != "customer.deleted"))
        assert sum(b"gone@example.com" in body for body in bodies) == 0


# --- end to end: the workflows on a WooCommerce shop ---------------------------------------


def _marketing_emails(services, to: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{m.workflow}:{m.template}" for m in emails(services) if m.to_email == to]


def test_the_core_workflows_on_a_woocommerce_shop(send, services, at):
    # a consenting guest leaves a cart, is reminded with a link back to it, then orders
    send(carts.TOPIC, woo.cart("k-ada", T0, email="ada@example.com", accepts_marketing=True))
    # one who did not consent does the same
    send(carts.TOPIC, woo.cart("k-bo", T0, email="bo@example.com", accepts_marketing=False))
    at(T0 + timedelta(hours=4, minutes=1))
    [reminder] = emails(services, "cart_abandonment")
    assert (reminder.to_email, reminder.template) == ("ada@example.com", "cart_reminder")
    assert reminder.params["context"]["recovery_url"] == f"https://{woo.WOO_SHOP}/?nudge_cart=k-ada"
    assert f"https://{woo.WOO_SHOP}/?nudge_cart=k-ada" in (reminder.preview_html or "")

    ordered = T0 + timedelta(hours=5)
    send("order.created", woo.order(101, ordered, email="ada@example.com", cart_key="k-ada"))
    send(
        "order.created",
        woo.order(102, ordered, email="bo@example.com", cart_key="k-bo", accepts_marketing=False),
    )
    at(ordered + timedelta(minutes=1))
    with services.sessions() as session:
        completed = dict(
            session.execute(select(CheckoutRow.token, CheckoutRow.order_external_id)).all()
        )
        assert completed == {"k-ada": "101", "k-bo": "102"}
        cart_episode = session.scalars(
            select(Episode).where(Episode.workflow == "cart_abandonment")
        ).all()
        assert [(e.subject, e.state, e.exit_reason) for e in cart_episode] == [
            ("k-ada", "exited", "exit: order_placed"),
            ("k-bo", "exited", "exit: order_placed"),
        ]
    at(T0 + timedelta(days=1, hours=1))  # the 10 % offer would be due now: the order ended it
    at(ordered + timedelta(days=7, hours=1))  # the upsell's day
    assert _marketing_emails(services, "ada@example.com") == [
        "cart_abandonment:cart_reminder",
        "upsell:upsell",
    ]
    assert _marketing_emails(services, "bo@example.com") == []


def test_a_signed_in_buyers_opt_in_is_their_consent_from_then_on(send, services, at):
    send("customer.created", woo.customer(7, T0 - timedelta(days=30)))
    send("order.created", woo.order(201, T0, customer_id=7, accepts_marketing=True))
    at(T0 + timedelta(minutes=1))
    with services.sessions() as session:
        row = session.scalars(select(CustomerRow)).one()
        assert (row.accepts_marketing, row.consent_updated_at) == (True, T0)
    # a later order with the box left empty withdraws it; the older order's repeat does not undo that
    later = T0 + timedelta(days=2)
    send("order.created", woo.order(202, later, customer_id=7, accepts_marketing=False))
    send("order.updated", woo.order(201, T0, customer_id=7, accepts_marketing=True))
    at(later + timedelta(minutes=1))
    with services.sessions() as session:
        row = session.scalars(select(CustomerRow)).one()
        assert (row.accepts_marketing, row.consent_updated_at) == (False, later)
    at(later + timedelta(days=8))
    assert _marketing_emails(services, "ada@example.com") == []


def test_an_order_delivered_late_does_not_end_a_cart_begun_after_it(send, services, at):
    """WooCommerce delivers orders from a queue the site's cron runs, so an order can reach
    Nudge after its buyer began a new cart (seen with WooCommerce 8.9: a new cart posted six
    seconds after ordering, the order delivered three seconds later). The order ends its own
    cart and carts last active before it, not the new one."""
    send(carts.TOPIC, woo.cart("k-older", T0 - timedelta(hours=1), email="ada@example.com"))
    send(carts.TOPIC, woo.cart("k-ordered", T0 - timedelta(minutes=10), email="ada@example.com"))
    ordered = T0
    send(carts.TOPIC, woo.cart("k-next", ordered + timedelta(minutes=2), email="ada@example.com"))
    at(ordered + timedelta(minutes=3))
    send("order.created", woo.order(301, ordered, email="ada@example.com", cart_key="k-ordered"))
    at(ordered + timedelta(minutes=4))
    with services.sessions() as session:
        episodes = session.execute(
            select(Episode.subject, Episode.state, Episode.exit_reason)
            .where(Episode.workflow == "cart_abandonment")
            .order_by(Episode.subject)
        ).all()
    assert [tuple(e) for e in episodes] == [
        ("k-next", "active", None),
        ("k-older", "exited", "exit: order_placed"),
        ("k-ordered", "exited", "exit: order_placed"),
    ]
    at(ordered + timedelta(hours=4, minutes=5))
    [reminder] = emails(services, "cart_abandonment")
    assert reminder.params["context"]["recovery_url"].endswith("nudge_cart=k-next")
