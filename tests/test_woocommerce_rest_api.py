"""WooCommerce actions through its REST API: a cart's offer code is a single-use coupon that
exists before the email carrying it leaves; tags are customer meta. `responses` stands in
for the store and SendGrid."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import responses
from click.testing import CliRunner
from sqlalchemy import select

from connectors.woocommerce import carts, rest_api
from plugin.cli import main
from plugin.pipeline.delivery import deliver_pending
from plugin.pipeline.due_steps import run_due
from plugin.shopify_app import tokens
from plugin.shopify_app.crypto import TokenCipher
from plugin.storage.models import OutboxMessage
from tests.support import woo
from tests.support.clock import T0

API = f"https://{woo.WOO_SHOP}/wp-json/wc/v3"
SEND_URL = "https://sendgrid.test/v3/mail/send"
OFFER_DUE = T0 + timedelta(hours=24, minutes=1)


@pytest.fixture
def woo_shop(services):  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        row = woo.woo_store(services.settings["SECRET_KEY"])
        tokens.store_plain(row, "ck_live:cs_live", TokenCipher(services.settings["SECRET_KEY"]))
        row.email = "owner@woo.example.com"
        session.add(row)
    services.settings["SENDGRID_BASE_URL"] = "https://sendgrid.test"


def _rows(services, kind: str) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def test_a_coupon_is_single_use_and_expires_with_the_code():
    now = datetime(2026, 3, 3, 10, 1, tzinfo=UTC)
    params = {"percent": 10, "code": "NUDGE-AB12", "expires_at": "2026-03-06T10:01:00+00:00"}
    assert rest_api.coupon(params, now) == {
        "code": "NUDGE-AB12",
        "discount_type": "percent",
        "amount": "10",
        "individual_use": True,
        "usage_limit": 1,
        "usage_limit_per_user": 1,
        "description": "Nudge, created 2026-03-03 10:01 UTC",
        # not date_expires_gmt, which WooCommerce does not write (no setter): never expired
        "date_expires": "2026-03-06T10:01:00+00:00",
    }
    # a time in another zone is sent as the same moment in UTC
    later = rest_api.coupon({**params, "expires_at": "2026-03-06T12:01:00+02:00"}, now)
    assert later["date_expires"] == "2026-03-06T10:01:00+00:00"
    fixed = rest_api.coupon({"amount": "5.5", "code": "C", "minimum": 40}, now)
    assert (fixed["discount_type"], fixed["amount"], fixed["minimum_amount"]) == (
        "fixed_cart",
        "5.5",
        "40.00",
    )
    with pytest.raises(ValueError, match="percent or an amount"):
        rest_api.coupon({"code": "C"}, now)


@responses.activate
def test_the_offer_code_is_a_coupon_in_the_store_before_its_email_leaves(
    client, woo_shop, services, at
):
    send = woo.WooSender(client)
    send(carts.TOPIC, woo.cart("k-offer", T0, total="80.00"))
    at(T0 + timedelta(hours=4, minutes=1))  # the reminder, kept (no SendGrid key yet)
    run_due(services, OFFER_DUE)
    services.settings["SENDGRID_API_KEY"] = "SG.test-key"
    [discount] = _rows(services, "create_discount")
    coupons = responses.post(f"{API}/coupons", json={"id": 55, "code": "x"}, status=201)
    responses.post(SEND_URL, status=202, headers={"X-Message-Id": "sg-1"})

    deliver_pending(services, OFFER_DUE)
    deliver_pending(services, OFFER_DUE + timedelta(minutes=1))

    body = json.loads(coupons.calls[0].request.body)
    assert (body["code"], body["amount"], body["usage_limit"]) == (discount.params["code"], "10", 1)
    assert body["date_expires"] == (OFFER_DUE + timedelta(days=3)).isoformat(timespec="seconds")
    assert "date_expires_gmt" not in body
    auth = coupons.calls[0].request.headers["Authorization"]
    assert auth.startswith("Basic ")  # the key pair, over https
    [discount] = _rows(services, "create_discount")
    assert (discount.state, discount.provider_message_id) == ("recorded", "55")
    offer = [m for m in _rows(services, "email") if m.template == "cart_offer"]
    assert [m.state for m in offer] == ["sent"]
    [sent] = [json.loads(c.request.body) for c in responses.calls if c.request.url == SEND_URL]
    assert discount.params["code"] in json.dumps(sent)


@responses.activate
def test_a_repeat_after_a_lost_answer_finds_its_code_and_a_store_outage_is_retried():
    client = rest_api.RestClient(woo.WOO_SHOP, "ck_a:cs_b")
    responses.post(
        f"{API}/coupons",
        status=400,
        json={"code": rest_api.CODE_TAKEN, "message": "The coupon code already exists"},
    )
    assert rest_api.create_coupon(client, {"code": "C1"}) == "code C1 already exists"
    responses.replace(responses.POST, f"{API}/coupons", status=503, body="down")
    with pytest.raises(rest_api.WooApiError) as down:
        rest_api.create_coupon(client, {"code": "C1"})
    assert down.value.retryable
    responses.replace(
        responses.POST,
        f"{API}/coupons",
        status=401,
        json={"code": "woocommerce_rest_cannot_create"},
    )
    with pytest.raises(rest_api.WooApiError) as refused:
        rest_api.create_coupon(client, {"code": "C1"})
    assert not refused.value.retryable and refused.value.status == 401


@responses.activate
def test_tags_are_added_to_the_customers_nudge_tags_meta():
    client = rest_api.RestClient(woo.WOO_SHOP, "ck_a:cs_b")
    responses.get(
        f"{API}/customers/7",
        json={"id": 7, "meta_data": [{"id": 3, "key": "nudge_tags", "value": "vip, sunset"}]},
    )
    put = responses.put(f"{API}/customers/7", json={"id": 7})
    assert rest_api.add_customer_tags(client, "7", ["sunset", "topic:tea"]) == "7"
    assert json.loads(put.calls[0].request.body) == {
        "meta_data": [{"key": "nudge_tags", "value": "vip, sunset, topic:tea"}]
    }
    with pytest.raises(ValueError, match="guest"):
        rest_api.add_customer_tags(client, "email:ada@example.com", ["vip"])


def test_a_key_pair_is_ck_and_cs():
    with pytest.raises(ValueError):
        rest_api.split_credentials("shpat_123")
    refused = CliRunner().invoke(
        main, ["shop", "add", "shop.example.com", "--platform", "woocommerce", "--token", "abc"]
    )
    assert refused.exit_code != 0 and "ck_...:cs_..." in refused.output
