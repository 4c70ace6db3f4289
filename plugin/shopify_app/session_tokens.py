"""Shopify session tokens: who is calling the JSON API, for which shop."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app, g, jsonify, request
from shopify import session_token
from shopify.utils import shop_url
from sqlalchemy import select

from plugin.services import Services
from plugin.storage.models import Shop


class Unauthorized(Exception):
    """The request carries no valid session token for an installed shop."""


def shop_from_session_token(authorization: str | None, api_key: str, secret: str) -> str:
    """Return the shop domain a valid session token (`Authorization: Bearer <JWT>`) names.

    shopifyapi checks the HS256 signature, ``aud`` = API key, ``exp``/``nbf`` with a small
    leeway, the required claims, and that ``iss`` and ``dest`` are the same shop.
    """
    if not authorization or not api_key or not secret:
        raise Unauthorized("missing session token")
    try:
        payload = session_token.decode_from_header(authorization, api_key, secret)
    except session_token.SessionTokenError as exc:
        raise Unauthorized(str(exc) or type(exc).__name__) from exc
    domain = shop_url.sanitize_shop_domain(str(payload.get("dest", "")).removeprefix("https://"))
    if not domain:
        raise Unauthorized("token names no valid shop")
    return str(domain)


def require_shop(view: Callable[..., Any]) -> Callable[..., Any]:
    """Guard a JSON API view: set ``g.shop`` from the session token or answer 401."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        services = Services.of(current_app)
        settings = services.settings
        try:
            domain = shop_from_session_token(
                request.headers.get("Authorization"),
                settings.get("SHOPIFY_API_KEY") or "",
                settings.get("SHOPIFY_API_SECRET") or "",
            )
        except Unauthorized as exc:
            response = jsonify(error="unauthorized", detail=str(exc))
            response.status_code = 401
            return response
        with services.sessions() as session:
            shop = session.scalar(select(Shop).where(Shop.domain == domain, Shop.active.is_(True)))
        if shop is None:
            response = jsonify(error="unauthorized", detail="shop is not installed")
            response.status_code = 401
            return response
        g.shop = shop
        return view(*args, **kwargs)

    return wrapped
