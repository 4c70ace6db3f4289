"""A WooCommerce store below the root of its host (``https://example.com/shop/``, WordPress in
a folder): known by its host and path, connected, called and delivering under that path, and
isolated from another store on the same host. `responses` stands in for the stores and
SendGrid."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from sqlalchemy import select

from connectors import woocommerce
from connectors.woocommerce import carts, rest_api
from connectors.woocommerce.stores import sent_by, store_key
from plugin.pipeline.delivery import deliver_pending
from plugin.pipeline.due_steps import run_due
from plugin.pipeline.inbox import process_inbox
from plugin.shopify_app import tokens
from plugin.shopify_app.crypto import TokenCipher
from plugin.storage.models import CheckoutRow, Delivery, OutboxMessage, Shop
from plugin.woocommerce_app.sessions import link_signature
from tests.support import woo
from tests.support.clock import T0

APP = "https://nudge.example"


@pytest.mark.parametrize(
    "given, key",
    [
        ("https://Example.com/shop/", "example.com/shop"),
        ("https://example.com/shop", "example.com/shop"),
        ("http://example.com:8080//a/b/?x=1#top", "example.com/a/b"),
        ("example.com/Shop", "example.com/Shop"),  # a server's paths may be case-sensitive
        ("https://example.com/", "example.com"),
        ("Example.COM", "example.com"),
        ("https://example.com/caf%C3%A9/", "example.com/caf%C3%A9"),
        ("https://example.com/a/../b", None),
        ("https://example.com/a b/", None),
        ("https://example.com/<script>/", None),
        ("ftp://example.com/shop", None),
        ("https://user@example.com/shop", None),
        ("https://no-dots/shop", None),
        ("https://example.com/" + "a" * 250, None),  # longer than a shop's domain column
        ("[", None),  # an unbalanced bracket: urlsplit refuses it (a 500 before)
        ("https://example.com]/shop", None),
    ],
)
def test_a_store_is_known_by_its_host_and_path(given, key):
    assert store_key(given) == key


def test_which_sources_a_store_takes_deliveries_from():
    assert sent_by("www.example.com", "example.com")
    assert sent_by("example.com/shop", "www.example.com/shop")
    assert not sent_by("example.com", "example.com/shop")
    assert not sent_by("example.com/a", "example.com/b")
    assert not sent_by("example.com/shop/staging", "example.com/shop")
    assert not sent_by("staging.example.com", "example.com")
    # a store kept by its host alone, as it had to be before paths: any path on its host
    assert sent_by("example.com/shop", "example.com")
    assert sent_by("www.example.com/shop", "example.com")


# --- connecting --------------------------------------------------------------------------


def store_api(store: str) -> list[dict]:
    """One store's REST API under its path: webhooks created and listed back, the plugin's
    connection route answering."""
    api = f"https://{store}/wp-json/wc/v3"
    created: list[dict] = []

    def create(request):  # type: ignore[no-untyped-def]
        hook = {**json.loads(request.body), "id": len(created) + 1}
        created.append(hook)
        return 201, {}, json.dumps(hook)

    responses.add_callback(
        responses.GET,
        f"{api}/webhooks?per_page=100",
        callback=lambda _r: (200, {}, json.dumps([{**h, "status": "active"} for h in created])),
    )
    responses.add_callback(responses.POST, f"{api}/webhooks", callback=create)
    responses.post(f"https://{store}/wp-json/wc-nudge/v1/connection", json={"connected": True})
    return created


def connect(client, home_url: str, keys: tuple[str, str]) -> tuple[str, list[dict]]:  # type: ignore[no-untyped-def]
    """The plugin's connect button for a site whose home URL is ``home_url``, the store's
    grant and the merchant's return; the store's key and the webhooks it was given."""
    started = client.get("/woocommerce/connect", query_string={"store": home_url})
    assert started.status_code == 302
    authorize = urlsplit(started.headers["Location"])
    store = store_key(home_url)
    assert store is not None
    host, _, path = store.partition("/")
    assert (authorize.scheme, authorize.netloc, authorize.path) == (
        "https",
        host,
        f"/{path}/wc-auth/v1/authorize",
    )
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    back = urlsplit(query["return_url"])
    assert parse_qs(back.query) == {"store": [store]}
    granted = client.post(
        "/woocommerce/callback",
        json={
            "key_id": 1,
            "user_id": query["user_id"],
            "consumer_key": keys[0],
            "consumer_secret": keys[1],
            "key_permissions": "read_write",
        },
    )
    assert granted.status_code == 200
    created = store_api(store)
    returned = client.get(f"{back.path}?{back.query}&success=1&user_id={query['user_id']}")
    assert returned.status_code == 302
    assert returned.headers["Location"] == (
        f"https://{store}/wp-admin/admin.php?page=nudge&nudge_connected=1"
    )
    return store, created


def shop_of(services, store: str) -> Shop:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return session.scalars(select(Shop).where(Shop.domain == store)).one()


@responses.activate
def test_a_store_in_a_folder_connects_under_its_path(client, services):
    store, created = connect(client, "https://example.com/shop/", ("ck_shop", "cs_shop"))
    assert store == "example.com/shop"
    delivery = f"{APP}/webhooks/woocommerce/example.com/shop"
    assert {(h["delivery_url"], h["status"]) for h in created} == {(delivery, "active")}
    urls = {call.request.url.split("?")[0] for call in responses.calls}
    assert urls == {
        "https://example.com/shop/wp-json/wc/v3/webhooks",
        "https://example.com/shop/wp-json/wc-nudge/v1/connection",
        "https://example.com/shop/wp-json/wc/v3/settings/general",  # the store's address
    }
    row = shop_of(services, store)
    assert tokens.access_token(services, row.id, services.now()) == "ck_shop:cs_shop"

    # its deliveries, signed with the secret it was given, arrive at its address
    send = woo.WooSender(client, shop=store, secret=created[0]["secret"])
    assert send("customer.created", woo.customer(7, T0)).status_code == 200
    with services.sessions() as session:
        assert session.scalars(select(Delivery.shop_id)).all() == [row.id]


@responses.activate
def test_two_stores_on_one_host_are_two_shops_isolated(client, services, clock):
    store_a, hooks_a = connect(client, "https://example.com/a/", ("ck_a", "cs_a"))
    store_b, hooks_b = connect(client, "https://example.com/b/", ("ck_b", "cs_b"))
    secret_a, secret_b = hooks_a[0]["secret"], hooks_b[0]["secret"]
    assert secret_a != secret_b
    shop_a, shop_b = shop_of(services, store_a), shop_of(services, store_b)
    assert shop_a.id != shop_b.id
    assert tokens.access_token(services, shop_b.id, services.now()) == "ck_b:cs_b"

    to_a = woo.WooSender(client, shop=store_a, secret=secret_a)
    assert to_a("customer.created", woo.customer(7, T0, email="a@example.com")).status_code == 200
    # A's delivery at B's address: B's secret does not sign it
    a_signed_to_b = woo.WooSender(client, shop=store_b, secret=secret_a)
    assert a_signed_to_b("customer.created", woo.customer(8, T0)).status_code == 401
    with services.sessions() as session:
        assert session.scalars(select(Delivery.shop_id)).all() == [shop_a.id]

    # the settings link of one store opens that store's settings, not the other's
    clock.now = datetime.fromtimestamp(int(datetime.now(UTC).timestamp()), UTC)
    expires = int(clock.now.timestamp()) + 60
    forged = {
        "store": store_b,
        "expires": expires,
        "sig": link_signature(store_b, expires, secret_a),
    }
    assert client.get("/woocommerce/settings", query_string=forged).status_code == 401
    with services.sessions() as session, session.begin():
        session.get_one(Shop, shop_b.id).settings = {"frequency_cap_hours": 30}
    link = {"store": store_a, "expires": expires, "sig": link_signature(store_a, expires, secret_a)}
    opened = client.get("/woocommerce/settings", query_string=link)
    assert opened.status_code == 302
    assert parse_qs(urlsplit(opened.headers["Location"]).query) == {"store": [store_a]}
    shown = client.get(opened.headers["Location"]).get_data(as_text=True)
    assert f'<meta name="nudge-store" content="{store_a}">' in shown
    settings = client.get("/api/settings")
    assert settings.status_code == 200
    assert settings.json["settings"].get("frequency_cap_hours") != 30  # A's page, not B's


# --- deliveries ----------------------------------------------------------------------------


@pytest.fixture
def folder_store(services):  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        row = woo.woo_store(services.settings["SECRET_KEY"], domain="example.com/shop")
        tokens.store_plain(row, "ck_live:cs_live", TokenCipher(services.settings["SECRET_KEY"]))
        row.email = "owner@example.com"
        session.add(row)
    services.settings["SENDGRID_BASE_URL"] = "https://sendgrid.test"
    return "example.com/shop"


def post(client, store: str, source: str | None, payload: dict):  # type: ignore[no-untyped-def]
    body = json.dumps(payload).encode()
    headers = {
        "X-WC-Webhook-Topic": "customer.created",
        "X-WC-Webhook-Signature": woocommerce.sign(body, woo.WOO_SECRET),
        "X-WC-Webhook-Delivery-ID": str(payload["id"]),
        **({"X-WC-Webhook-Source": source} if source is not None else {}),
    }
    return client.post(f"/webhooks/woocommerce/{store}", data=body, headers=headers)


def test_a_delivery_must_come_from_the_store_its_address_names(client, services, folder_store):
    # WooCommerce's X-WC-Webhook-Source is home_url('/'): the site's home URL, with its path
    assert (
        post(client, folder_store, "https://example.com/shop/", woo.customer(1, T0)).status_code
        == 200
    )
    assert post(client, folder_store, None, woo.customer(2, T0)).status_code == 200  # no header
    # a copy of the site (staging keeps the webhooks and their secret), another path: refused
    for source in ("https://staging.example.com/shop/", "https://example.com/", "not a url"):
        refused = post(client, folder_store, source, woo.customer(3, T0))
        assert refused.status_code == 401 and "another store" in refused.json["error"]
    assert post(client, "example.com/shop/../x", None, woo.customer(4, T0)).status_code == 401
    with services.sessions() as session:
        assert sorted(session.scalars(select(Delivery.delivery_id))) == ["1", "2"]


def test_a_store_kept_by_its_host_still_takes_its_deliveries(client, services):
    with services.sessions() as session, session.begin():
        session.add(woo.woo_store(services.settings["SECRET_KEY"]))  # "woo.example.com"
    store = woo.WOO_SHOP
    assert post(client, store, f"https://{store}/", woo.customer(1, T0)).status_code == 200
    assert post(client, store, f"https://www.{store}/", woo.customer(2, T0)).status_code == 200
    # a store in a folder that could only be added by its host, before paths
    assert post(client, store, f"https://{store}/shop/", woo.customer(3, T0)).status_code == 200
    source = f"https://staging.{store}/"
    assert post(client, store, source, woo.customer(4, T0)).status_code == 401


def test_a_cart_of_a_store_in_a_folder_links_back_under_its_path(client, services, folder_store):
    cart = {**woo.cart("k-1", T0), "checkout_url": "https://example.com/shop/?nudge_cart=k-1"}
    send = woo.WooSender(client, shop=folder_store)
    assert send(carts.TOPIC, cart).status_code == 200
    process_inbox(services, T0)
    with services.sessions() as session:
        [checkout] = session.scalars(select(CheckoutRow)).all()
        assert checkout.shop_id == shop_of(services, folder_store).id
    assert checkout.recovery_url == "https://example.com/shop/?nudge_cart=k-1"


@responses.activate
def test_the_offer_code_is_a_coupon_under_the_stores_path(client, services, folder_store, at):
    send = woo.WooSender(client, shop=folder_store)
    send(carts.TOPIC, woo.cart("k-offer", T0, total="80.00"))
    at(T0 + timedelta(hours=4, minutes=1))
    due = T0 + timedelta(hours=24, minutes=1)
    run_due(services, due)
    services.settings["SENDGRID_API_KEY"] = "SG.test-key"
    coupons = responses.post(
        "https://example.com/shop/wp-json/wc/v3/coupons", json={"id": 55}, status=201
    )
    sent = responses.post(
        "https://sendgrid.test/v3/mail/send", status=202, headers={"X-Message-Id": "m"}
    )
    services.settings.pop("FROM_EMAIL", None)
    deliver_pending(services, due)
    deliver_pending(services, due + timedelta(minutes=1))
    [offer] = [json.loads(call.request.body) for call in sent.calls]
    assert offer["from"]["email"] == "no-reply@example.com"  # the store's host, not its path
    with services.sessions() as session:
        [discount] = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "create_discount")
        ).all()
    assert json.loads(coupons.calls[0].request.body)["code"] == discount.params["code"]
    assert (discount.state, discount.provider_message_id) == ("recorded", "55")


@responses.activate
def test_the_rest_api_of_a_store_in_a_folder_is_under_its_path():
    client = rest_api.RestClient("example.com/shop", "ck_a:cs_b")
    found = responses.get(
        "https://example.com/shop/wp-json/wc/v3/customers",
        json=[{"id": 3, "email": "ada@example.com"}],
    )
    assert rest_api.find_customer_id(client, "ada@example.com") == "3"
    assert found.calls[0].request.url.startswith("https://example.com/shop/wp-json/wc/v3/")


def test_the_storefront_script_of_a_store_in_a_folder(client, folder_store):
    script = client.get(f"/storefront/{folder_store}/nudge.js")
    assert script.status_code == 200
    # the script finds its overlay beside /storefront/, whatever the shop's path
    assert "/storefront\\/.+$/" in script.get_data(as_text=True)
    assert client.get("/storefront/example.com/other/nudge.js").status_code == 404
    assert client.get("/storefront/example.com/nudge.js").status_code == 404
