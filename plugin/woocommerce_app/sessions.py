"""The settings page for a WooCommerce merchant: a short-lived signed link from the plugin's
settings screen opens a cookie session, and every change needs its CSRF token.

Shopify's admin authenticates each API call with a session token; a WooCommerce store has
no such thing. The plugin (for a user who manages WooCommerce, at the moment they click)
makes a link ``/woocommerce/settings?store=STORE&expires=T&sig=S``: STORE is the store's key
(its host, and path when below the root of its host: ``connectors.woocommerce.stores``), S
the base64url HMAC-SHA256 of ``settings\\nSTORE\\nT`` with the shop's webhook secret, which
only the store and Nudge hold, and T at most ``LINK_SECONDS`` ahead. Nudge answers with a
session cookie (signed, HttpOnly, Secure on https, SameSite=Lax) naming the shop and a CSRF
token; the page gets the token in a meta tag and sends it as ``X-CSRF-Token`` with every
change.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Request, Response, current_app, jsonify, redirect, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from connectors.woocommerce.stores import store_key
from plugin.services import Services
from plugin.shopify_app import webhook_secrets
from plugin.shopify_app.crypto import TokenCipher
from plugin.storage.models import Shop

COOKIE = "nudge_store_session"
CSRF_HEADER = "X-CSRF-Token"
LINK_SECONDS = 300  # the plugin makes the link when clicked; it never needs to live long
SESSION_SECONDS = 8 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def link_signature(host: str, expires: int, secret: str) -> str:
    """What the plugin signs a settings link with (nudge_settings_signature in signing.php)."""
    digest = hmac.digest(secret.encode(), f"settings\n{host}\n{expires}".encode(), "sha256")
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def shop_for_link(services: Services, host: str, expires: str, signature: str) -> Shop | None:
    """The WooCommerce shop a valid, unexpired settings link opens; None otherwise."""
    if not expires.isdigit() or not signature:
        return None
    now = services.now().timestamp()
    if not now < int(expires) <= now + LINK_SECONDS:
        return None
    with services.sessions() as session:
        shop = session.scalar(
            select(Shop).where(
                Shop.domain == host, Shop.platform == "woocommerce", Shop.active.is_(True)
            )
        )
    if shop is None:
        return None
    secret = webhook_secrets.read(shop, TokenCipher(services.settings["SECRET_KEY"]))
    if not secret:
        return None
    expected = link_signature(host, int(expires), secret)
    return shop if hmac.compare_digest(expected.encode(), signature.encode()) else None


def _serializer(services: Services) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(services.settings["SECRET_KEY"], salt="woocommerce-session")


def new_session(services: Services, shop: Shop) -> tuple[str, str]:
    """A session cookie's value for the shop, and its CSRF token."""
    csrf = secrets.token_urlsafe(24)
    return _serializer(services).dumps({"shop": shop.domain, "csrf": csrf}), csrf


def cookie_options(services: Services) -> dict[str, Any]:
    return {
        "max_age": SESSION_SECONDS,
        "httponly": True,
        "secure": services.settings["APP_URL"].startswith("https://"),
        "samesite": "Lax",  # it arrives with the top-level navigation from the store's admin
        "path": "/",
    }


def session_of(services: Services, request: Request) -> dict[str, str] | None:
    """The request's session (``shop``, ``csrf``) when its cookie is valid and unexpired."""
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    try:
        data = _serializer(services).loads(value, max_age=SESSION_SECONDS)
    except BadSignature:  # includes an expired one
        return None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), str) for k in ("shop", "csrf")
    ):
        return None
    return {"shop": data["shop"], "csrf": data["csrf"]}


def csrf_ok(session: dict[str, str], request: Request) -> bool:
    """A change carries the session's CSRF token; reading needs none."""
    if request.method in SAFE_METHODS:
        return True
    given = request.headers.get(CSRF_HEADER, "")
    return hmac.compare_digest(given.encode(), session["csrf"].encode())


bp = Blueprint("woocommerce_sessions", __name__, url_prefix="/woocommerce")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.get("/settings")
def open_settings():  # type: ignore[no-untyped-def]
    """The plugin's "Open Nudge settings" link: check it, open a session, show the page."""
    if request.method == "HEAD":  # link checkers: answered without opening a session
        return Response(status=204)
    services = Services.of(current_app)
    store = store_key(request.args.get("store") or "") or ""
    shop = shop_for_link(
        services, store, request.args.get("expires") or "", request.args.get("sig") or ""
    )
    if shop is None:
        response = jsonify(
            error="this link is not valid or has expired: open Nudge again from your store's admin"
        )
        response.status_code = 401
        return response
    value, _csrf = new_session(services, shop)
    response = redirect("/?" + urlencode({"store": shop.domain}))
    response.set_cookie(COOKIE, value, **cookie_options(services))
    response.headers["Cache-Control"] = "no-store"
    return response
