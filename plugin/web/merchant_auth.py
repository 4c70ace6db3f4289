"""Who is asking the JSON API: a Shopify session token (the embedded admin), or a WooCommerce
merchant's cookie session (plugin.woocommerce_app.sessions) with its CSRF token."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app, g, jsonify, request
from sqlalchemy import select

from plugin.services import Services
from plugin.shopify_app.session_tokens import require_shop
from plugin.storage.models import Shop
from plugin.woocommerce_app import sessions


def _refused(status: int, detail: str):  # type: ignore[no-untyped-def]
    response = jsonify(error="unauthorized" if status == 401 else "forbidden", detail=detail)
    response.status_code = status
    return response


def require_merchant(view: Callable[..., Any]) -> Callable[..., Any]:
    """Guard a JSON API view: set ``g.shop`` from the Shopify session token, or from the
    WooCommerce session cookie (changes also need its CSRF token); 401 or 403 otherwise."""
    shopify_guarded = require_shop(view)

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if request.headers.get("Authorization") or sessions.COOKIE not in request.cookies:
            return shopify_guarded(*args, **kwargs)
        services = Services.of(current_app)
        session = sessions.session_of(services, request)
        if session is None:
            return _refused(401, "session expired: open Nudge again from your store's admin")
        if not sessions.csrf_ok(session, request):
            return _refused(403, f"missing or wrong {sessions.CSRF_HEADER}")
        with services.sessions() as db:
            shop = db.scalar(
                select(Shop).where(
                    Shop.domain == session["shop"],
                    Shop.platform == "woocommerce",
                    Shop.active.is_(True),
                )
            )
        if shop is None:
            return _refused(401, "shop is not installed")
        g.shop = shop
        return view(*args, **kwargs)

    return wrapped
