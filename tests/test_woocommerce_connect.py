"""Connecting a WooCommerce store without hand work: keys from /wc-auth/v1/authorize,
webhooks created with POST /wc/v3/webhooks and checked, the plugin given its secret.
`responses` stands in for the store."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from sqlalchemy import select

from connectors.woocommerce import rest_api
from plugin.shopify_app import tokens, webhook_secrets
from plugin.shopify_app.crypto import TokenCipher
from plugin.storage.models import Shop
from tests.support import woo
from tests.support.clock import T0

STORE = woo.WOO_SHOP
API = f"https://{STORE}/wp-json/wc/v3"
PLUGIN_ROUTE = f"https://{STORE}/wp-json/wc-nudge/v1/connection"
DELIVERY = f"https://nudge.example/webhooks/woocommerce/{STORE}"
KEYS = {"key_id": 1, "consumer_key": "ck_granted", "consumer_secret": "cs_granted"}


def start(client) -> str:  # type: ignore[no-untyped-def]
    """The connect button; return the nonce sent to the store."""
    response = client.get(f"/woocommerce/connect?store=https://{STORE}/")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        STORE,
        "/wc-auth/v1/authorize",
    )
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["app_name"] == "Nudge" and query["scope"] == "read_write"
    assert query["callback_url"] == "https://nudge.example/woocommerce/callback"
    assert query["return_url"] == f"https://nudge.example/woocommerce/connected?store={STORE}"
    return query["user_id"]


def grant(client, nonce: str, **changes):  # type: ignore[no-untyped-def]
    body = {**KEYS, "user_id": nonce, "key_permissions": "read_write", **changes}
    return client.post("/woocommerce/callback", json=body)


def shop_row(services) -> Shop | None:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return session.scalar(select(Shop).where(Shop.domain == STORE))


def store_webhook_api(keeps: bool = True) -> list[dict]:
    """The store's webhook API: creates what is posted and lists it back (as active when
    the store ``keeps`` them, else disabled)."""
    created: list[dict] = []

    def create(request):  # type: ignore[no-untyped-def]
        hook = {**json.loads(request.body), "id": len(created) + 1}
        created.append(hook)
        return 201, {}, json.dumps(hook)

    def listing(_request):  # type: ignore[no-untyped-def]
        status = "active" if keeps else "disabled"
        return 200, {}, json.dumps([{**hook, "status": status} for hook in created])

    responses.add_callback(responses.GET, f"{API}/webhooks?per_page=100", callback=listing)
    responses.add_callback(responses.POST, f"{API}/webhooks", callback=create)
    return created


def connected(client, nonce: str):  # type: ignore[no-untyped-def]
    return client.get(f"/woocommerce/connected?store={STORE}&success=1&user_id={nonce}")


@responses.activate
def test_connect_stores_the_keys_creates_checked_webhooks_and_hands_the_plugin_its_secret(
    client, services
):
    nonce = start(client)
    assert grant(client, nonce).status_code == 200
    row = shop_row(services)
    assert row is not None and row.platform == "woocommerce"
    assert "ck_granted" not in (row.access_token_encrypted or "")  # encrypted at rest
    assert tokens.access_token(services, row.id, services.now()) == "ck_granted:cs_granted"

    created = store_webhook_api()
    plugin = responses.post(PLUGIN_ROUTE, json={"connected": True})
    back = connected(client, nonce)
    assert back.status_code == 302
    assert back.headers["Location"] == (
        f"https://{STORE}/wp-admin/admin.php?page=nudge&nudge_connected=1"
    )
    assert sorted(h["topic"] for h in created) == sorted(rest_api.WEBHOOK_TOPICS)
    assert {(h["delivery_url"], h["status"]) for h in created} == {(DELIVERY, "active")}
    secret = created[0]["secret"]
    assert len(secret) >= 32 and {h["secret"] for h in created} == {secret}
    handed = json.loads(plugin.calls[0].request.body)
    assert handed == {"app_url": "https://nudge.example", "webhook_secret": secret}
    row = shop_row(services)
    assert row is not None
    assert webhook_secrets.read(row, TokenCipher(services.settings["SECRET_KEY"])) == secret
    # the store's deliveries, signed with it, are accepted
    sender = woo.WooSender(client, secret=secret)
    assert sender("customer.created", woo.customer(7, T0)).status_code == 200
    assert connected(client, nonce).status_code == 400  # the nonce was used up

    # connecting again renews the same webhooks with a new secret, creating none
    nonce = start(client)
    assert grant(client, nonce).status_code == 200
    renewed = responses.add_callback(
        responses.PUT,
        re.compile(rf"{API}/webhooks/\d+"),
        callback=lambda request: (200, {}, request.body),
    )
    assert connected(client, nonce).status_code == 302
    assert len(created) == len(rest_api.WEBHOOK_TOPICS) and len(renewed.calls) == len(created)
    new_secret = json.loads(plugin.calls[1].request.body)["webhook_secret"]
    assert new_secret != secret
    assert {json.loads(c.request.body)["secret"] for c in renewed.calls} == {new_secret}


@responses.activate
def test_webhooks_the_store_did_not_keep_are_reported_and_the_plugin_not_told(client):
    nonce = start(client)
    assert grant(client, nonce).status_code == 200
    store_webhook_api(keeps=False)
    plugin = responses.post(PLUGIN_ROUTE, json={"connected": True})
    refused = connected(client, nonce)
    assert refused.status_code == 409 and "order.created" in refused.json["error"]
    assert len(plugin.calls) == 0


def test_a_callback_naming_no_pending_connection_creates_no_shop(client, services):
    assert grant(client, "forged-nonce").status_code == 401
    nonce = start(client)
    assert grant(client, nonce, key_permissions="read").status_code == 400
    assert grant(client, nonce, consumer_key="shpat_x").status_code == 400
    assert client.post("/woocommerce/callback", data=b"{oops").status_code == 400
    assert shop_row(services) is None


@pytest.mark.parametrize("store", ["", "javascript:alert(1)", "evil.myshopify.com", "no-dots"])
def test_connect_refuses_what_is_not_a_store(client, store):
    assert client.get(f"/woocommerce/connect?store={store}").status_code == 400


def test_a_refused_grant_or_a_return_before_the_keys_connects_nothing(client, services):
    nonce = start(client)
    refused = client.get(f"/woocommerce/connected?store={STORE}&success=0&user_id={nonce}")
    assert refused.status_code == 400
    early = client.get(f"/woocommerce/connected?store={STORE}&success=1&user_id={nonce}")
    assert early.status_code == 409 and "keys" in early.json["error"]
    assert shop_row(services) is None


def store_settings(**values: str) -> list[dict]:
    """``GET /wc/v3/settings/general`` as WooCommerce answers it: one object per setting."""
    return [
        {"id": key, "label": key, "type": "text", "value": value} for key, value in values.items()
    ]


STORE_ADDRESS = {
    "woocommerce_store_address": "1 Long  Street",
    "woocommerce_store_address_2": "Unit 4",
    "woocommerce_store_city": "San Francisco",
    "woocommerce_default_country": "US:CA",
    "woocommerce_store_postcode": "94103",
}


@responses.activate
def test_connecting_reads_the_stores_address_for_marketing_email(client, services):
    """WooCommerce › Settings › General's address becomes the shop's postal address (marketing
    email is held without one); a store whose setup left it empty leaves it unset."""
    responses.get(f"{API}/settings/general", json=store_settings(**STORE_ADDRESS))
    store_webhook_api()
    responses.post(PLUGIN_ROUTE, json={"connected": True})
    nonce = start(client)
    assert grant(client, nonce).status_code == 200
    assert connected(client, nonce).status_code == 302
    row = shop_row(services)
    assert row is not None
    assert row.settings["postal_address"] == "1 Long Street, Unit 4, San Francisco, CA 94103, US"


@responses.activate
def test_the_merchants_own_address_is_kept_and_a_store_without_one_sets_none(client, services):
    empty = {**STORE_ADDRESS, "woocommerce_store_address": "", "woocommerce_store_city": ""}
    general = responses.get(f"{API}/settings/general", json=store_settings(**empty))
    store_webhook_api()
    responses.post(PLUGIN_ROUTE, json={"connected": True})
    responses.add_callback(
        responses.PUT,
        re.compile(rf"{API}/webhooks/\d+"),
        callback=lambda request: (200, {}, request.body),
    )
    nonce = start(client)
    assert grant(client, nonce).status_code == 200
    assert connected(client, nonce).status_code == 302
    assert len(general.calls) == 1
    row = shop_row(services)
    assert row is not None and "postal_address" not in row.settings

    with services.sessions() as session, session.begin():
        shop = session.get_one(Shop, row.id)
        shop.settings = {**shop.settings, "postal_address": "2 Own Road, Oakland, US"}
    responses.replace(
        responses.GET, f"{API}/settings/general", json=store_settings(**STORE_ADDRESS)
    )
    nonce = start(client)
    assert grant(client, nonce).status_code == 200
    assert connected(client, nonce).status_code == 302
    row = shop_row(services)
    assert row is not None and row.settings["postal_address"] == "2 Own Road, Oakland, US"


@responses.activate
def test_a_store_that_refuses_its_settings_still_connects(client, services):
    responses.get(f"{API}/settings/general", status=403, json={"code": "forbidden"})
    store_webhook_api()
    plugin = responses.post(PLUGIN_ROUTE, json={"connected": True})
    nonce = start(client)
    assert grant(client, nonce).status_code == 200
    assert connected(client, nonce).status_code == 302
    assert len(plugin.calls) == 1
    row = shop_row(services)
    assert row is not None and "postal_address" not in (row.settings or {})
