"""`nudge run-due`, `nudge inbox` and `nudge outbox`: the pipeline by hand, what came in
and what went out (or was kept: without a SendGrid key nothing leaves the machine)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import click
from rich.table import Table
from sqlalchemy import CursorResult, select, update

from plugin.cli.loading import console, find_shop, load_services, parse_now
from plugin.pipeline.outbox import kept_reason, message_json, retry_failed, state_words
from plugin.services import Services
from plugin.storage.models import Delivery, OutboxMessage, Shop

PREVIEWS = "nudge-previews"  # where `outbox --show` writes a message's HTML, in the current folder


@click.command("run-due")
@click.option(
    "--now", "now_text", default=None, help="ISO-8601 time to run as (default: the real clock)"
)
def run_due(now_text: str | None) -> None:
    """Run every step that is due by NOW, then exit."""
    from plugin.pipeline.worker import run_once

    services = load_services()
    stats = run_once(services, parse_now(now_text) or services.now())
    kept = f"{stats.delivery.kept} kept"
    if stats.delivery.kept:
        kept += f" ({kept_reason(services.settings)})"
    click.echo(
        f"inbox: {stats.inbox.processed} processed, {stats.inbox.failed} failed; "
        f"swept: {stats.swept} enrolled; "
        f"steps: {stats.steps.fired} fired, {stats.steps.skipped} skipped, "
        f"{stats.steps.deferred} deferred; "
        f"outbox: {stats.delivery.sent} sent, {kept}, "
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
@click.option(
    "--show",
    "show_id",
    type=int,
    default=None,
    help=f"Print one message's text; its HTML preview is written to {PREVIEWS}/",
)
def outbox(
    shop_domain: str | None,
    as_json: bool,
    limit: int,
    retry_ids: tuple[int, ...],
    show_id: int | None,
) -> None:
    """Show outbox messages and their states, newest first; --retry ID re-queues a failed
    one; --show ID prints one message."""
    services = load_services()
    if show_id is not None:
        show_message(services, show_id)
        return
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
            state_words(message.state, services.settings),
            (message.last_error or "")[:40],
        )
    console.print(table)


def show_message(services: Services, message_id: int) -> None:
    """Print a message as its recipient would read it, and where its HTML preview is."""
    with services.sessions() as session:
        found = session.execute(
            select(OutboxMessage, Shop.domain)
            .join(Shop, Shop.id == OutboxMessage.shop_id)
            .where(OutboxMessage.id == message_id)
        ).first()
    if found is None:
        raise click.ClickException(f"no message {message_id}; `nudge outbox` lists them")
    message, domain = found
    step = f", step {message.step_id}" if message.step_id else ""
    fields = {
        "message": f"{message.id} ({message.kind})",
        "state": state_words(message.state, services.settings),
        "shop": domain,
        "workflow": f"{message.workflow}{step}",
        "to": message.to_email or "(no recipient)",
        "subject": message.subject or "",
        "created": message.created_at.isoformat() if message.created_at else "",
    }
    if message.last_error:
        fields["error"] = message.last_error
    for label, value in fields.items():
        click.echo(f"{label + ':':<10}{value}")
    click.echo()
    text = message.params.get("text")
    if text:
        click.echo(text.rstrip())
    elif message.kind in ("email", "notify_staff"):
        click.echo("(no text version: read the HTML preview)")
    else:
        params = {k: v for k, v in message.params.items() if k != "context"}
        click.echo(json.dumps(params, indent=2, default=str))
    if message.preview_html:
        click.echo()
        click.echo(f"HTML preview: {write_preview(message)}")


def write_preview(message: OutboxMessage) -> Path:
    """Write the message's HTML under the current folder (as `nudge demo` leaves its
    previews there); return the path."""
    folder = Path(PREVIEWS)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"message-{message.id}.html"
    path.write_text(message.preview_html or "")
    return path.resolve()
