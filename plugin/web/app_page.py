"""The embedded settings page (`GET /`) and the frame policy every HTML response carries.

The page is a static shell: it holds no shop data. Its scripts ask the JSON API (`/api`)
for everything, with a Shopify session token taken from App Bridge inside the admin, or,
outside it, from the `id_token` Shopify appends to the app URL. For local development only
(`NUDGE_DEV_SESSION_TOKENS=1`, asked from the machine itself, for an installed shop) the
server mints one; in production that route does not exist.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import time
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, render_template, request
from shopify.utils import shop_url
from sqlalchemy import select

from plugin.config import setting_warnings
from plugin.services import Services
from plugin.storage.models import Shop
from plugin.woocommerce_app import sessions as woocommerce_sessions

bp = Blueprint("app_page", __name__)

ADMIN_ORIGIN = "https://admin.shopify.com"
APP_BRIDGE_SRC = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
STATIC = Path(__file__).parents[1] / "static" / "app"
DEV_TOKEN_SECONDS = 60  # as long as App Bridge's own tokens live


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.after_request(frame_policy)


def shop_param() -> str | None:
    """The `shop` query parameter when it is a well-formed myshopify domain, else None."""
    raw = request.args.get("shop", "")
    domain = shop_url.sanitize_shop_domain(raw) if raw else None
    return str(domain) if domain else None


def frame_ancestors(shop: str | None) -> str:
    """Who may frame our pages: the shop's own admin and Shopify's unified admin."""
    sources = ([f"https://{shop}"] if shop else []) + [ADMIN_ORIGIN]
    return "frame-ancestors " + " ".join(sources)


def frame_policy(response: Response) -> Response:
    """Give every HTML response a CSP `frame-ancestors` (Shopify requires it of embedded apps).

    Any policy already set stays; only a missing `frame-ancestors` directive is added.
    """
    if response.mimetype != "text/html":
        return response
    directive = frame_ancestors(shop_param())
    existing = response.headers.get("Content-Security-Policy", "").strip().rstrip(";")
    if "frame-ancestors" not in existing:
        response.headers["Content-Security-Policy"] = (
            f"{existing}; {directive}" if existing else directive
        )
    return response


def _dev_tokens_enabled() -> bool:
    settings = Services.of(current_app).settings
    return bool(
        settings.get("DEV_SESSION_TOKENS")
        and settings.get("SHOPIFY_API_KEY")
        and settings.get("SHOPIFY_API_SECRET")
    )


@cache
def _asset_version() -> str:
    """A digest of the page's scripts and styles, so browsers fetch them again after a change."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.glob("*")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


@bp.get("/")
def settings_page():  # type: ignore[no-untyped-def]
    """The embedded app. Inside the admin Shopify opens it with shop, host and id_token."""
    services = Services.of(current_app)
    settings = services.settings
    store_session = woocommerce_sessions.session_of(services, request)
    if store_session is not None:
        # a WooCommerce merchant's session: no App Bridge (it would send them to Shopify)
        return render_template(
            "app/index.html",
            api_key="",
            app_bridge_src=None,
            dev_tokens=False,
            dev_tokens_problem=None,
            store=store_session["shop"],
            csrf_token=store_session["csrf"],
            asset_version=_asset_version(),
        )
    dev = _dev_tokens_enabled()
    # App Bridge, loaded outside the admin, sends the browser to the admin; in development
    # the page is opened directly, so it goes without unless Shopify says it is embedded.
    app_bridge = not dev or request.args.get("embedded") == "1"
    return render_template(
        "app/index.html",
        api_key=settings.get("SHOPIFY_API_KEY") or "",
        app_bridge_src=APP_BRIDGE_SRC if app_bridge else None,
        dev_tokens=dev,
        dev_tokens_problem=_dev_tokens_problem(settings),
        asset_version=_asset_version(),
    )


def _dev_tokens_problem(settings: dict[str, Any]) -> str | None:
    """Why development session tokens were asked for but cannot be made. Said on the page
    itself: without a token the page reaches no API, and would only ask to be opened from
    the Shopify admin. Only when they were asked for, so a deployment shows nothing."""
    return next(
        (w.message for w in setting_warnings(settings) if w.setting == "NUDGE_DEV_SESSION_TOKENS"),
        None,
    )


@bp.get("/dev/session-token")
def dev_session_token():  # type: ignore[no-untyped-def]
    """Mint a session token for an installed shop: development only, from this machine only."""
    if not _dev_tokens_enabled():
        abort(404)  # production: the route does not exist
    if not _from_this_machine():
        abort(403)
    shop = shop_param()
    if shop is None:
        abort(400)
    services = Services.of(current_app)
    with services.sessions() as session:
        installed = session.scalar(
            select(Shop.id).where(Shop.domain == shop, Shop.active.is_(True))
        )
    if installed is None:
        abort(404)
    now = int(time.time())
    token = jwt.encode(
        {
            "iss": f"https://{shop}/admin",
            "dest": f"https://{shop}",
            "aud": services.settings["SHOPIFY_API_KEY"],
            "sub": "dev",
            "exp": now + DEV_TOKEN_SECONDS,
            "nbf": now - 5,
            "iat": now,
            "jti": secrets.token_hex(8),
            "sid": "dev",
        },
        services.settings["SHOPIFY_API_SECRET"],
        algorithm="HS256",
    )
    response = jsonify(token=token, expires_in=DEV_TOKEN_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _from_this_machine() -> bool:
    """A browser on this machine talking to this server directly.

    Not through a proxy or tunnel (they connect from loopback too, but forward headers or
    keep their public Host), and not a page on another site whose name resolves to
    127.0.0.1 (its Host header is that name).
    """
    if any(h in request.headers for h in ("X-Forwarded-For", "Forwarded", "X-Real-IP")):
        return False
    host = urlsplit(f"//{request.host}").hostname or ""
    return _is_loopback(request.remote_addr) and (host == "localhost" or _is_loopback(host))


def _is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False
