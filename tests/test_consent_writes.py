"""Consent changed in Nudge is written back to the shop: Shopify through the Admin API,
WooCommerce through customer meta; queued in the request, carried out by the worker,
retried through an outage. The platforms are mocked at the network edge."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import pytest
import responses
from click.testing import CliRunner
from sqlalchemy import select

from plugin.cli import main
from plugin.pipeline.consent_writes import queue_consent_write
from plugin.pipeline.delivery import deliver_pending
from plugin.pipeline.outbox import unsubscribe_token
from plugin.shopify_app import tokens
from plugin.storage.models import OutboxMessage, Shop
from tests.support.fake_shopify import FakeAdmin
from tests.support.sendgrid_events import PUBLIC, message_event, post_events
from tests.support.shop import SHOP
from tests.support.workflows import subscribe

ADA = "gid://shopify/Customer/501"  # tests.support.payloads.customer()
WOO = "store.example.com"


@pytest.fixture
def installed(services, shop):  # type: ignore[no-untyped-def]
    """The test shop with an Admin API token."""
    with services.sessions() as session, session.begin():
        tokens.store_plain(session.get_one(Shop, shop.id), "shpat_consent", tokens.cipher(services))
    return shop


def unsubscribe(client, services, shop_id: int, email: str = "ada@example.com"):  # type: ignore[no-untyped-def]
    token = unsubscribe_token(services.settings["SECRET_KEY"], shop_id, email)
    return client.post(f"/unsubscribe/{token}")


def consent_rows(services) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "consent")
                .order_by(OutboxMessage.id)
            )
        )


@responses.activate
def test_an_unsubscribe_reaches_shopify_through_the_worker_not_the_request(
    client, services, installed, send_webhook, clock, at
):
    admin = FakeAdmin(responses, SHOP)
    subscribe(send_webhook)
    at(clock.now)  # the customer's facts applied
    admin.requests.clear()
    assert unsubscribe(client, services, installed.id).status_code == 200
    assert admin.requests == []  # the page did not wait for Shopify
    [row] = consent_rows(services)
    assert (row.state, row.customer_external_id, row.to_email) == (
        "pending",
        "501",
        "ada@example.com",
    )

    # SendGrid is not configured in these tests: emails stay kept, consent still goes
    stats = deliver_pending(services, clock.now)
    assert admin.consents == {
        ADA: {"marketingState": "UNSUBSCRIBED", "consentUpdatedAt": clock.now.isoformat()}
    }
    assert admin.tokens_seen == ["shpat_consent"] and stats.recorded >= 1
    [row] = consent_rows(services)
    assert (row.state, row.provider_message_id) == ("recorded", ADA)


@responses.activate
def test_an_unsubscribe_through_sendgrids_own_link_reaches_shopify_once(
    client, services, installed, send_webhook, clock, at
):
    admin = FakeAdmin(responses, SHOP)
    services.settings["SENDGRID_EVENT_PUBLIC_KEY"] = PUBLIC
    subscribe(send_webhook)
    at(clock.now)
    unsubscribed = clock.now - timedelta(minutes=5)
    for kind in ("group_unsubscribe", "group_unsubscribe", "unsubscribe"):  # SendGrid repeats
        event = message_event(kind, 7, "Ada@Example.com", unsubscribed, asm_group_id=12)
        event["sg_event_id"] += kind  # each report an event of its own
        assert post_events(client, [event]).status_code == 200
        at(clock.now)  # applied, one report at a time
    [row] = consent_rows(services)
    assert (row.workflow, row.customer_external_id, row.params["subscribed"]) == (
        "sendgrid_unsubscribe",
        "501",
        False,
    )
    deliver_pending(services, clock.now)
    assert admin.consents == {
        ADA: {"marketingState": "UNSUBSCRIBED", "consentUpdatedAt": unsubscribed.isoformat()}
    }
    # Nudge's own link afterwards, for an address already unsubscribed: written again (the
    # page's promise), SendGrid's reports of it are not
    assert unsubscribe(client, services, installed.id).status_code == 200
    assert len(consent_rows(services)) == 2


@responses.activate
def test_a_sendgrid_open_or_bounce_writes_no_consent(
    client, services, installed, send_webhook, clock, at
):
    FakeAdmin(responses, SHOP)
    services.settings["SENDGRID_EVENT_PUBLIC_KEY"] = PUBLIC
    subscribe(send_webhook)
    at(clock.now)
    events = [message_event(kind, 8, "ada@example.com", clock.now) for kind in ("open", "bounce")]
    assert post_events(client, events).status_code == 200
    at(clock.now)
    assert consent_rows(services) == []


@responses.activate
def test_a_shopify_outage_loses_nothing(client, services, installed, send_webhook, clock, at):
    admin = FakeAdmin(responses, SHOP)
    subscribe(send_webhook)
    at(clock.now)
    unsubscribe(client, services, installed.id)
    admin.queue(503)
    deliver_pending(services, clock.now)
    [row] = consent_rows(services)
    assert row.state == "pending" and "503" in (row.last_error or "")
    assert row.next_attempt_at is not None and row.next_attempt_at > clock.now
    assert admin.consents == {}

    deliver_pending(services, clock.now)  # not due yet: nothing asked
    assert len(admin.requests) == 1
    clock.now = row.next_attempt_at
    deliver_pending(services, clock.now)
    assert admin.consents[ADA]["marketingState"] == "UNSUBSCRIBED"
    assert consent_rows(services)[0].state == "recorded"


@responses.activate
def test_a_refused_write_is_parked_with_shopifys_words(
    client, services, installed, send_webhook, clock, at
):
    admin = FakeAdmin(responses, SHOP)
    subscribe(send_webhook)
    at(clock.now)
    unsubscribe(client, services, installed.id)
    refusal = {
        "field": ["input", "customerId"],
        "code": "INVALID",
        "message": "Customer has no email",
    }
    admin.queue(
        200,
        {
            "data": {
                "customerEmailMarketingConsentUpdate": {"customer": None, "userErrors": [refusal]}
            }
        },
    )
    deliver_pending(services, clock.now)
    [row] = consent_rows(services)
    assert row.state == "failed" and "Customer has no email" in (row.last_error or "")


@responses.activate
def test_a_confirmed_signup_is_written_as_a_confirmed_opt_in_found_by_address(
    client, services, installed, clock
):
    """A contact Nudge knows only by address may be a Shopify customer: found by exact
    address, then written."""
    admin = FakeAdmin(responses, SHOP)
    admin.customers["zoe@example.com"] = "gid://shopify/Customer/777"
    body = {"vid": "visitor-0123456789abcdef", "email": "zoe@example.com", "consent": True}
    signup = client.post(
        f"/storefront/{SHOP}/signup", data=json.dumps(body), content_type="text/plain"
    )
    assert signup.status_code == 202 and consent_rows(services) == []  # not before the link
    with services.sessions() as session:
        confirm_mail = session.scalars(
            select(OutboxMessage).where(OutboxMessage.workflow == "storefront_signup")
        ).one()
    link = re.search(
        r'href="https://nudge\.example(/storefront/[^"]+)"', confirm_mail.preview_html or ""
    )
    assert link and client.post(link.group(1)).status_code == 200

    deliver_pending(services, clock.now)
    assert admin.operations() == ["customers(", "customerEmailMarketingConsentUpdate"]
    assert admin.consents == {
        "gid://shopify/Customer/777": {
            "marketingState": "SUBSCRIBED",
            "consentUpdatedAt": clock.now.isoformat(),
            "marketingOptInLevel": "CONFIRMED_OPT_IN",
        }
    }


@responses.activate
def test_an_address_shopify_does_not_know_is_recorded_with_nothing_written(
    client, services, installed, clock
):
    admin = FakeAdmin(responses, SHOP)
    unsubscribe(client, services, installed.id, "nobody@example.com")
    deliver_pending(services, clock.now)
    [row] = consent_rows(services)
    assert row.state == "recorded" and "no customer with this address" in (row.last_error or "")
    assert admin.operations() == ["customers("] and admin.consents == {}


def test_shops_without_credentials_queue_nothing(client, services, shop, send_webhook):
    subscribe(send_webhook)
    assert unsubscribe(client, services, shop.id).status_code == 200
    assert consent_rows(services) == []


def test_a_later_change_supersedes_a_pending_one(services, installed, clock):
    with services.sessions() as session, session.begin():
        row = session.get_one(Shop, installed.id)
        for subscribed, minutes in ((False, 0), (True, 1)):
            queue_consent_write(
                session,
                row,
                customer_external_id="501",
                email="ada@example.com",
                subscribed=subscribed,
                origin="test",
                now=clock.now + timedelta(minutes=minutes),
            )
    first, second = consent_rows(services)
    assert (first.state, second.state) == ("cancelled", "pending")
    assert second.params["subscribed"] is True


@responses.activate
def test_woocommerce_gets_customer_meta_with_its_rest_api_keys(client, services, clock):
    with services.sessions() as session, session.begin():
        store = Shop(domain=WOO, platform="woocommerce", settings={})
        tokens.store_plain(store, "ck_abc:cs_def", tokens.cipher(services))  # as `shop add` does
        session.add(store)
    lookup = responses.get(
        f"https://{WOO}/wp-json/wc/v3/customers",
        json=[{"id": 77, "email": "ada@example.com"}],
    )
    write = responses.put(f"https://{WOO}/wp-json/wc/v3/customers/77", json={"id": 77})
    with services.sessions() as session:
        shop_id = session.scalars(select(Shop.id).where(Shop.domain == WOO)).one()
    assert unsubscribe(client, services, shop_id).status_code == 200
    deliver_pending(services, clock.now)

    assert lookup.calls[0].request.params == {"email": "ada@example.com"}
    request = write.calls[0].request
    assert json.loads(request.body) == {
        "meta_data": [{"key": "_nudge_accepts_marketing", "value": "no"}]
    }
    expected = "Basic " + base64.b64encode(b"ck_abc:cs_def").decode()
    assert request.headers["Authorization"] == expected
    assert consent_rows(services)[0].state == "recorded"


def test_a_woocommerce_token_must_be_its_key_pair():
    args = ["shop", "add", WOO, "--platform", "woocommerce", "--token", "just-a-key"]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 2 and "ck_...:cs_..." in refused.output
