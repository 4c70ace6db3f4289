"""Installing: token exchange, the authorization code grant, tokens refreshed and rotated,
encrypted at rest, revoked at uninstall. Shopify is mocked at the network edge."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import responses
from click.testing import CliRunner
from sqlalchemy import select, text

from plugin.cli import main
from plugin.shopify_app import tokens
from plugin.shopify_app.install import valid_shop_domain
from plugin.shopify_app.manifest import load
from plugin.storage.models import Shop
from tests.support.fake_shopify import FakeAdmin, grant, token_endpoint
from tests.support.session_tokens import session_token
from tests.support.shop import API_KEY, APP_SECRET, SHOP
from tests.support.signed_links import signed

NEW_SHOP = "new-shop.myshopify.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def raw_shop_row(services, domain: str) -> str:  # type: ignore[no-untyped-def]
    """Every column of the shop's row as the database holds it."""
    with services.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM shops WHERE domain = :d"), {"d": domain}).one()
    return " ".join(str(value) for value in row)


def stored(services, domain: str) -> Shop:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return session.scalars(select(Shop).where(Shop.domain == domain)).one()


# --- token exchange (embedded install) -----------------------------------------------


@responses.activate
def test_session_token_is_exchanged_for_an_expiring_offline_token(client, services, clock):
    admin = FakeAdmin(responses, NEW_SHOP)
    exchange = responses.post(token_endpoint(NEW_SHOP), json=grant("shpat_first", "shprt_first"))
    token = session_token(NEW_SHOP)

    response = client.post("/auth/session", headers=bearer(token))

    assert response.status_code == 200 and response.json["shop"] == NEW_SHOP
    # granted "read_customers,write_discounts" of the manifest's scopes: the rest is reported
    assert response.json["missing_scopes"] == ["write_customers", "read_orders", "read_products"]
    body = json.loads(exchange.calls[0].request.body)
    assert body == {
        "client_id": API_KEY,
        "client_secret": APP_SECRET,
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
        "expiring": 1,
    }
    shop = stored(services, NEW_SHOP)
    assert shop.active and shop.access_token_expires_at == clock.now + timedelta(seconds=3600)
    assert shop.refresh_token_expires_at == clock.now + timedelta(days=90)
    box = tokens.cipher(services)
    assert box.decrypt(shop.access_token_encrypted or "") == "shpat_first"
    assert box.decrypt(shop.refresh_token_encrypted or "") == "shprt_first"
    # encrypted at rest: neither token appears anywhere in the row as stored
    raw = raw_shop_row(services, NEW_SHOP)
    assert "shpat_first" not in raw and "shprt_first" not in raw
    # webhooks registered with the new token, and the shop's address kept for staff mail
    assert {s["topic"] for s in admin.subscriptions} == {
        s.graphql_topic for s in load().subscriptions
    }
    assert set(admin.tokens_seen) == {"shpat_first"}
    assert shop.email == admin.shop_email


@responses.activate
def test_an_installed_shop_is_not_exchanged_again(client, services):
    FakeAdmin(responses, NEW_SHOP)
    every_scope = ",".join(load().scopes)
    exchange = responses.post(token_endpoint(NEW_SHOP), json=grant(scope=every_scope))
    assert client.post("/auth/session", headers=bearer(session_token(NEW_SHOP))).status_code == 200
    assert client.post("/auth/session", headers=bearer(session_token(NEW_SHOP))).status_code == 200
    assert exchange.call_count == 1


@responses.activate
def test_a_shop_missing_scopes_is_exchanged_again_and_keeps_what_the_new_token_carries(
    client, services
):
    """After the merchant grants the app's new scopes, the page's next session token is
    exchanged for a token that carries them; the answer says what is still missing."""
    FakeAdmin(responses, NEW_SHOP)
    every_scope = ",".join(load().scopes)
    responses.post(token_endpoint(NEW_SHOP), json=grant())
    first = client.post("/auth/session", headers=bearer(session_token(NEW_SHOP)))
    assert first.json["missing_scopes"] == ["write_customers", "read_orders", "read_products"]
    responses.replace(responses.POST, token_endpoint(NEW_SHOP), json=grant(scope=every_scope))
    second = client.post("/auth/session", headers=bearer(session_token(NEW_SHOP)))
    assert second.json["missing_scopes"] == [] and stored(services, NEW_SHOP).scopes == every_scope
    exchanges = [c for c in responses.calls if c.request.url == token_endpoint(NEW_SHOP)]
    assert len(exchanges) == 2  # the second session token was exchanged too


@responses.activate
def test_refused_exchange_installs_nothing(client, services):
    responses.post(
        token_endpoint(NEW_SHOP),
        status=400,
        json={"error": "invalid_subject_token", "error_description": "bad token"},
    )
    response = client.post("/auth/session", headers=bearer(session_token(NEW_SHOP)))
    assert response.status_code == 401 and "bad token" in response.json["error"]
    with services.sessions() as session:
        assert session.scalars(select(Shop).where(Shop.domain == NEW_SHOP)).all() == []


@responses.activate
@pytest.mark.parametrize(
    "token",
    [
        session_token(NEW_SHOP, secret="forged-secret-forged-secret-forged-secret"),
        session_token(NEW_SHOP, audience="someone-elses-app"),
        session_token(NEW_SHOP, expires_in=-120),
        "not-a-jwt",
    ],
)
def test_invalid_session_tokens_never_reach_shopify(client, token):
    assert client.post("/auth/session", headers=bearer(token)).status_code == 401
    assert client.post("/auth/session").status_code == 401
    assert len(responses.calls) == 0


# --- refresh and rotation ------------------------------------------------------------


def _install_expiring(services, clock, expires_in: timedelta) -> int:  # type: ignore[no-untyped-def]
    box = tokens.cipher(services)
    with services.sessions() as session, session.begin():
        shop = Shop(domain=NEW_SHOP, platform="shopify", settings={})
        tokens.store(
            shop,
            tokens.Grant(
                "shpat_old",
                "x",
                clock.now + expires_in,
                "shprt_old",
                clock.now + timedelta(days=90),
            ),
            box,
        )
        session.add(shop)
        session.flush()
        return shop.id


@responses.activate
def test_token_is_refreshed_before_it_expires_and_the_new_pair_stored(services, clock):
    shop_id = _install_expiring(services, clock, timedelta(minutes=3))
    refresh = responses.post(token_endpoint(NEW_SHOP), json=grant("shpat_2", "shprt_2"))

    assert tokens.access_token(services, shop_id, clock.now) == "shpat_2"

    assert json.loads(refresh.calls[0].request.body) == {
        "client_id": API_KEY,
        "client_secret": APP_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": "shprt_old",
    }
    shop = stored(services, NEW_SHOP)
    box = tokens.cipher(services)
    assert box.decrypt(shop.refresh_token_encrypted or "") == "shprt_2"  # rotated
    assert shop.access_token_expires_at == clock.now + timedelta(hours=1)
    # the next call uses the stored new token without asking again
    assert tokens.access_token(services, shop_id, clock.now) == "shpat_2"
    assert refresh.call_count == 1


@responses.activate
def test_a_token_far_from_expiry_is_used_as_is(services, clock):
    shop_id = _install_expiring(services, clock, timedelta(minutes=30))
    assert tokens.access_token(services, shop_id, clock.now) == "shpat_old"
    assert len(responses.calls) == 0


@responses.activate
def test_failed_refresh_keeps_a_still_valid_token_then_reports_retryable(services, clock):
    shop_id = _install_expiring(services, clock, timedelta(minutes=3))
    responses.post(token_endpoint(NEW_SHOP), status=503)
    assert tokens.access_token(services, shop_id, clock.now) == "shpat_old"
    later = clock.now + timedelta(minutes=4)  # now expired, and Shopify still failing
    with pytest.raises(tokens.TokenError) as failure:
        tokens.access_token(services, shop_id, later)
    assert failure.value.retryable
    shop = stored(services, NEW_SHOP)
    assert tokens.cipher(services).decrypt(shop.refresh_token_encrypted or "") == "shprt_old"


@responses.activate
def test_a_revoked_refresh_token_forgets_the_credentials(services, clock):
    shop_id = _install_expiring(services, clock, timedelta(minutes=1))
    responses.post(token_endpoint(NEW_SHOP), status=400, json={"error": "invalid_grant"})
    with pytest.raises(tokens.TokenError) as failure:
        tokens.access_token(services, shop_id, clock.now)
    assert not failure.value.retryable
    shop = stored(services, NEW_SHOP)
    assert (shop.access_token_encrypted, shop.refresh_token_encrypted) == (None, None)
    assert not tokens.usable(shop, clock.now)  # the next session token re-installs


# --- authorization code grant (non-embedded install) ---------------------------------


def _start_install(client, shop: str = NEW_SHOP):  # type: ignore[no-untyped-def]
    params = signed({"shop": shop, "timestamp": str(int(time.time()))})
    return client.get("/auth/install?" + urlencode(params))


def test_install_link_redirects_to_consent_with_a_state_nonce(client):
    response = _start_install(client)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        NEW_SHOP,
        "/admin/oauth/authorize",
    )
    query = parse_qs(location.query)
    assert query["client_id"] == [API_KEY]
    assert query["scope"] == [",".join(load().scopes)]
    assert query["redirect_uri"] == ["https://nudge.example/auth/callback"]
    assert len(query["state"][0]) >= 24
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie


@responses.activate
def test_callback_with_the_right_state_and_hmac_installs(client, services):
    FakeAdmin(responses, NEW_SHOP)
    exchange = responses.post(token_endpoint(NEW_SHOP), json=grant("shpat_code", "shprt_code"))
    state = parse_qs(urlsplit(_start_install(client).headers["Location"]).query)["state"][0]
    params = signed(
        {"shop": NEW_SHOP, "code": "auth-code", "state": state, "timestamp": str(int(time.time()))}
    )

    response = client.get("/auth/callback?" + urlencode(params))

    assert response.status_code == 302
    assert response.headers["Location"] == f"https://{NEW_SHOP}/admin/apps/{API_KEY}"
    assert json.loads(exchange.calls[0].request.body) == {
        "client_id": API_KEY,
        "client_secret": APP_SECRET,
        "code": "auth-code",
        "expiring": 1,
    }
    shop = stored(services, NEW_SHOP)
    assert tokens.cipher(services).decrypt(shop.access_token_encrypted or "") == "shpat_code"


@responses.activate
def test_a_state_is_used_once_and_never_replayed(client, services):
    FakeAdmin(responses, NEW_SHOP)
    exchange = responses.post(token_endpoint(NEW_SHOP), json=grant("shpat_code", "shprt_code"))
    state = parse_qs(urlsplit(_start_install(client).headers["Location"]).query)["state"][0]
    cookie = client.get_cookie("nudge_oauth_state", path="/auth/callback")
    assert cookie is not None
    params = signed(
        {"shop": NEW_SHOP, "code": "auth-code", "state": state, "timestamp": str(int(time.time()))}
    )
    assert client.get("/auth/callback?" + urlencode(params)).status_code == 302
    # the same signed callback again, with the browser's cookie put back: refused
    client.set_cookie("nudge_oauth_state", cookie.value, path="/auth/callback")
    replayed = client.get("/auth/callback?" + urlencode(params))
    assert replayed.status_code == 401 and "already used" in replayed.json["error"]
    assert exchange.call_count == 1


@responses.activate
def test_a_state_expires(client, services, clock):
    state = parse_qs(urlsplit(_start_install(client).headers["Location"]).query)["state"][0]
    clock.now += timedelta(minutes=11)
    params = signed(
        {"shop": NEW_SHOP, "code": "c", "state": state, "timestamp": str(int(time.time()))}
    )
    assert client.get("/auth/callback?" + urlencode(params)).status_code == 401
    assert len(responses.calls) == 0


@responses.activate
@pytest.mark.parametrize(
    "state_case", ["other nonce", "no cookie", "cookie of another shop", "non-ascii"]
)
def test_callback_refuses_a_state_that_is_not_this_browsers(client, state_case):
    state = parse_qs(urlsplit(_start_install(client).headers["Location"]).query)["state"][0]
    shop = NEW_SHOP
    if state_case == "other nonce":
        state = state[:-2] + ("AA" if not state.endswith("AA") else "BB")
    elif state_case == "no cookie":
        client.delete_cookie("nudge_oauth_state", path="/auth/callback")
    elif state_case == "cookie of another shop":
        shop = "another-shop.myshopify.com"
    else:
        state = "état"
    params = signed({"shop": shop, "code": "c", "state": state, "timestamp": str(int(time.time()))})
    response = client.get("/auth/callback?" + urlencode(params))
    assert response.status_code == 401
    assert len(responses.calls) == 0  # no code was traded


@pytest.mark.parametrize("route", ["/auth/install", "/auth/callback"])
@pytest.mark.parametrize(
    "tamper",
    ["missing", "wrong secret", "changed param", "stale"],
)
def test_install_hmac_must_be_valid_and_fresh(client, route, tamper):
    params = {"shop": NEW_SHOP, "timestamp": str(int(time.time()))}
    if route == "/auth/callback":
        params.update(code="c", state="s")
    if tamper == "missing":
        query = params
    elif tamper == "wrong secret":
        query = signed(params, secret="not-the-app-secret")
    elif tamper == "changed param":
        query = {**signed(params), "timestamp": str(int(time.time()) + 1)}
    else:
        query = signed({**params, "timestamp": str(int(time.time()) - 2 * 86400)})
    assert client.get(f"{route}?{urlencode(query)}").status_code == 401


ATTACKS = [
    "evil.com",
    "x.myshopify.com.evil.com",
    "https://x.myshopify.com",
    "X.MYSHOPIFY.COM",
    "x.myshopify.com/admin",
    "x.myshopify.com/../evil.com",
    "x.myshopify.com:443",
    "x.myshopify.com\n",
    "x.myshopify.com@evil.com",
    "evil.com#x.myshopify.com",
    "-x.myshopify.com",
    ".myshopify.com",
    "x.myshopifyxcom",
    "",
]


@pytest.mark.parametrize("domain", ATTACKS)
def test_shop_domain_attacks_are_refused_even_when_signed(client, domain):
    assert valid_shop_domain(domain) is None
    now = str(int(time.time()))
    install = signed({"shop": domain, "timestamp": now})
    assert client.get("/auth/install?" + urlencode(install)).status_code == 400
    callback = signed({"shop": domain, "code": "c", "state": "s", "timestamp": now})
    assert client.get("/auth/callback?" + urlencode(callback)).status_code == 400


def test_a_well_formed_shop_domain_is_accepted():
    assert valid_shop_domain("my-shop-2.myshopify.com") == "my-shop-2.myshopify.com"


# --- at rest, and at uninstall -------------------------------------------------------


def test_shop_add_token_is_stored_encrypted(services, monkeypatch):
    monkeypatch.setenv("NUDGE_DATABASE_URL", services.settings["DATABASE_URL"])
    monkeypatch.setenv("NUDGE_SECRET_KEY", services.settings["SECRET_KEY"])
    result = CliRunner().invoke(
        main, ["shop", "add", "cli.myshopify.com", "--token", "shpat_cli_secret"]
    )
    assert result.exit_code == 0, result.output
    assert "shpat_cli_secret" not in raw_shop_row(services, "cli.myshopify.com")
    shop = stored(services, "cli.myshopify.com")
    assert tokens.cipher(services).decrypt(shop.access_token_encrypted or "") == "shpat_cli_secret"
    assert tokens.access_token(services, shop.id, services.now()) == "shpat_cli_secret"


def test_uninstall_revokes_the_encrypted_tokens(send_webhook, services, at, clock):
    with services.sessions() as session, session.begin():
        shop = session.scalars(select(Shop).where(Shop.domain == SHOP)).one()
        tokens.store(
            shop,
            tokens.Grant("shpat_u", None, clock.now + timedelta(hours=1), "shprt_u", None),
            tokens.cipher(services),
        )
    send_webhook("app/uninstalled", {"id": 1, "name": "Test shop", "domain": SHOP})
    at(clock.now + timedelta(minutes=1))
    shop = stored(services, SHOP)
    assert not shop.active
    assert (shop.access_token, shop.access_token_encrypted, shop.refresh_token_encrypted) == (
        None,
        None,
        None,
    )
    with pytest.raises(tokens.TokenError):
        tokens.access_token(services, shop.id, clock.now)
