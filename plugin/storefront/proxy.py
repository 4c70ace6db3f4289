"""The storefront's endpoints behind Shopify's app proxy: ``https://<shop>/apps/nudge/...``.

On Shopify the storefront script calls its own shop's domain; Shopify forwards
``/apps/nudge/<path>`` here, to ``/storefront/proxy/<path>``, with the shop, the logged-in
customer (empty for a guest), the storefront path and a timestamp in the query, signed with
the app's secret. Each route checks that signature and its age (401 otherwise), then runs
the same handler as ``/storefront/<shop>/...`` for the shop Shopify named, with the
logged-in customer as proof of who the visitor is. The identity route
(``/storefront/proxy/identity``) lives beside the other handlers in ``routes``.
"""

from __future__ import annotations

import ipaddress

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from plugin import identity
from plugin.services import Services
from plugin.storefront import routes

bp = Blueprint("storefront_proxy", __name__, url_prefix="/storefront/proxy")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _verified() -> identity.ProxyRequest | None:
    """What Shopify's signature vouches for, or None; the client's address is taken from
    Shopify's ``X-Forwarded-For`` (the request itself comes from Shopify's servers)."""
    services = Services.of(current_app)
    proxied = identity.app_proxy_request(
        request.query_string.decode("latin-1"),
        services.settings.get("SHOPIFY_API_SECRET"),
        now=services.now().timestamp(),
    )
    if proxied is not None:
        # every storefront's visitors arrive from a few Shopify addresses: the per-address
        # rate limit must count the visitor's own, as werkzeug's ProxyFix would set it
        client = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        try:
            request.remote_addr = str(ipaddress.ip_address(client))
        except ValueError:
            pass
    return proxied


def _refused() -> Response:
    response = jsonify(error="not a request Shopify's app proxy signed in the last 90 seconds")
    response.status_code = 401
    return response


@bp.post("/events")
def events() -> Response:
    """``POST /apps/nudge/events``: a page view, as ``/storefront/<shop>/events``."""
    proxied = _verified()
    if proxied is None:
        return _refused()
    return routes.events(proxied.shop, proxied=proxied)


@bp.post("/signup")
def signup() -> Response:
    """``POST /apps/nudge/signup``: a topic signup, confirmed by a link on the shop's domain."""
    proxied = _verified()
    if proxied is None:
        return _refused()
    return routes.signup(proxied.shop, proxied=proxied)


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> Response | tuple[str, int]:
    """``/apps/nudge/confirm/<token>``: the link in a signup's confirmation email."""
    proxied = _verified()
    if proxied is None:
        return _refused()
    return routes.confirm(proxied.shop, token)
