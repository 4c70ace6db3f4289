"""Connect a WooCommerce store: its REST keys through ``/wc-auth/v1/authorize``, then Nudge
creates its webhooks and hands the plugin the secret that signs them.

1. ``GET /woocommerce/connect?store=URL`` (the plugin's "Connect to Nudge" button, with the
   site's home URL): a single-use nonce is stored for the store (its key: host, and path when
   the store is below the root of its host, ``connectors.woocommerce.stores``), and the
   merchant is sent to ``<store URL>/wc-auth/v1/authorize`` (app name, ``read_write``, return
   and callback URLs).
2. ``POST /woocommerce/callback``: WooCommerce posts the key pair it made, naming the nonce
   (``user_id``); an unknown or expired nonce is refused. The pair is stored encrypted, on a
   shop created for the store if it had none.
3. ``GET /woocommerce/connected``: the merchant's browser comes back (``success=1``, the
   nonce again, used up here). Nudge makes a new webhook secret, creates (or renews) one
   webhook per topic with ``POST /wc/v3/webhooks``, reads them back to check them, and gives
   the plugin its URL and the secret (``wc-nudge/v1/connection``), reads the store's address
   for marketing email's footer (unless the merchant set one in Nudge), then sends the
   merchant to the plugin's settings screen. The store's REST API is called here, not in step 2, where
   the store is still waiting for Nudge's answer.

Uninstalling the plugin deletes the webhooks that deliver to Nudge (its uninstall.php).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, request
from sqlalchemy import CursorResult, delete, select

from connectors import untrusted_json
from connectors.woocommerce import rest_api
from connectors.woocommerce.stores import host_of, store_key, store_url
from plugin.services import Services
from plugin.shopify_app import tokens, webhook_secrets
from plugin.storage.models import OAuthState, Shop

log = logging.getLogger(__name__)
bp = Blueprint("woocommerce_connect", __name__, url_prefix="/woocommerce")
NONCE_SECONDS = 600


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _error(status: int, message: str):  # type: ignore[no-untyped-def]
    response = jsonify(error=message)
    response.status_code = status
    return response


def _head_acts_not() -> Response:
    """HEAD, which Flask routes to a GET view: answered without acting (link checkers and
    mail scanners send it), since these GETs start or finish a connection."""
    return Response(status=204)


def _store(value: str | None) -> str | None:
    """A store's key from its URL (host, and path below the root: ``example.com/shop``);
    Shopify shops connect through their own install."""
    store = store_key(value or "")
    return None if store is None or host_of(store).endswith(".myshopify.com") else store


@bp.get("/connect")
def connect():  # type: ignore[no-untyped-def]
    """Send the merchant to the store's key-granting screen."""
    if request.method == "HEAD":
        return _head_acts_not()
    store = _store(request.args.get("store"))
    if store is None:
        return _error(
            400, "store: give the WooCommerce store's URL, such as https://shop.example.com"
        )
    services = Services.of(current_app)
    nonce = secrets.token_urlsafe(24)
    now = services.now()
    with services.sessions() as session, session.begin():
        session.execute(delete(OAuthState).where(OAuthState.expires_at <= now))
        session.add(
            OAuthState(
                nonce=nonce, shop_domain=store, expires_at=now + timedelta(seconds=NONCE_SECONDS)
            )
        )
    app_url = services.settings["APP_URL"]
    query = urlencode(
        {
            "app_name": "Nudge",
            "scope": "read_write",
            "user_id": nonce,
            "return_url": f"{app_url}/woocommerce/connected?{urlencode({'store': store})}",
            "callback_url": f"{app_url}/woocommerce/callback",
        }
    )
    return redirect(f"{store_url(store)}/wc-auth/v1/authorize?{query}")


@bp.post("/callback")
def callback():  # type: ignore[no-untyped-def]
    """Keep the key pair the store granted, for the nonce it names."""
    try:
        data = untrusted_json.parse_object(request.get_data(cache=False))
    except untrusted_json.UnreadableJson as exc:
        return _error(400, str(exc))
    nonce, key, secret = (
        str(data.get(k) or "") for k in ("user_id", "consumer_key", "consumer_secret")
    )
    if data.get("key_permissions") != "read_write":
        return _error(400, "key_permissions: Nudge needs read_write")
    token = f"{key}:{secret}"
    try:
        rest_api.split_credentials(token)
    except ValueError as exc:
        return _error(400, str(exc))
    services = Services.of(current_app)
    with services.sessions() as session, session.begin():
        store = session.scalar(
            select(OAuthState.shop_domain).where(
                OAuthState.nonce == nonce, OAuthState.expires_at > services.now()
            )
        )
        if store is None:
            return _error(401, "unknown or expired connection")
        shop = session.scalar(select(Shop).where(Shop.domain == store))
        if shop is not None and shop.platform != "woocommerce":
            return _error(409, f"{store} is registered as a {shop.platform} shop")
        shop = shop or Shop(domain=store, platform="woocommerce", settings={})
        shop.active = True
        tokens.store_plain(shop, token, tokens.cipher(services))
        session.add(shop)
    return jsonify(status="ok")


@bp.get("/connected")
def connected():  # type: ignore[no-untyped-def]
    """The merchant is back: create the webhooks, hand the plugin its secret."""
    if request.method == "HEAD":
        return _head_acts_not()
    store = _store(request.args.get("store"))
    if store is None:
        return _error(400, "store: not a WooCommerce store's address")
    if request.args.get("success") != "1":
        return _error(400, "the store did not grant Nudge access; connect again to retry")
    services = Services.of(current_app)
    if not _use_nonce(services, store, request.args.get("user_id") or ""):
        return _error(400, "this connection was used or has expired; connect again")
    with services.sessions() as session:
        shop_id = session.scalar(
            select(Shop.id).where(
                Shop.domain == store,
                Shop.platform == "woocommerce",
                Shop.access_token_encrypted.is_not(None),
            )
        )
    if shop_id is None:
        return _error(409, "the store has not sent Nudge its keys; connect again")
    try:
        token = tokens.access_token(services, shop_id, services.now())
    except tokens.TokenError as exc:
        return _error(409, f"the store's keys cannot be used ({exc}); connect again")
    # Kept before the webhooks exist: WooCommerce delivers as soon as one is created, once.
    secret = secrets.token_urlsafe(32)
    with services.sessions() as session, session.begin():
        webhook_secrets.store(session.get_one(Shop, shop_id), secret, tokens.cipher(services))
    services.webhook_credentials.pop(("woocommerce", store), None)  # the new secret from now on
    app_url = services.settings["APP_URL"]
    client = rest_api.RestClient(store, token)
    try:
        missing = rest_api.ensure_webhooks(
            client, f"{app_url}/webhooks/woocommerce/{store}", secret
        )
        if not missing:
            rest_api.send_connection(client, app_url, secret)
    except rest_api.WooApiError as exc:
        return _error(409, f"the store refused: {exc}; connect again to retry")
    if missing:
        return _error(409, f"the store did not keep the webhooks for {', '.join(missing)}")
    _keep_store_address(services, shop_id, client)
    # WordPress's admin is under its site URL, which is the home URL unless WordPress has a
    # folder of its own; then /wp-admin under home redirects there (wp_redirect_admin_locations).
    return redirect(f"{store_url(store)}/wp-admin/admin.php?page=nudge&nudge_connected=1")


def _keep_store_address(services: Services, shop_id: int, client: rest_api.RestClient) -> None:
    """The store's address as the shop's postal address, which marketing email must show
    (held until there is one), as a Shopify shop's comes from its profile at install. The
    merchant's own, once set, is never replaced; a store that cannot say leaves it to the
    settings page, which asks for it."""
    try:
        address = rest_api.store_address(client)
    except rest_api.WooApiError as exc:
        log.warning("address of %s not read: %s", client.root, exc)
        return
    if address is None:
        return
    with services.sessions() as session, session.begin():
        shop = session.get_one(Shop, shop_id)
        if not (shop.settings or {}).get("postal_address"):
            shop.settings = {**(shop.settings or {}), "postal_address": address}


def _use_nonce(services: Services, store: str, nonce: str) -> bool:
    """Delete the store's unexpired nonce; True only for the one request that deleted it."""
    with services.sessions() as session, session.begin():
        result = session.execute(
            delete(OAuthState).where(
                OAuthState.nonce == nonce,
                OAuthState.shop_domain == store,
                OAuthState.expires_at > services.now(),
            )
        )
        return cast("CursorResult[Any]", result).rowcount == 1
