"""Steps and look-ups for the end-to-end workflow tests: a subscriber arrives, a reminder is
queued, a workflow is switched on; what the outbox and the episodes hold."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from plugin.pipeline.due_steps import run_due
from plugin.pipeline.inbox import process_inbox
from plugin.shop_settings.workflows import set_enabled
from plugin.storage.models import Episode, OutboxMessage, Shop
from tests.support import payloads
from tests.support.clock import T0


def subscribe(send_webhook, subscribed: bool = True) -> None:  # type: ignore[no-untyped-def]
    send_webhook("customers/create", payloads.customer())
    send_webhook(
        "customers_email_marketing_consent/update", payloads.consent(subscribed=subscribed)
    )


def new_subscriber(send_webhook, at: datetime, customer_id: int = 501, **extra) -> None:  # type: ignore[no-untyped-def]
    email = extra.pop("email", "ada@example.com")
    send_webhook(
        "customers/create",
        payloads.customer(
            customer_id,
            email=email,
            created_at=at.isoformat(),
            updated_at=at.isoformat(),
            **extra,
        ),
    )
    send_webhook(
        "customers_email_marketing_consent/update",
        payloads.consent(customer_id, email=email, at=at.isoformat()),
    )


def queue_reminder(send_webhook, services) -> OutboxMessage:  # type: ignore[no-untyped-def]
    """One abandonment reminder in the outbox, not yet delivered."""
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-c", T0))
    process_inbox(services, T0)
    run_due(services, T0 + timedelta(hours=4, minutes=1))
    with services.sessions() as session:
        return session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")).one()


def enable(services, *names: str, settings: dict | None = None) -> None:  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        shop = session.scalars(select(Shop)).one()
        for name in names:
            set_enabled(session, shop.id, name, True)
        if settings is not None:
            shop.settings = {**shop.settings, **settings}


def emails(services, workflow: str | None = None) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        query = (
            select(OutboxMessage).where(OutboxMessage.kind == "email").order_by(OutboxMessage.id)
        )
        if workflow:
            query = query.where(OutboxMessage.workflow == workflow)
        return list(session.scalars(query))


def outbox(services, workflow: str) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.workflow == workflow)
                .order_by(OutboxMessage.id)
            )
        )


def episodes(services, workflow: str) -> list[Episode]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return list(session.scalars(select(Episode).where(Episode.workflow == workflow)))
