"""`nudge run-due`, `nudge inbox` and `nudge outbox`: the pipeline by hand, what came in
and what went out."""

from __future__ import annotations

import json
from typing import Any, cast

import click
from rich.table import Table
from sqlalchemy import CursorResult, select, update

from plugin.cli.loading import console, find_shop, load_services, parse_now
from plugin.pipeline.outbox import message_json, retry_failed
from plugin.storage.models import Delivery, OutboxMessage, Shop


@click.command("run-due")
@click.option(
    "--now", "now_text", default=None, help="ISO-8601 time to run as (default: the real clock)"
)
def run_due(now_text: str | None) -> None:
    """Run every step that is due by NOW, then exit."""
    from plugin.pipeline.worker import run_once

    services = load_services()
    stats = run_once(services, parse_now(now_text) or services.now())
    click.echo(
        f"inbox: {stats.inbox.processed} processed, {stats.inbox.failed} failed; "
        f"swept: {stats.swept} enrolled; "
        f"steps: {stats.steps.fired} fired, {stats.steps.skipped} skipped, "
        f"{stats.steps.deferred} deferred; "
        f"outbox: {stats.delivery.sent} sent, {stats.delivery.kept} kept, "
        f"{stats.delivery.recorded} recorded, {stats.delivery.retried} to retry, "
        f"{stats.delivery.failed} failed"
    )


@click.command()
@click.option("--limit", default=50, show_default=True, type=int)
@click.option("--retry", "retry_ids", multiple=True, type=int, help="Apply a failed delivery again")
def inbox(limit: int, retry_ids: tuple[int, ...]) -> None:
    """Show webhook deliveries kept as failed, with their errors; --retry ID applies one again
    (after the cause is fixed: the stored body is kept as it arrived)."""
    services = load_services()
    if retry_ids:
        with services.sessions() as session, session.begin():
            result = session.execute(
                update(Delivery)
                .where(Delivery.id.in_(retry_ids), Delivery.status == "failed")
                .values(status="pending", error=None, processed_at=None)
            )
            requeued = cast(CursorResult[Any], result).rowcount  # an UPDATE's counts its rows
        click.echo(f"re-queued {requeued} of {len(retry_ids)} (only failed deliveries)")
        return
    with services.sessions() as session:
        rows = session.execute(
            select(
                Delivery.id, Delivery.source, Delivery.topic, Delivery.received_at, Delivery.error
            )
            .where(Delivery.status == "failed")
            .order_by(Delivery.id.desc())
            .limit(limit)
        ).all()
    table = Table("id", "source", "topic", "received", "error")
    for delivery_id, source, topic, received_at, error in rows:
        table.add_row(str(delivery_id), source, topic, received_at.isoformat(), error or "")
    console.print(table if rows else "no failed deliveries")


@click.command()
@click.option("--shop", "shop_domain", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines")
@click.option("--limit", default=50, show_default=True, type=int)
@click.option(
    "--retry", "retry_ids", multiple=True, type=int, help="Send a failed message again (repeatable)"
)
def outbox(shop_domain: str | None, as_json: bool, limit: int, retry_ids: tuple[int, ...]) -> None:
    """Show outbox messages and their states, newest first; --retry ID re-queues a failed one."""
    services = load_services()
    if retry_ids:
        with services.sessions() as session, session.begin():
            requeued = retry_failed(session, list(retry_ids))
        click.echo(
            f"re-queued {requeued} of {len(retry_ids)} (only failed messages can be retried)"
        )
        return
    query = select(OutboxMessage, Shop.domain).join(Shop, Shop.id == OutboxMessage.shop_id)
    if shop_domain:
        query = query.where(Shop.id == find_shop(services, shop_domain).id)
    with services.sessions() as session:
        rows = session.execute(query.order_by(OutboxMessage.id.desc()).limit(limit)).all()
    if as_json:
        for message, domain in rows:
            click.echo(json.dumps({"shop": domain, **message_json(message)}))
        return
    table = Table("id", "shop", "workflow", "kind", "to", "subject", "state", "error")
    for message, domain in rows:
        table.add_row(
            str(message.id),
            domain,
            message.workflow,
            message.kind,
            message.to_email or "",
            (message.subject or "")[:40],
            message.state,
            (message.last_error or "")[:40],
        )
    console.print(table)
