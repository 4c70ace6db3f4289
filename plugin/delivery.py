"""Deliver outbox rows: emails through SendGrid, other actions recorded.

A row is claimed (state 'sending', with a lease) in its own short transaction, sent outside
any transaction, then settled. Without ``NUDGE_SENDGRID_API_KEY`` nothing leaves the
machine: emails are settled as 'kept' with their rendered preview.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from connectors import sendgrid
from plugin.models import OutboxMessage, Shop
from plugin.policies import shop_settings
from plugin.services import Services

LEASE = timedelta(minutes=5)  # a 'sending' row whose lease ran out was orphaned by a crash
MAX_ATTEMPTS = 8


@dataclass
class DeliveryStats:
    """What one delivery pass did."""

    sent: int = 0
    kept: int = 0
    recorded: int = 0
    retried: int = 0
    failed: int = 0


def deliver_pending(services: Services, now: datetime, limit: int = 500) -> DeliveryStats:
    """Deliver every outbox row that is ready by ``now``."""
    stats = DeliveryStats()
    _release_orphans(services, now)
    if not services.settings.get("SENDGRID_API_KEY"):
        _keep_all(services, now, stats)
        return stats
    while True:
        with services.sessions() as session:
            ids = session.scalars(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.state == "pending",
                    or_(
                        OutboxMessage.next_attempt_at.is_(None),
                        OutboxMessage.next_attempt_at <= now,
                    ),
                )
                .order_by(OutboxMessage.id)
                .limit(limit)
            ).all()
        if not ids:
            return stats
        for message_id in ids:
            if _claim(services, message_id, now):
                _deliver_one(services, message_id, now, stats)


def _keep_all(services: Services, now: datetime, stats: DeliveryStats) -> None:
    """Without an API key nothing is sent: settle every ready row at once, preview kept."""
    ready = (OutboxMessage.state == "pending") & (
        OutboxMessage.next_attempt_at.is_(None) | (OutboxMessage.next_attempt_at <= now)
    )
    emails = OutboxMessage.kind.in_(("email", "notify_staff")) & OutboxMessage.to_email.is_not(None)
    with services.sessions() as session, session.begin():
        stats.kept += session.execute(
            update(OutboxMessage).where(ready, emails).values(state="kept", sent_at=now)
        ).rowcount
        stats.recorded += session.execute(
            update(OutboxMessage).where(ready).values(state="recorded")
        ).rowcount


def _release_orphans(services: Services, now: datetime) -> None:
    with services.sessions() as session, session.begin():
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == "sending", OutboxMessage.claimed_until < now)
            .values(state="pending")
        )


def _claim(services: Services, message_id: int, now: datetime) -> bool:
    with services.sessions() as session, session.begin():
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.state == "pending")
            .values(state="sending", claimed_until=now + LEASE, attempts=OutboxMessage.attempts + 1)
        )
        return result.rowcount == 1


def _deliver_one(services: Services, message_id: int, now: datetime, stats: DeliveryStats) -> None:
    with services.sessions() as session:
        message = session.get_one(OutboxMessage, message_id)
        shop = session.get_one(Shop, message.shop_id)
        email = (
            _outgoing(services, shop, message)
            if message.kind in ("email", "notify_staff")
            else None
        )
    api_key = services.settings.get("SENDGRID_API_KEY")
    if message.kind == "sendgrid_unsubscribe" and api_key and message.to_email:
        result = sendgrid.suppress_in_group(
            [message.to_email],
            int(message.params["group_id"]),
            api_key,
            services.settings["SENDGRID_BASE_URL"],
        )
        _settle_result(services, message, result, now, stats)
        return
    if email is None or not api_key:
        state = "kept" if email is not None else "recorded"
        _settle(services, message_id, state=state, sent_at=now if state == "kept" else None)
        setattr(stats, state, getattr(stats, state) + 1)
        return
    result = sendgrid.send(
        sendgrid.build_payload(email),
        api_key=api_key,
        base_url=services.settings["SENDGRID_BASE_URL"],
    )
    _settle_result(services, message, result, now, stats)


def _settle_result(
    services: Services,
    message: OutboxMessage,
    result: sendgrid.SendResult,
    now: datetime,
    stats: DeliveryStats,
) -> None:
    """Sent; or back to pending with backoff; or parked as failed with SendGrid's words."""
    message_id = message.id
    if result.ok:
        _settle(
            services, message_id, state="sent", sent_at=now, provider_message_id=result.message_id
        )
        stats.sent += 1
    elif result.retryable and message.attempts < MAX_ATTEMPTS:
        delay = sendgrid.retry_delay(message.attempts, result.retry_after)
        _settle(
            services,
            message_id,
            state="pending",
            next_attempt_at=now + timedelta(seconds=delay),
            last_error=result.error,
        )
        stats.retried += 1
    else:
        _settle(services, message_id, state="failed", last_error=result.error)
        stats.failed += 1


def _settle(services: Services, message_id: int, **values: object) -> None:
    with services.sessions() as session, session.begin():
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.state == "sending")
            .values(claimed_until=None, **values)
        )


def _outgoing(
    services: Services, shop: Shop, message: OutboxMessage
) -> sendgrid.OutgoingEmail | None:
    """The email to send for a row, or None when it has no recipient."""
    if not message.to_email:
        return None
    settings = shop_settings(shop.settings)
    from_email = (
        settings.get("from_email")
        or services.settings.get("FROM_EMAIL")
        or f"no-reply@{shop.domain}"
    )
    context = message.params.get("context") or {}
    unsubscribe_url = context.get("unsubscribe_url") if message.category == "marketing" else None
    template_id = message.params.get("template_id")
    return sendgrid.OutgoingEmail(
        to_email=message.to_email,
        to_name=context.get("first_name"),
        from_email=from_email,
        from_name=settings.get("from_name") or settings.get("name") or shop.domain,
        reply_to=settings.get("reply_to"),
        subject=message.subject or "",
        html=None if template_id else message.preview_html,
        text=None if template_id else message.params.get("text"),
        template_id=template_id,
        template_data=context if template_id else {},
        categories=("nudge", message.workflow),
        custom_args={
            "nudge_message_id": str(message.id),
            "nudge_shop": shop.domain,
            "nudge_workflow": message.workflow,
            "nudge_key": message.idempotency_key,
        },
        asm_group_id=settings.get("asm_group_id") if message.category == "marketing" else None,
        unsubscribe_url=unsubscribe_url,
    )
