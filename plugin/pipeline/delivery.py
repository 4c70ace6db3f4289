"""Deliver outbox rows: emails through SendGrid, other actions recorded.

A row is claimed (state 'sending', with a lease) in its own short transaction, sent outside
any transaction, then settled. Without ``NUDGE_SENDGRID_API_KEY`` no email leaves the
machine: emails are settled as 'kept' with their rendered preview (consent written back to
the shop's platform still goes: plugin.pipeline.consent_writes).

An email whose send has no known outcome — its process died while it was 'sending', or
the connection broke after the request went out — is 'uncertain': SendGrid may have it.
It is never sent again blindly. Its next attempt first asks SendGrid's Email Activity API
for a message carrying its custom args: found, it is settled 'sent'; absent, it is sent.
When the account has no Email Activity access (401/403/404) it is parked 'failed' with
that explanation, for a person to check and retry (`nudge outbox --retry ID`): Nudge
prefers a visible, retryable gap to a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, case, or_, select, update
from sqlalchemy.orm import aliased
from sqlalchemy.sql.dml import ReturningUpdate

from connectors import sendgrid
from connectors.sendgrid import activity
from plugin.pipeline import consent_writes
from plugin.services import Services
from plugin.shop_settings.policies import shop_settings
from plugin.shopify_app import shop_actions
from plugin.storage.db import now_param
from plugin.storage.models import OutboxMessage, Shop, UTCDateTime

LEASE = timedelta(minutes=5)  # a 'sending' row whose lease ran out was orphaned by a crash
MAX_ATTEMPTS = 8
# SendGrid's activity feed shows an accepted message within seconds, rarely minutes: an
# uncertain send is looked up no sooner than this after it was attempted (the lease is as long)
ACTIVITY_LAG = timedelta(minutes=5)
EMAIL_KINDS = ("email", "notify_staff")
UNAVAILABLE_NOTE = (
    "not re-sent: SendGrid may have accepted it before its answer was lost, and the Email "
    "Activity API cannot say ({error}); check SendGrid's activity feed, then "
    "`nudge outbox --retry {id}` to send it"
)


@dataclass
class DeliveryStats:
    """What one delivery pass did."""

    sent: int = 0
    kept: int = 0
    recorded: int = 0
    retried: int = 0
    failed: int = 0
    confirmed: int = 0  # uncertain sends SendGrid turned out to have accepted


def deliver_pending(services: Services, now: datetime, limit: int = 500) -> DeliveryStats:
    """Deliver every outbox row that is ready by ``now``, ``limit`` ids listed at a time."""
    stats = DeliveryStats()
    _release_orphans(services, now)
    ready = _READY_IDS
    if not services.settings.get("SENDGRID_API_KEY"):
        _keep_all(services, now, stats)
        # what goes to the shop's platform, not through SendGrid, still goes
        ready = _READY_PLATFORM_IDS
    while True:
        with services.engine.connect() as connection:
            ids = connection.execute(ready, {"now": now, "limit": limit}).scalars().all()
        claimed_any = False
        for message_id in ids:
            claimed = _claim(services, message_id, now)
            claimed_any = claimed_any or claimed is not None
            if claimed == "checking":
                _resolve_uncertain(services, message_id, now, stats)
            elif claimed == "sending":
                _deliver_one(services, message_id, now, stats)
        if not claimed_any:  # none left, or the rest are in other workers' hands
            return stats


def _ready(now: object):  # type: ignore[no-untyped-def]
    return or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now)


# Run on every pass, so built once; ``:now`` (and ``:limit``) are bound when they run.
_READY_IDS = (
    select(OutboxMessage.id)
    .where(OutboxMessage.state.in_(("pending", "uncertain")), _ready(now_param()))
    .order_by(OutboxMessage.id)
    .limit(bindparam("limit"))
)
# consent written back to the shop: delivered whether or not SendGrid is configured
_READY_PLATFORM_IDS = _READY_IDS.where(OutboxMessage.kind == consent_writes.KIND)
_PENDING_READY = (OutboxMessage.state == "pending") & _ready(now_param())
_KEEP_EMAILS = (
    update(OutboxMessage)
    .where(
        _PENDING_READY,
        OutboxMessage.kind.in_(EMAIL_KINDS),
        OutboxMessage.to_email.is_not(None),
    )
    .values(state="kept", sent_at=now_param())
)
_RECORD_THE_REST = (
    update(OutboxMessage)
    .where(_PENDING_READY, OutboxMessage.kind != consent_writes.KIND)
    .values(state="recorded")
)
_EXPIRED = OutboxMessage.claimed_until < now_param()
_RELEASE_CHECKS = (
    update(OutboxMessage)
    .where(_EXPIRED, OutboxMessage.state == "checking")
    .values(state="uncertain", claimed_until=None)
)
_RELEASE_SENDS = (
    update(OutboxMessage)
    .where(_EXPIRED, OutboxMessage.state == "sending")
    .values(
        state=case((OutboxMessage.kind.in_(EMAIL_KINDS), "uncertain"), else_="pending"),
        claimed_until=None,
        last_error="interrupted while sending",
    )
)


def _keep_all(services: Services, now: datetime, stats: DeliveryStats) -> None:
    """Without an API key nothing is sent: settle every ready row at once, preview kept."""
    with services.engine.begin() as connection:  # plain statements: no unit of work needed
        stats.kept += connection.execute(_KEEP_EMAILS, {"now": now}).rowcount
        stats.recorded += connection.execute(_RECORD_THE_REST, {"now": now}).rowcount


def _release_orphans(services: Services, now: datetime) -> None:
    """Rows whose worker died: an email that was being sent becomes 'uncertain' (SendGrid
    may have it); anything else, whose repetition is harmless, is simply pending again."""
    with services.engine.begin() as connection:
        connection.execute(_RELEASE_CHECKS, {"now": now})
        connection.execute(_RELEASE_SENDS, {"now": now})


def _claim_statement() -> ReturningUpdate[str]:
    """Claim row ``:message_id`` if it is ready by ``:now``; its lease runs to ``:until``."""
    row = aliased(OutboxMessage)  # its own FROM, not correlated with the UPDATE's table
    lockable = (
        select(row.id)
        .where(
            row.id == bindparam("message_id"),
            row.state.in_(("pending", "uncertain")),
            or_(row.next_attempt_at.is_(None), row.next_attempt_at <= now_param()),
        )
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    was_pending = OutboxMessage.state == "pending"
    return (
        update(OutboxMessage)
        .where(OutboxMessage.id == lockable)
        .values(
            state=case((was_pending, "sending"), else_="checking"),
            claimed_until=bindparam("until", type_=UTCDateTime()),
            attempts=case((was_pending, OutboxMessage.attempts + 1), else_=OutboxMessage.attempts),
        )
        .returning(OutboxMessage.state)
    )


_CLAIM = _claim_statement()


def _claim(services: Services, message_id: int, now: datetime) -> str | None:
    """Claim one ready row: 'sending' (was pending), 'checking' (was uncertain) or None.

    On PostgreSQL the row is locked with SKIP LOCKED, so a worker never waits on a row
    another worker is claiming; SQLite serializes writers and ignores the clause.
    """
    with services.engine.begin() as connection:
        claimed = connection.execute(
            _CLAIM, {"message_id": message_id, "now": now, "until": now + LEASE}
        )
        return claimed.scalar()


def _resolve_uncertain(
    services: Services, message_id: int, now: datetime, stats: DeliveryStats
) -> None:
    """Ask SendGrid whether it has this message; send it only if it does not."""
    with services.sessions() as session:
        message = session.get_one(OutboxMessage, message_id)
        shop = session.get_one(Shop, message.shop_id)
        args = _custom_args(message, shop)
    lookup = activity.find_message(
        args,
        api_key=services.settings["SENDGRID_API_KEY"],
        base_url=services.settings["SENDGRID_BASE_URL"],
        now=now.timestamp,
    )
    if lookup.outcome == activity.FOUND:
        _settle(
            services,
            message_id,
            "checking",
            state="sent",
            sent_at=now,
            provider_message_id=lookup.message_id,
        )
        stats.confirmed += 1
    elif lookup.outcome == activity.UNAVAILABLE:
        note = UNAVAILABLE_NOTE.format(error=lookup.error, id=message_id)
        _settle(services, message_id, "checking", state="failed", last_error=note[:2000])
        stats.failed += 1
    elif lookup.outcome == activity.ABSENT:
        if _settle(
            services,
            message_id,
            "checking",
            state="sending",
            attempts=message.attempts + 1,
            claimed_until=now + LEASE,
        ):
            _deliver_one(services, message_id, now, stats)
    else:  # could not tell now: ask again later, still without sending
        delay = sendgrid.retry_delay(1, lookup.retry_after)
        _settle(
            services,
            message_id,
            "checking",
            state="uncertain",
            next_attempt_at=now + timedelta(seconds=delay),
            last_error=f"activity lookup: {lookup.error}"[:2000],
        )
        stats.retried += 1


def _deliver_one(services: Services, message_id: int, now: datetime, stats: DeliveryStats) -> None:
    with services.sessions() as session:
        message = session.get_one(OutboxMessage, message_id)
        shop = session.get_one(Shop, message.shop_id)
        email = _outgoing(services, shop, message) if message.kind in EMAIL_KINDS else None
    if message.kind == consent_writes.KIND:
        consent_writes.deliver(services, message, shop, now, stats, _settle)
        return
    # Admin API actions, and emails still waiting for their discount code: plugin.shopify_app.shop_actions
    if shop_actions.deliver(services, message, shop, now, stats, _settle):
        return
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
        sendgrid.build_payload(email),  # one recipient a request: far below SendGrid's 1000
        api_key=api_key,
        base_url=services.settings["SENDGRID_BASE_URL"],
        # a rate limit's reset time is read on the clock the retry is scheduled on
        now=now.timestamp,
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
        delay = timedelta(seconds=sendgrid.retry_delay(message.attempts, result.retry_after))
        _settle(
            services,
            message_id,
            # the request may have arrived: look it up before any second send
            state="uncertain" if result.ambiguous else "pending",
            next_attempt_at=now + (max(delay, ACTIVITY_LAG) if result.ambiguous else delay),
            last_error=result.error,
        )
        stats.retried += 1
    else:
        _settle(services, message_id, state="failed", last_error=result.error)
        stats.failed += 1


def _settle(
    services: Services, message_id: int, claimed_as: str = "sending", **values: object
) -> bool:
    """Record an outcome, if this worker still holds the claim; True if it did."""
    values.setdefault("claimed_until", None)
    with services.sessions() as session, session.begin():
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.state == claimed_as)
            .values(**values)
        )
        # Session.execute is typed to return a plain Result; an UPDATE's is a CursorResult.
        return cast("CursorResult[Any]", result).rowcount == 1


def _outgoing(
    services: Services, shop: Shop, message: OutboxMessage
) -> sendgrid.OutgoingEmail | None:
    """The email to send for a row, or None when it has no recipient."""
    if not message.to_email:
        return None
    # the workflow's own sender (kept on the row when it was written), else the shop's
    settings = {**shop_settings(shop.settings), **(message.params.get("sender") or {})}
    from_email = (
        settings.get("from_email")
        or services.settings.get("FROM_EMAIL")
        or f"no-reply@{shop.domain.partition('/')[0]}"  # a WooCommerce store may have a path
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
        custom_args=_custom_args(message, shop),
        asm_group_id=settings.get("asm_group_id") if message.category == "marketing" else None,
        unsubscribe_url=unsubscribe_url,
    )


def _custom_args(message: OutboxMessage, shop: Shop) -> dict[str, str]:
    """What SendGrid carries back in events, and what an uncertain send is looked up by."""
    return {
        "nudge_message_id": str(message.id),
        "nudge_shop": shop.domain,
        "nudge_workflow": message.workflow,
        "nudge_key": message.idempotency_key,
    }
