"""Tokens stay alive: every shop's pair is renewed before its refresh token lapses, and
after the shop grants more scopes (app/scopes_update); the page says what is missing.
Shopify's token endpoint is mocked at the network edge."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import responses
from sqlalchemy import select

from plugin.pipeline.worker import upkeep
from plugin.shopify_app import tokens
from plugin.shopify_app.manifest import load, shopify_app_toml
from plugin.storage.models import ComplianceRecord, Shop
from tests.support.fake_shopify import grant, token_endpoint
from tests.support.session_tokens import session_token
from tests.support.shop import SHOP

EVERY_SCOPE = ",".join(load().scopes)


@pytest.fixture
def installed(services, shop, clock):  # type: ignore[no-untyped-def]
    """The test shop with an expiring pair issued now: access for an hour, refresh 90 days."""
    with services.sessions() as session, session.begin():
        row = session.get_one(Shop, shop.id)
        issued = tokens.Grant(
            "shpat_old",
            EVERY_SCOPE,
            clock.now + timedelta(hours=1),
            "shprt_old",
            clock.now + timedelta(days=90),
        )
        tokens.store(row, issued, tokens.cipher(services))
    return shop


def stored(services) -> Shop:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return session.scalars(select(Shop).where(Shop.domain == SHOP)).one()


def refresh_bodies(endpoint) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(call.request.body) for call in endpoint.calls]


@responses.activate
def test_a_quiet_shops_pair_is_renewed_a_week_before_its_refresh_token_lapses(
    services, installed, clock
):
    endpoint = responses.post(token_endpoint(SHOP), json=grant("shpat_2", "shprt_2"))
    start = clock.now
    # nobody used the token for 82 days: its access expired long ago, the refresh token not yet
    assert tokens.renew_due(services, start + timedelta(days=82)).renewed == 0
    assert endpoint.call_count == 0

    later = start + timedelta(days=83, hours=1)  # within 7 days of the 90-day lapse
    upkeep(
        services, later
    )  # what the embedded worker runs hourly (Celery beat: nudge.renew_tokens)
    assert [b["grant_type"] for b in refresh_bodies(endpoint)] == ["refresh_token"]
    assert refresh_bodies(endpoint)[0]["refresh_token"] == "shprt_old"
    shop = stored(services)
    box = tokens.cipher(services)
    assert box.decrypt(shop.refresh_token_encrypted or "") == "shprt_2"
    assert shop.refresh_token_expires_at == later + timedelta(days=90)
    assert tokens.renew_due(services, later + timedelta(hours=1)).renewed == 0  # not due again
    assert endpoint.call_count == 1


@responses.activate
def test_an_outage_leaves_the_pair_for_the_next_pass_and_a_revoked_one_is_forgotten(
    services, installed, clock
):
    due = clock.now + timedelta(days=85)
    responses.post(token_endpoint(SHOP), status=503, body="unavailable")
    outage = tokens.renew_due(services, due)
    assert outage.renewed == 0 and "503" in outage.failed[SHOP]
    assert tokens.cipher(services).decrypt(stored(services).refresh_token_encrypted or "") == (
        "shprt_old"
    )
    responses.replace(
        responses.POST,
        token_endpoint(SHOP),
        status=400,
        json={"error": "invalid_grant", "error_description": "refresh token revoked"},
    )
    refused = tokens.renew_due(services, due + timedelta(hours=1))
    assert "refresh token revoked" in refused.failed[SHOP]
    shop = stored(services)
    assert shop.refresh_token_encrypted is None and shop.access_token_encrypted is None


@responses.activate
def test_scopes_granted_later_renew_the_pair_at_once(services, installed, send_webhook, at, clock):
    with services.sessions() as session, session.begin():
        session.get_one(Shop, installed.id).scopes = "read_customers,read_orders"
    endpoint = responses.post(token_endpoint(SHOP), json=grant("shpat_2", "shprt_2"))
    update = {
        "id": 1,
        "previous": ["read_customers", "read_orders"],
        "current": ["read_customers", "write_customers", "read_orders"],
        "updated_at": clock.now.isoformat(),
    }
    assert send_webhook("app/scopes_update", update).status_code == 200
    at(clock.now)  # the worker applies it
    shop = stored(services)
    assert shop.scopes == "read_customers,write_customers,read_orders"
    assert shop.token_renewal_due and endpoint.call_count == 0
    with services.sessions() as session:
        [record] = session.scalars(select(ComplianceRecord)).all()
    assert "renewed to carry write_customers" in record.outcome

    # the next Admin API call renews first, though the access token has most of an hour left
    assert tokens.access_token(services, shop.id, clock.now) == "shpat_2"
    assert refresh_bodies(endpoint)[0]["grant_type"] == "refresh_token"
    assert not stored(services).token_renewal_due


@responses.activate
def test_fewer_scopes_renew_nothing_and_the_page_says_what_to_approve(
    client, services, installed, send_webhook, at, clock
):
    endpoint = responses.post(token_endpoint(SHOP), json=grant())
    update = {"previous": EVERY_SCOPE.split(","), "current": ["read_customers", "read_orders"]}
    send_webhook("app/scopes_update", update)
    at(clock.now)
    assert not stored(services).token_renewal_due
    assert tokens.renew_due(services, clock.now).renewed == 0 and endpoint.call_count == 0

    headers = {"Authorization": f"Bearer {session_token(SHOP)}"}
    access = client.get("/api/settings", headers=headers).json["access"]
    assert access["missing_scopes"] == ["write_customers", "read_products", "write_discounts"]
    assert access["reauthorize_url"] == (
        f"https://{SHOP}/admin/oauth/install?client_id=test-api-key"
    )


def test_a_shop_without_a_token_or_with_one_of_unknown_scopes_is_asked_for_nothing(
    client, services, shop
):
    headers = {"Authorization": f"Bearer {session_token(SHOP)}"}
    nothing = {"missing_scopes": [], "reauthorize_url": None}
    assert client.get("/api/settings", headers=headers).json["access"] == nothing
    with services.sessions() as session, session.begin():  # as `nudge shop add --token` does
        tokens.store_plain(session.get_one(Shop, shop.id), "shpat_by_hand", tokens.cipher(services))
    assert client.get("/api/settings", headers=headers).json["access"] == nothing


def test_scopes_update_is_subscribed_everywhere_the_manifest_is_read():
    manifest = load()
    assert "app/scopes_update" in {s.topic for s in manifest.subscriptions}
    assert "APP_SCOPES_UPDATE" in {s.graphql_topic for s in manifest.subscriptions}
    toml = shopify_app_toml(manifest, client_id="k", app_url="https://nudge.example")
    assert '"app/scopes_update"' in toml
