"""Webhook intake: verify, persist to the durable inbox, answer. No rule work happens here.

Shopify wants an answer within 5 s and repeats deliveries, so a request only checks the
signature over the raw bytes, stores the body once per delivery id, and returns 200.
The worker turns stored deliveries into facts later (plugin.pipeline.inbox).

A signed body that cannot be read (not JSON, nested too deep, a lone surrogate, not the
shape its source sends) is kept as failed with the reason and acknowledged: the platform
signed it, so it is not lost, and sending it again would not make it readable.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from connectors import shopify, untrusted_json, woocommerce
from connectors.errors import MalformedPayload
from connectors.sendgrid import events as sendgrid_events_connector
from connectors.woocommerce import carts
from connectors.woocommerce.stores import sent_by, store_key
from plugin.services import Services
from plugin.shopify_app import webhook_secrets
from plugin.shopify_app.crypto import TokenCipher
from plugin.storage.models import Delivery, Shop

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _answer(body: dict[str, str]) -> Response:
    """A webhook's JSON answer, made directly: the hot path's response, and jsonify's
    provider machinery cost as much as the signature check."""
    return Response(json.dumps(body, separators=(",", ":")), mimetype="application/json")


def _error(status: int, message: str):  # type: ignore[no-untyped-def]
    response = jsonify(error=message)
    response.status_code = status
    return response


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: HTTPException):  # type: ignore[no-untyped-def]
    return _error(413, "body too large")


@bp.post("/shopify")
def shopify_webhook():  # type: ignore[no-untyped-def]
    """Accept one Shopify delivery of any topic."""
    raw = request.get_data(cache=False)
    topic = shopify.topic_from_headers(request.headers)
    domain = shopify.shop_from_headers(request.headers)
    if not topic or not domain:
        return _error(400, "missing X-Shopify-Topic or X-Shopify-Shop-Domain header")
    return _accept(
        "shopify",
        domain.strip().lower(),
        topic,
        shopify.delivery_id_from_headers(request.headers),
        raw,
        connector=shopify,
        handled=shopify.ACCEPTED_TOPICS | shopify.COMPLIANCE_TOPICS,
    )


@bp.post("/woocommerce/<path:shop>")
def woocommerce_webhook(shop: str):  # type: ignore[no-untyped-def]
    """Accept one WooCommerce delivery, or its unsigned creation ping. The address names the
    store: its host, and its path when it is below the root of its host
    (``/webhooks/woocommerce/example.com/shop``)."""
    raw = request.get_data(cache=False)
    # werkzeug's Headers reads like the mapping the connector takes (case-insensitively)
    headers = cast(Mapping[str, str], request.headers)
    if woocommerce.is_ping(headers, raw):
        return jsonify(status="pong")
    topic = woocommerce.topic_from_headers(headers)
    if not topic:
        return _error(400, "missing X-WC-Webhook-Topic header")
    store = store_key(shop)
    if store is None:
        return _error(401, "invalid webhook signature")  # as for any store Nudge does not know
    source = woocommerce.source_from_headers(headers)
    if source is not None and not sent_by(source, store):
        # A copy of the site (a staging clone keeps the webhooks and their secret) delivering
        # to the original's address: its orders and customers are not the original's.
        return _error(401, "X-WC-Webhook-Source names another store than this address")
    return _accept(
        "woocommerce",
        store,
        topic,
        woocommerce.delivery_id_from_headers(headers),
        raw,
        connector=woocommerce,
        handled=woocommerce.TOPICS | woocommerce.PRIVACY_TOPICS,
        refuse_unreadable=topic == carts.TOPIC,
    )


@bp.post("/sendgrid")
def sendgrid_events():  # type: ignore[no-untyped-def]
    """Accept a batch of SendGrid events (signed); they are tied to shops when processed."""
    raw = request.get_data(cache=False)
    services = Services.of(current_app)
    key = services.settings.get("SENDGRID_EVENT_PUBLIC_KEY") or ""
    if not sendgrid_events_connector.verify(request.headers, raw, key):
        return _error(401, "invalid event webhook signature")
    delivery: dict[str, Any] = {
        "shop_id": None,
        "source": "sendgrid",
        "delivery_id": _content_id("events", raw),
        "topic": "events",
        "body": raw,
    }
    try:
        if not isinstance(untrusted_json.parse(raw), list):
            raise untrusted_json.UnreadableJson("expected a JSON array of events")
    except untrusted_json.UnreadableJson as exc:
        return _kept_as_failed(services, str(exc), **delivery)
    return jsonify(status=store_delivery(services, **delivery))


def _accept(
    source: str,
    domain: str,
    topic: str,
    delivery_id: str | None,
    raw: bytes,
    *,
    connector: Any,
    handled: frozenset[str],
    refuse_unreadable: bool = False,
):  # type: ignore[no-untyped-def]
    """Verify, parse and store one delivery; the same steps for every platform.

    ``refuse_unreadable``: a body that cannot become facts is answered 422 and not stored
    (Nudge's own WordPress plugin sends it, and is told why), instead of being kept as failed.
    """
    services = Services.of(current_app)
    shop_id, secret = _credentials(services, source, domain)
    valid = bool(secret) and connector.verify(request.headers, raw, secret)
    if secret and not valid:  # the remembered secret may have been rotated since
        shop_id, secret = _credentials(services, source, domain, fresh=True)
        valid = bool(secret) and connector.verify(request.headers, raw, secret)
    # Unknown shops and bad signatures answer alike, so the endpoint reveals nothing.
    if shop_id is None or not valid:
        return _error(401, "invalid webhook signature")
    delivery: dict[str, Any] = {
        "shop_id": shop_id,
        "source": source,
        "delivery_id": delivery_id or _content_id(topic, raw),
        "topic": topic,
        "body": raw,
    }
    try:
        payload = untrusted_json.parse_object(raw)
        if refuse_unreadable:
            connector.to_events(topic, payload)
    except untrusted_json.UnreadableJson as exc:
        if refuse_unreadable:
            return _error(422, str(exc))
        return _kept_as_failed(services, str(exc), **delivery)
    except MalformedPayload as exc:
        return _error(422, str(exc))
    known = topic in handled
    stored = store_delivery(services, **delivery, status="pending" if known else "ignored")
    return _answer({"status": stored if known else "ignored", "topic": topic})


def _kept_as_failed(services: Services, reason: str, **delivery: Any) -> Response:
    """Keep a signed delivery that cannot be read as failed, with the reason; acknowledge it."""
    now = services.now()
    row = Delivery(
        **delivery,
        status="failed",
        error=f"unreadable body: {reason}"[:2000],
        attempts=0,
        received_at=now,
        processed_at=now,
    )
    row.delivery_id = row.delivery_id[:255]
    row.topic = row.topic[:128]
    try:
        with services.sessions() as session, session.begin():
            session.add(row)
    except IntegrityError:  # the same delivery again: kept already
        return _answer({"status": "duplicate", "topic": row.topic})
    return _answer({"status": "failed", "error": reason, "topic": row.topic})


def _webhook_secret(shop: Shop | None, settings: dict[str, Any]) -> str | None:
    """A shop's own webhook secret; Shopify apps sign with the app secret instead."""
    if shop is None:
        return None
    if webhook_secrets.has_own(shop):
        return webhook_secrets.read(shop, TokenCipher(settings["SECRET_KEY"]))
    return settings.get("SHOPIFY_API_SECRET") if shop.platform == "shopify" else None


def _encrypt_plaintext_secret(services: Services, shop_id: int, secret: str) -> None:
    """Move a secret stored in plaintext (before migration 0006) to the encrypted column, once."""
    with services.sessions() as session, session.begin():
        shop = session.scalar(select(Shop).where(Shop.id == shop_id, Shop.webhook_secret == secret))
        if shop is not None:  # unless it changed meanwhile
            webhook_secrets.store(shop, secret, TokenCipher(services.settings["SECRET_KEY"]))


CREDENTIALS_TTL = 30.0  # seconds a shop's webhook credentials are used from memory


def _credentials(
    services: Services, source: str, domain: str, fresh: bool = False
) -> tuple[int | None, str | None]:
    """The shop's id and webhook secret, remembered briefly: every request needs them.

    Only known shops are remembered (a new install is seen at once), and a signature that
    fails against a remembered secret is checked again against the stored one.
    """
    key = (source, domain)
    remembered = services.webhook_credentials.get(key)
    if remembered and not fresh and time.monotonic() - remembered[0] < CREDENTIALS_TTL:
        return remembered[1], remembered[2]
    with services.sessions() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == key[1], Shop.platform == source))
        secret = _webhook_secret(shop, services.settings)
        plaintext = shop.webhook_secret if shop is not None else None
    if shop is None:
        return None, None
    if plaintext:
        _encrypt_plaintext_secret(services, shop.id, plaintext)
    services.webhook_credentials[key] = (time.monotonic(), shop.id, secret)
    return shop.id, secret


def _content_id(topic: str, raw: bytes) -> str:
    """Stand in for a missing delivery id: identical bodies are the same delivery."""
    return "sha256:" + hashlib.sha256(topic.encode() + b"\0" + raw).hexdigest()


def store_delivery(
    services: Services,
    *,
    shop_id: int | None,
    source: str,
    delivery_id: str,
    topic: str,
    body: bytes,
    status: str = "pending",
) -> str:
    """Insert a delivery once; return 'accepted', or 'duplicate' if it was already stored."""
    inserted = services.delivery_insert.run(
        {
            "shop_id": shop_id,
            "source": source,
            "delivery_id": delivery_id[:255],
            "topic": topic[:128],
            "body": body,
            "status": status,
            "attempts": 0,
            "received_at": services.now(),
        }
    )
    if not inserted:
        return "duplicate"
    if not services.work_arrived.is_set():  # set() takes a lock and wakes waiters: once
        services.work_arrived.set()
    if status == "pending" and services.settings.get("BROKER_URL"):
        from plugin.pipeline.tasks import enqueue  # Celery is an optional extra: imported only then

        enqueue(services.settings, "nudge.process_inbox")
    return "accepted"
