"""Installing Nudge on a shop: token exchange (embedded) or the authorization code grant.

- Embedded: the settings page holds a session token; ``ensure_installed`` exchanges it for
  an expiring offline token when the shop has no usable one (``POST /auth/session`` does
  so for the page; the JSON API can call it too).
- Non-embedded: ``GET /auth/install?shop=…&hmac=…&timestamp=…`` (Shopify's install link,
  HMAC-signed) redirects to Shopify's consent screen with a ``state`` nonce, kept in a
  signed, short-lived cookie and stored server-side; ``GET /auth/callback`` checks the
  HMAC, the shop and the nonce (this browser's, and not used before: it is deleted as it
  is checked), then trades the code for a token.

Either way the tokens are stored encrypted (plugin.shopify_app.tokens), the shop's webhook
subscriptions are registered from manifest.json (plugin.shopify_app.webhook_registration),
and a first read of the shop's catalog is queued for the worker
(plugin.shopify_app.catalog_sync): a large catalog takes a bulk operation, which no install
request should wait for.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from shopify import Session as ShopifySession
from sqlalchemy import CursorResult, delete, select

from connectors.shopify.admin_api import AdminApiError, AdminClient
from plugin.services import Services
from plugin.shopify_app import catalog_sync, manifest, tokens
from plugin.shopify_app.session_tokens import Unauthorized, shop_from_session_token
from plugin.shopify_app.webhook_registration import register_webhooks
from plugin.storage.models import OAuthState, Shop
from rules.validation import postal_address_error

log = logging.getLogger(__name__)

bp = Blueprint("install", __name__, url_prefix="/auth")

# Anchored and lowercase only: "x.myshopify.com.evil.com", "https://…", paths and ports fail.
SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
STATE_COOKIE = "nudge_oauth_state"
STATE_SECONDS = 600
HMAC_MAX_AGE = 24 * 3600  # Shopify's signed links are refused after a day (replay)

# The shop's own address is what its marketing email shows (CAN-SPAM) until the merchant
# sets another; ``shopAddress`` replaced the deprecated ``billingAddress`` in API 2026-01.
SHOP_QUERY = (
    "query { shop { email contactEmail "
    "shopAddress { address1 address2 city province zip country } } }"
)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def valid_shop_domain(value: object) -> str | None:
    """The shop's myshopify domain when ``value`` is exactly one, else None."""
    if isinstance(value, str) and len(value) <= 255 and SHOP_DOMAIN.fullmatch(value):
        return value
    return None


def valid_hmac(params: Mapping[str, str], secret: str, now: float | None = None) -> bool:
    """Shopify's query-string HMAC (hex SHA-256 over the sorted other parameters), fresh.

    shopifyapi computes and compares it (constant time); its secret is a class attribute,
    so a subclass carries ours instead of changing global state.
    """
    if not secret or "hmac" not in params:
        return False
    try:
        timestamp = int(params.get("timestamp", ""))
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - timestamp) > HMAC_MAX_AGE:
        return False
    signer: type[ShopifySession] = type("AppSession", (ShopifySession,), {"secret": secret})
    return bool(signer.validate_hmac(dict(params)))


def ensure_installed(services: Services, shop_domain: str, session_token: str) -> Shop:
    """Return the installed shop, exchanging the session token for tokens when needed.

    Call it with a session token already verified for ``shop_domain``. A shop with a
    usable token that carries every scope the app asks for is returned as is; otherwise
    token exchange installs (or re-installs) it: after the merchant granted new scopes,
    the new token carries them. Raises ``tokens.TokenError`` when Shopify refuses.
    """
    now = services.now()
    with services.sessions() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == shop_domain))
        if (
            shop is not None
            and tokens.usable(shop, now)
            and not shop.token_renewal_due
            and not manifest.known_missing_scopes(manifest.load(), shop.scopes)
        ):
            if not (shop.settings or {}).get("postal_address"):
                # installed before install read the shop's address: its marketing email
                # is held until it has one, so read the profile now
                read_profile(services, shop.id, tokens.access_token(services, shop.id, now))
            return shop
    settings = services.settings
    grant = tokens.exchange_session_token(
        shop_domain,
        session_token,
        settings.get("SHOPIFY_API_KEY") or "",
        settings.get("SHOPIFY_API_SECRET") or "",
        now,
    )
    return complete_install(services, shop_domain, grant)


def complete_install(services: Services, shop_domain: str, grant: tokens.Grant) -> Shop:
    """Store the grant (encrypted), mark the shop installed, register its webhooks, queue
    the first read of its catalog."""
    box = tokens.cipher(services)
    with services.sessions() as session, session.begin():
        shop = session.scalar(select(Shop).where(Shop.domain == shop_domain))
        if shop is None:
            shop = Shop(domain=shop_domain, platform="shopify", settings={})
            session.add(shop)
        shop.active = True
        tokens.store(shop, grant, box)
        session.flush()
        shop_id = shop.id
    # Webhooks and the shop's address are best effort: a failure here must not undo the
    # install; registration is idempotent and runs again at the next install or exchange.
    try:
        client = AdminClient(shop_domain, grant.access_token, manifest.load().api_version)
        # per shop only when shopify.app.toml does not subscribe every shop app-wide
        if not services.settings["SHOPIFY_MANAGED_WEBHOOKS"]:
            register_webhooks(client, manifest.load(), services.settings["APP_URL"])
    except AdminApiError as exc:
        log.warning("install of %s: Admin API setup incomplete: %s", shop_domain, exc)
    read_profile(services, shop_id, grant.access_token)
    with services.sessions() as session, session.begin():
        shop = session.get_one(Shop, shop_id)
        catalog_sync.request_sync(session, shop_id, services.now())
        session.flush()
        session.expunge(shop)
    services.work_arrived.set()  # the embedded worker starts the read without waiting
    return shop


def read_profile(services: Services, shop_id: int, access_token: str) -> None:
    """Keep the shop's email and, unless the merchant set one, its postal address from its
    profile (best effort: a failure leaves both as they were)."""
    with services.sessions() as session:
        domain = session.get_one(Shop, shop_id).domain
    try:
        client = AdminClient(domain, access_token, manifest.load().api_version)
        profile = client.query(SHOP_QUERY).get("shop") or {}
    except AdminApiError as exc:
        log.warning("profile of %s not read: %s", domain, exc)
        return
    email = _shop_email(profile)
    address = profile_address(profile.get("shopAddress"))
    with services.sessions() as session, session.begin():
        shop = session.get_one(Shop, shop_id)
        if email:
            shop.email = email
        # the merchant's own, once set, is never replaced by the profile's
        if address and not (shop.settings or {}).get("postal_address"):
            shop.settings = {**(shop.settings or {}), "postal_address": address}


def _shop_email(profile: dict[str, Any]) -> str | None:
    email = profile.get("contactEmail") or profile.get("email")
    return str(email) if email else None


def profile_address(address: object) -> str | None:
    """The shop profile's address as one line, "street, city, province zip, country";
    None when it lacks a street, a city or a country, or would not pass the settings'
    own check (then the page asks the merchant for it)."""
    if not isinstance(address, dict):
        return None

    def part(key: str) -> str:
        value = address.get(key)
        return " ".join(value.split()) if isinstance(value, str) else ""

    street = ", ".join(p for p in (part("address1"), part("address2")) if p)
    region = " ".join(p for p in (part("province"), part("zip")) if p)
    if not (street and part("city") and part("country")):
        return None
    line = ", ".join(p for p in (street, part("city"), region, part("country")) if p)
    return line if postal_address_error(line) is None else None


def _error(status: int, message: str):  # type: ignore[no-untyped-def]
    response = jsonify(error=message)
    response.status_code = status
    return response


def _head_acts_not() -> Response:
    """HEAD, which Flask routes to a GET view: answered without acting (link checkers and
    mail scanners send it), since these GETs start or finish an install."""
    return Response(status=204)


@bp.post("/session")
def session_install():  # type: ignore[no-untyped-def]
    """Install (token exchange) for the shop a valid session token names; idempotent."""
    services = Services.of(current_app)
    settings = services.settings
    authorization = request.headers.get("Authorization")
    try:
        domain = shop_from_session_token(
            authorization,
            settings.get("SHOPIFY_API_KEY") or "",
            settings.get("SHOPIFY_API_SECRET") or "",
        )
    except Unauthorized as exc:
        return _error(401, f"unauthorized: {exc}")
    token = (authorization or "").removeprefix("Bearer ").strip()
    try:
        shop = ensure_installed(services, domain, token)
    except tokens.TokenError as exc:
        return _error(401, f"install refused by Shopify: {exc}")
    return jsonify(
        shop=shop.domain,
        installed=True,
        scopes=shop.scopes,
        # a non-empty list means the merchant must approve the app's new scopes
        missing_scopes=manifest.missing_scopes(manifest.load(), shop.scopes),
    )


@bp.get("/install")
def install():  # type: ignore[no-untyped-def]
    """Start the authorization code grant: check the signed link, send to Shopify's consent."""
    if request.method == "HEAD":
        return _head_acts_not()
    settings = Services.of(current_app).settings
    shop = valid_shop_domain(request.args.get("shop"))
    if shop is None:
        return _error(400, "shop must be a myshopify.com domain")
    if not valid_hmac(request.args.to_dict(), settings.get("SHOPIFY_API_SECRET") or ""):
        return _error(401, "invalid or stale hmac")
    nonce = secrets.token_urlsafe(24)
    _remember_state(Services.of(current_app), shop, nonce)
    query = urlencode(
        {
            "client_id": settings.get("SHOPIFY_API_KEY") or "",
            "scope": ",".join(manifest.load().scopes),
            "redirect_uri": settings["APP_URL"].rstrip("/") + manifest.CALLBACK_PATH,
            "state": nonce,
        }
    )
    response = redirect(f"https://{shop}/admin/oauth/authorize?{query}")
    response.set_cookie(
        STATE_COOKIE,
        _state_signer().dumps({"shop": shop, "nonce": nonce}),
        max_age=STATE_SECONDS,
        httponly=True,
        secure=settings["APP_URL"].startswith("https://"),
        samesite="Lax",  # sent on Shopify's top-level redirect back to the callback
        path=manifest.CALLBACK_PATH,
    )
    return response


@bp.get("/callback")
def callback():  # type: ignore[no-untyped-def]
    """Finish the authorization code grant: HMAC, shop and state checked, code traded."""
    if request.method == "HEAD":
        return _head_acts_not()
    services = Services.of(current_app)
    settings = services.settings
    params = request.args.to_dict()
    shop = valid_shop_domain(params.get("shop"))
    if shop is None or not params.get("code") or not params.get("state"):
        return _error(400, "shop, code and state are required")
    if not valid_hmac(params, settings.get("SHOPIFY_API_SECRET") or ""):
        return _error(401, "invalid or stale hmac")
    if not _state_matches(request.cookies.get(STATE_COOKIE), shop, params["state"]):
        return _error(401, "state does not match this browser's install")
    if not _consume_state(services, shop, params["state"]):
        return _error(401, "state already used or expired: start the install again")
    try:
        grant = tokens.exchange_code(
            shop,
            params["code"],
            settings.get("SHOPIFY_API_KEY") or "",
            settings.get("SHOPIFY_API_SECRET") or "",
            services.now(),
        )
    except tokens.TokenError as exc:
        return _error(401, f"install refused by Shopify: {exc}")
    complete_install(services, shop, grant)
    response = redirect(f"https://{shop}/admin/apps/{settings.get('SHOPIFY_API_KEY') or ''}")
    response.delete_cookie(STATE_COOKIE, path=manifest.CALLBACK_PATH)
    return response


def _remember_state(services: Services, shop: str, nonce: str) -> None:
    """Store a new install's nonce until it is used or expires (expired ones are dropped)."""
    now = services.now()
    with services.sessions() as session, session.begin():
        session.execute(delete(OAuthState).where(OAuthState.expires_at <= now))
        session.add(
            OAuthState(
                nonce=nonce, shop_domain=shop, expires_at=now + timedelta(seconds=STATE_SECONDS)
            )
        )


def _consume_state(services: Services, shop: str, nonce: str) -> bool:
    """Delete the shop's unexpired nonce; True only for the one request that deleted it."""
    with services.sessions() as session, session.begin():
        result = session.execute(
            delete(OAuthState).where(
                OAuthState.nonce == nonce,
                OAuthState.shop_domain == shop,
                OAuthState.expires_at > services.now(),
            )
        )
        return cast("CursorResult[Any]", result).rowcount == 1


def _state_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        Services.of(current_app).settings["SECRET_KEY"], salt="oauth-state"
    )


def _state_matches(cookie: str | None, shop: str, state: str) -> bool:
    if not cookie:
        return False
    try:
        data = _state_signer().loads(cookie, max_age=STATE_SECONDS)
    except BadSignature:  # includes an expired signature
        return False
    if not isinstance(data, dict):
        return False
    return data.get("shop") == shop and hmac.compare_digest(
        str(data.get("nonce", "")).encode(), state.encode()
    )
