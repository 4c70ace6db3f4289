"""Consent changes made in Nudge, written back to the shop's platform.

An unsubscribe (plugin.web.unsubscribe, or SendGrid's own link, reported by its event
webhook) or a confirmed signup (plugin.storefront.signups) changes consent in Nudge's facts
at once; the shop's own record follows through an outbox
row of kind ``consent``, written in the same transaction and carried out by the worker:
the request stays fast, and an outage of Shopify or the store loses nothing (the row is
retried with backoff, then parked for ``nudge outbox --retry``). Only shops that gave Nudge
credentials get one; a later change for the same address supersedes a pending earlier one.

- Shopify: ``customerEmailMarketingConsentUpdate`` through the Admin API client
  (plugin.shopify_app.consent).
- WooCommerce: customer meta ``_nudge_accepts_marketing`` through the REST API, with the
  keys given to ``nudge shop add --token CONSUMER_KEY:CONSUMER_SECRET``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.shopify.admin_api import AdminApiError, AdminClient
from connectors.woocommerce import rest_api
from plugin.services import Services
from plugin.shopify_app import consent, manifest, tokens
from plugin.shopify_app.shop_actions import settle_failure
from plugin.storage import facts_store
from plugin.storage.models import OutboxMessage, Shop, Suppression
from rules.events import EMAIL_SUPPRESSED, Event

KIND = "consent"
MAX_ATTEMPTS = 16  # about nine hours of backoff (30 s doubling, at most an hour apart)
NO_RECORD = "nothing to write: the shop has no customer with this address"

Settle = Callable[..., bool]  # plugin.pipeline.delivery._settle(services, message_id, **values)


def queue_consent_write(
    session: Session,
    shop: Shop,
    *,
    customer_external_id: str | None,
    email: str,
    subscribed: bool,
    origin: str,
    now: datetime,
    opt_in_level: str | None = None,
) -> OutboxMessage | None:
    """Queue the write-back of one consent change; None when the shop gave no credentials.

    ``origin`` names what changed it (``unsubscribe``, ``storefront_signup``).
    """
    if not tokens.has_credentials(shop) or shop.platform not in ("shopify", "woocommerce"):
        return None
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.shop_id == shop.id,
            OutboxMessage.kind == KIND,
            OutboxMessage.to_email == email,
            OutboxMessage.state == "pending",
        )
        .values(state="cancelled", last_error="superseded by a later consent change")
        .execution_options(synchronize_session=False)
    )
    row = OutboxMessage(
        shop_id=shop.id,
        idempotency_key=f"{shop.id}:consent:{email}:{now.isoformat()}"[:255],
        kind=KIND,
        workflow=origin,
        category="transactional",
        customer_external_id=customer_external_id,
        to_email=email,
        params={
            "subscribed": subscribed,
            "at": now.isoformat(),
            **({"opt_in_level": opt_in_level} if opt_in_level else {}),
        },
        state="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    return row


SENDGRID_UNSUBSCRIBES = ("unsubscribe", "group_unsubscribe")


def queue_sendgrid_unsubscribe(session: Session, shop: Shop, event: Event, now: datetime) -> None:
    """Queue the write-back of an unsubscribe made through SendGrid's own link; called before
    the event is applied. Only an address not already unsubscribed gets one: SendGrid reports
    again what Nudge mirrored into its group, and a second report changes nothing."""
    engagement = event.engagement
    if event.kind != EMAIL_SUPPRESSED or engagement is None:
        return
    if engagement.kind not in SENDGRID_UNSUBSCRIBES:
        return
    email = facts_store.normal_email(engagement.email)
    already = session.scalar(
        select(Suppression.id).where(
            Suppression.shop_id == shop.id,
            Suppression.email == email,
            Suppression.scope == "marketing",
        )
    )
    if already is None:
        queue_consent_write(
            session,
            shop,
            customer_external_id=facts_store.find_customer_by_email(session, shop.id, email),
            email=email,
            subscribed=False,
            origin="sendgrid_unsubscribe",
            now=engagement.occurred_at or now,
        )


def deliver(
    services: Services,
    message: OutboxMessage,
    shop: Shop,
    now: datetime,
    stats: Any,
    settle: Settle,
) -> None:
    """Carry out a claimed consent row: recorded when written (or nothing to write),
    pending again after a failure that may pass, failed (parked) otherwise."""
    params = message.params
    email = message.to_email or ""
    subscribed = bool(params.get("subscribed"))
    at = datetime.fromisoformat(str(params["at"]))
    try:
        if not tokens.has_credentials(shop):
            raise ValueError("the shop no longer gives Nudge credentials (uninstalled?)")
        if shop.platform == "woocommerce":
            written = _write_woocommerce(services, shop, message, email, subscribed, now)
        else:
            client = AdminClient(
                shop.domain,
                tokens.access_token(services, shop.id, now),
                manifest.load().api_version,
            )
            written = consent.write_consent(
                client,
                message.customer_external_id,
                email,
                subscribed,
                at,
                params.get("opt_in_level"),
            )
    except (AdminApiError, tokens.TokenError, rest_api.WooApiError, ValueError) as exc:
        settle_failure(services, message, exc, now, stats, settle, MAX_ATTEMPTS)
        return
    settle(
        services,
        message.id,
        state="recorded",
        sent_at=now,
        provider_message_id=written[:255] if written else None,
        last_error=None if written else NO_RECORD,
    )
    stats.recorded += 1


def _write_woocommerce(
    services: Services,
    shop: Shop,
    message: OutboxMessage,
    email: str,
    subscribed: bool,
    now: datetime,
) -> str | None:
    store = rest_api.RestClient(shop.domain, tokens.access_token(services, shop.id, now))
    customer_id = message.customer_external_id
    if not (customer_id and customer_id.isdigit()):
        customer_id = rest_api.find_customer_id(store, email)
    if customer_id is None:
        return None
    rest_api.set_accepts_marketing(store, customer_id, subscribed)
    return customer_id
