"""Actions in the shop through the Admin API: the discount code the email promises exists
before the email leaves, tags are added, failures retry without holding other mail, and
shops without a token stay local. Shopify and SendGrid are mocked with `responses`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import responses
from sqlalchemy import select

from plugin.pipeline.delivery import deliver_pending
from plugin.shopify_app import tokens
from plugin.storage.models import Episode, OutboxMessage, Shop
from tests.support import payloads
from tests.support.clock import T0
from tests.support.fake_shopify import FakeAdmin
from tests.support.shop import SHOP
from tests.support.workflows import subscribe

SEND_URL = "https://sendgrid.test/v3/mail/send"
OFFER_DUE = T0 + timedelta(hours=24, minutes=1)


@pytest.fixture
def installed(services, shop):  # type: ignore[no-untyped-def]
    """The test shop with an Admin API token (non-expiring, as `shop add --token` gives)."""
    with services.sessions() as session, session.begin():
        row = session.get_one(Shop, shop.id)
        tokens.store_plain(row, "shpat_actions", tokens.cipher(services))
        row.email = "owner@test-shop.example"
    services.settings["SENDGRID_BASE_URL"] = "https://sendgrid.test"
    return shop


def _offer_in_outbox(send_webhook, services, at) -> None:  # type: ignore[no-untyped-def]
    """Run the abandonment workflow up to its offer step (10 % off, 3 days) undelivered."""
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-offer", T0, price="80.00"))
    at(T0)
    at(T0 + timedelta(hours=4, minutes=1))  # the reminder: no key yet, kept as a preview
    services.settings["SENDGRID_API_KEY"] = None
    from plugin.pipeline.due_steps import run_due

    run_due(services, OFFER_DUE)  # decides the offer step; nothing delivered yet
    services.settings["SENDGRID_API_KEY"] = "SG.test-key"


def rows(services, kind: str) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return list(
            session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            )
        )


def sent_bodies() -> list[dict]:
    return [json.loads(c.request.body) for c in responses.calls if c.request.url == SEND_URL]


@responses.activate
def test_discount_is_created_in_the_shop_before_the_email_that_carries_it(
    installed, send_webhook, services, at
):
    _offer_in_outbox(send_webhook, services, at)
    admin = FakeAdmin(responses, SHOP)
    responses.post(SEND_URL, status=202, headers={"X-Message-Id": "sg-1"})
    [discount] = rows(services, "create_discount")
    code = discount.params["code"]

    stats = deliver_pending(services, OFFER_DUE)

    [request] = [r for r in admin.requests if r["operation"] == "discountCodeBasicCreate"]
    assert request["variables"] == {
        "basicCodeDiscount": {
            "title": f"Nudge 10% {code}",
            "code": code,
            "startsAt": OFFER_DUE.isoformat(),
            "endsAt": (OFFER_DUE + timedelta(days=3)).isoformat(),
            "usageLimit": 1,
            "appliesOncePerCustomer": True,
            "context": {"customers": {"add": ["gid://shopify/Customer/501"]}},
            "customerGets": {"value": {"percentage": 0.1}, "items": {"all": True}},
        }
    }
    assert set(admin.tokens_seen) == {"shpat_actions"}
    [discount] = rows(services, "create_discount")
    assert (discount.state, discount.provider_message_id) == (
        "recorded",
        "gid://shopify/DiscountCodeNode/1",
    )
    offer = rows(services, "email")[-1]
    assert offer.state == "sent" and stats.sent == 1
    [body] = sent_bodies()
    assert code in json.dumps(body)  # the code the shop now honours is the one in the email


@responses.activate
def test_the_email_waits_while_its_discount_is_retried(installed, send_webhook, services, at):
    _offer_in_outbox(send_webhook, services, at)
    admin = FakeAdmin(responses, SHOP)
    admin.queue(503)
    responses.post(SEND_URL, status=202, headers={"X-Message-Id": "sg-1"})

    deliver_pending(services, OFFER_DUE)

    [discount] = rows(services, "create_discount")
    offer = rows(services, "email")[-1]
    assert discount.state == "pending" and discount.next_attempt_at > OFFER_DUE
    assert offer.state == "pending" and offer.next_attempt_at > discount.next_attempt_at
    assert offer.attempts == 0  # waiting is not one of its own attempts
    assert sent_bodies() == []

    deliver_pending(services, offer.next_attempt_at)

    assert rows(services, "create_discount")[0].state == "recorded"
    assert rows(services, "email")[-1].state == "sent"
    assert len(sent_bodies()) == 1
    assert len(admin.discounts) == 1


@responses.activate
def test_a_refused_discount_parks_its_email_instead_of_sending_a_dead_code(
    installed, send_webhook, services, at
):
    _offer_in_outbox(send_webhook, services, at)
    admin = FakeAdmin(responses, SHOP)
    admin.queue(
        200,
        {
            "data": {
                "discountCodeBasicCreate": {
                    "codeDiscountNode": None,
                    "userErrors": [
                        {"field": ["basicCodeDiscount"], "code": "INVALID", "message": "Nope"}
                    ],
                }
            }
        },
    )
    deliver_pending(services, OFFER_DUE)
    deliver_pending(services, OFFER_DUE + timedelta(hours=1))
    [discount] = rows(services, "create_discount")
    offer = rows(services, "email")[-1]
    assert discount.state == "failed" and "Nope" in (discount.last_error or "")
    assert offer.state == "failed" and f"outbox #{discount.id}" in (offer.last_error or "")
    assert sent_bodies() == []


@responses.activate
def test_a_repeated_discount_request_finds_its_own_code(installed, send_webhook, services, at):
    """The answer to the first request was lost; the code exists; the retry is a success."""
    _offer_in_outbox(send_webhook, services, at)
    admin = FakeAdmin(responses, SHOP)
    [discount] = rows(services, "create_discount")
    admin.discounts.append({"code": discount.params["code"]})
    responses.post(SEND_URL, status=202)
    deliver_pending(services, OFFER_DUE)
    assert rows(services, "create_discount")[0].state == "recorded"
    assert rows(services, "email")[-1].state == "sent"


def _tag_row(services, shop_id: int, customer: str = "501", tag: str = "vip") -> int:  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        episode = Episode(
            shop_id=shop_id,
            workflow="reengagement",
            subject=customer,
            customer_external_id=customer,
            enrolled_at=T0,
            anchor_at=T0,
        )
        session.add(episode)
        session.flush()
        row = OutboxMessage(
            shop_id=shop_id,
            idempotency_key=f"tag-{customer}-{tag}",
            kind="tag_customer",
            workflow="reengagement",
            episode_id=episode.id,
            step_id="sunset",
            customer_external_id=customer,
            params={"tag": tag},
            state="pending",
            attempts=0,
            next_attempt_at=T0,
            created_at=T0,
        )
        email = OutboxMessage(
            shop_id=shop_id,
            idempotency_key=f"mail-{customer}-{tag}",
            kind="email",
            workflow="reengagement",
            episode_id=episode.id,
            step_id="sunset",
            customer_external_id=customer,
            to_email="ada@example.com",
            subject="Still there?",
            preview_html="<p>hi</p>",
            params={"context": {}, "text": "hi"},
            state="pending",
            attempts=0,
            next_attempt_at=T0,
            created_at=T0,
        )
        session.add_all([row, email])
        session.flush()
        return row.id


@responses.activate
def test_tag_customer_adds_the_tag_in_the_shop(installed, services):
    admin = FakeAdmin(responses, SHOP)
    responses.post(SEND_URL, status=202)
    services.settings["SENDGRID_API_KEY"] = "SG.test-key"
    _tag_row(services, installed.id, tag="nudge-sunset")
    deliver_pending(services, T0)
    assert [r["variables"] for r in admin.requests] == [
        {"id": "gid://shopify/Customer/501", "tags": ["nudge-sunset"]}
    ]
    assert admin.tags == {"gid://shopify/Customer/501": ["nudge-sunset"]}
    assert rows(services, "tag_customer")[0].state == "recorded"


@responses.activate
def test_a_failing_tag_is_retried_and_never_holds_the_email(installed, services):
    admin = FakeAdmin(responses, SHOP)
    admin.queue(502)
    responses.post(SEND_URL, status=202)
    services.settings["SENDGRID_API_KEY"] = "SG.test-key"
    _tag_row(services, installed.id)
    deliver_pending(services, T0)
    [tag] = rows(services, "tag_customer")
    assert tag.state == "pending" and tag.next_attempt_at > T0
    assert rows(services, "email")[0].state == "sent"
    deliver_pending(services, tag.next_attempt_at)
    assert rows(services, "tag_customer")[0].state == "recorded"


@responses.activate
def test_a_guest_cannot_be_tagged_and_says_why(installed, services):
    FakeAdmin(responses, SHOP)
    responses.post(SEND_URL, status=202)
    services.settings["SENDGRID_API_KEY"] = "SG.test-key"
    _tag_row(services, installed.id, customer="email:guest@example.com")
    deliver_pending(services, T0)
    [tag] = rows(services, "tag_customer")
    assert tag.state == "failed" and "guest" in (tag.last_error or "")


@responses.activate
def test_throttled_discount_waits_for_the_bucket_then_succeeds(
    installed, send_webhook, services, at, monkeypatch
):
    from tests.support.fake_shopify import throttled

    _offer_in_outbox(send_webhook, services, at)
    admin = FakeAdmin(responses, SHOP)
    admin.queue(200, throttled(requested=10, available=0, rate=5))
    responses.post(SEND_URL, status=202)
    sleeps: list[float] = []
    monkeypatch.setattr("connectors.shopify.admin_api.time.sleep", sleeps.append)
    deliver_pending(services, OFFER_DUE)
    assert sleeps == [2.0]
    assert rows(services, "create_discount")[0].state == "recorded"


@responses.activate
def test_shops_without_a_token_keep_local_codes_and_call_nothing(shop, send_webhook, services, at):
    services.settings["SENDGRID_BASE_URL"] = "https://sendgrid.test"
    _offer_in_outbox(send_webhook, services, at)
    responses.post(SEND_URL, status=202)
    deliver_pending(services, OFFER_DUE)
    assert [c.request.url for c in responses.calls] == [SEND_URL]  # SendGrid only
    assert rows(services, "create_discount")[0].state == "recorded"
    assert rows(services, "email")[-1].state == "sent"


def test_staff_alerts_go_to_the_shops_address_when_no_staff_address_is_set(
    installed, send_webhook, services, at
):
    from tests.support.workflows import enable, new_subscriber, outbox

    enable(services, "sales_rep_alert", settings={})  # no staff address set by the merchant
    new_subscriber(send_webhook, T0)
    send_webhook("checkouts/create", payloads.checkout("big", T0, price="450.00"))
    at(T0 + timedelta(hours=1, minutes=5))
    [alert] = outbox(services, "sales_rep_alert")
    assert alert.kind == "notify_staff"
    assert alert.to_email == "owner@test-shop.example"  # the address Shopify gave at install
