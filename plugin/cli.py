"""The ``nudge`` command line."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from flask import Flask
from rich.console import Console
from rich.table import Table
from sqlalchemy import select, update

from plugin import create_app
from plugin.config import SettingRefused
from plugin.dev_clock import DevClockRefused
from plugin.pipeline.outbox import message_json, retry_failed
from plugin.services import Services
from plugin.shop_settings.workflows import save_workflow, set_enabled, shop_workflows
from plugin.storage.models import Delivery, OutboxMessage, Shop
from plugin.storage.schema import SchemaOutdated
from rules.definitions import WorkflowInvalid

console = Console()


def _app() -> Flask:
    """The app, or a clear refusal when the database schema is behind the code."""
    try:
        return create_app()
    except (SchemaOutdated, DevClockRefused, SettingRefused) as exc:
        raise click.ClickException(str(exc)) from None


def _services() -> Services:
    """The app's services for one command; its database connections close when it ends."""
    services = Services.of(_app())
    click.get_current_context().call_on_close(services.engine.dispose)
    return services


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO-8601 datetime: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _shop(services: Services, domain: str) -> Shop:
    with services.sessions() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == domain.strip().lower()))
    if shop is None:
        raise click.ClickException(f"no shop {domain!r}; add it with `nudge shop add`")
    return shop


@click.group()
def main() -> None:
    """Nudge: marketing automation for online stores."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run the web app with the embedded worker and scheduler (none with a broker set)."""
    from werkzeug.serving import run_simple

    from plugin.pipeline.worker import EmbeddedWorker, embedded_worker_wanted

    app = _app()
    services = Services.of(app)
    worker = None
    if embedded_worker_wanted(services.settings):
        worker = EmbeddedWorker(services, float(services.settings["WORKER_INTERVAL_SECONDS"]))
        worker.start()
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        if worker is not None:
            worker.stop()


@main.command()
@click.option("--customers", default=2000, show_default=True, type=int)
@click.option("--days", default=60, show_default=True, type=int)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--out", default="nudge-demo", show_default=True, type=click.Path(path_type=Path))
def demo(customers: int, days: int, seed: int, out: Path) -> None:
    """Replay a realistic store history through the real pipeline and report per workflow."""
    from plugin.demo.runner import run_demo

    run_demo(out, customers=customers, days=days, seed=seed, console=console)


@main.command()
@click.option("--quick", is_flag=True, help="Smaller sizes that finish in about a minute.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write results here.")
@click.option(
    "--part",
    "parts",
    multiple=True,
    type=click.Choice(["rules", "intake", "replay", "scheduler", "sweeps", "recommendations"]),
    help="Run only these parts (repeatable); all by default.",
)
@click.option(
    "--replay-customers",
    type=int,
    help="Size the end-to-end replay's store (default 100,000 customers; 300 with --quick).",
)
def bench(
    quick: bool, json_path: Path | None, parts: tuple[str, ...], replay_customers: int | None
) -> None:
    """Measure rule evaluation, intake, replay, scheduling and sweeps against baselines."""
    from plugin.bench import PARTS, run_bench

    run_bench(
        quick=quick,
        json_path=json_path,
        parts=parts or PARTS,
        console=console,
        replay_customers=replay_customers,
    )


@main.group()
def shop() -> None:
    """Manage shops."""


@shop.command("add")
@click.argument("domain")
@click.option(
    "--token",
    default=None,
    help="Admin API access token (stored encrypted); none: actions stay local",
)
@click.option("--platform", type=click.Choice(["shopify", "woocommerce"]), default="shopify")
@click.option(
    "--webhook-secret", default=None, help="Webhook signing secret (default: the app secret)"
)
def shop_add(domain: str, token: str | None, platform: str, webhook_secret: str | None) -> None:
    """Register a shop without the install flow."""
    from plugin.shopify_app import tokens

    services = _services()
    domain = domain.strip().lower()
    with services.sessions() as session, session.begin():
        existing = session.scalar(select(Shop).where(Shop.domain == domain))
        row = existing or Shop(domain=domain, settings={})
        row.platform, row.active = platform, True
        if token:
            tokens.store_plain(row, token, tokens.cipher(services))
        if webhook_secret:
            row.webhook_secret = webhook_secret
        session.add(row)
    click.echo(f"{'updated' if existing else 'added'} {platform} shop {domain}")


@main.group("app")
def app_group() -> None:
    """The Shopify app's own configuration."""


@app_group.command("toml")
@click.option(
    "--compliance-only",
    is_flag=True,
    help="Only the compliance topics (the others are registered per shop at install).",
)
def app_toml(compliance_only: bool) -> None:
    """Print the shopify.app.toml equivalent to manifest.json, for the Shopify CLI."""
    from plugin.config import environment_settings
    from plugin.shopify_app import manifest

    settings = environment_settings()  # no database: this only reads the manifest
    click.echo(
        manifest.shopify_app_toml(
            manifest.load(),
            client_id=settings.get("SHOPIFY_API_KEY") or "",
            app_url=settings["APP_URL"],
            compliance_only=compliance_only,
        ),
        nl=False,
    )


@app_group.command("extension")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
def app_extension(folder: Path) -> None:
    """Write the theme app extension (the storefront script as an app embed) under FOLDER."""
    from plugin.config import environment_settings
    from plugin.shopify_app import manifest

    settings = environment_settings()
    files = manifest.theme_extension_files(manifest.load(), app_url=settings["APP_URL"])
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        click.echo(f"wrote {path}")


@main.group()
def workflows() -> None:
    """List, show, enable, disable and configure a shop's workflows."""


@workflows.command("list")
@click.argument("shop_domain")
def workflows_list(shop_domain: str) -> None:
    """List the shop's workflows."""
    services = _services()
    shop_id = _shop(services, shop_domain).id
    with services.sessions() as session:
        items = shop_workflows(session, shop_id)
    table = Table("name", "title", "enabled", "version", "trigger")
    for name, item in sorted(items.items()):
        trigger = item.workflow.trigger
        table.add_row(
            name,
            item.workflow.title,
            "yes" if item.enabled else "no",
            str(item.version),
            trigger.event or f"sweep:{trigger.sweep}",
        )
    console.print(table)


@workflows.command("show")
@click.argument("shop_domain")
@click.argument("name")
def workflows_show(shop_domain: str, name: str) -> None:
    """Print a workflow's definition as JSON."""
    services = _services()
    shop_id = _shop(services, shop_domain).id
    with services.sessions() as session:
        item = shop_workflows(session, shop_id).get(name)
    if item is None:
        raise click.ClickException(f"no workflow {name!r}")
    click.echo(
        json.dumps({"enabled": item.enabled, "version": item.version, **item.definition}, indent=2)
    )


def _toggle(shop_domain: str, name: str | None, all_: bool, enabled: bool) -> None:
    if not name and not all_:
        raise click.UsageError("name a workflow or pass --all")
    services = _services()
    shop_id = _shop(services, shop_domain).id
    with services.sessions() as session, session.begin():
        names = list(shop_workflows(session, shop_id)) if all_ else [name or ""]
        for item in names:
            try:
                set_enabled(session, shop_id, item, enabled)
            except KeyError:
                raise click.ClickException(f"no workflow {item!r}") from None
            click.echo(f"{item}: {'enabled' if enabled else 'disabled'}")


@workflows.command("enable")
@click.argument("shop_domain")
@click.argument("name", required=False)
@click.option("--all", "all_", is_flag=True)
def workflows_enable(shop_domain: str, name: str | None, all_: bool) -> None:
    """Switch a workflow (or all) on."""
    _toggle(shop_domain, name, all_, True)


@workflows.command("disable")
@click.argument("shop_domain")
@click.argument("name", required=False)
@click.option("--all", "all_", is_flag=True)
def workflows_disable(shop_domain: str, name: str | None, all_: bool) -> None:
    """Switch a workflow (or all) off."""
    _toggle(shop_domain, name, all_, False)


@workflows.command("set")
@click.argument("shop_domain")
@click.argument("definition", type=click.File("r"))
def workflows_set(shop_domain: str, definition: Any) -> None:
    """Save a workflow definition from a JSON file (validated; stored as a new version)."""
    services = _services()
    shop_id = _shop(services, shop_domain).id
    try:
        data = json.load(definition)
    except ValueError as exc:
        raise click.ClickException(f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise click.ClickException("a workflow definition is a JSON object")
    try:
        with services.sessions() as session, session.begin():
            saved = save_workflow(session, shop_id, data)
    except WorkflowInvalid as exc:
        raise click.ClickException("invalid workflow:\n  " + "\n  ".join(exc.errors)) from None
    click.echo(f"saved {saved.name} version {saved.version}")


@main.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations the code needs (creates the schema on an empty database)."""
    from plugin.config import load_config
    from plugin.storage.db import make_engine
    from plugin.storage.schema import current_revision, upgrade

    settings = load_config(create_app_instance_path())
    engine = make_engine(settings["DATABASE_URL"])
    try:
        upgrade(engine)
        click.echo(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


def create_app_instance_path() -> str:
    """Where create_app keeps its instance folder, without creating the app (and its checks)."""
    from flask import Flask

    return Flask("plugin", instance_relative_config=True).instance_path


@main.command("run-due")
@click.option(
    "--now", "now_text", default=None, help="ISO-8601 time to run as (default: the real clock)"
)
def run_due_command(now_text: str | None) -> None:
    """Run every step that is due by NOW, then exit."""
    from plugin.pipeline.worker import run_once

    services = _services()
    stats = run_once(services, _parse_now(now_text) or services.now())
    click.echo(
        f"inbox: {stats.inbox.processed} processed, {stats.inbox.failed} failed; "
        f"swept: {stats.swept} enrolled; "
        f"steps: {stats.steps.fired} fired, {stats.steps.skipped} skipped, "
        f"{stats.steps.deferred} deferred; "
        f"outbox: {stats.delivery.sent} sent, {stats.delivery.kept} kept, "
        f"{stats.delivery.recorded} recorded, {stats.delivery.retried} to retry, "
        f"{stats.delivery.failed} failed"
    )


@main.command()
@click.option("--limit", default=50, show_default=True, type=int)
@click.option("--retry", "retry_ids", multiple=True, type=int, help="Apply a failed delivery again")
def inbox(limit: int, retry_ids: tuple[int, ...]) -> None:
    """Show webhook deliveries kept as failed, with their errors; --retry ID applies one again
    (after the cause is fixed: the stored body is kept as it arrived)."""
    services = _services()
    if retry_ids:
        with services.sessions() as session, session.begin():
            requeued = session.execute(
                update(Delivery)
                .where(Delivery.id.in_(retry_ids), Delivery.status == "failed")
                .values(status="pending", error=None, processed_at=None)
            ).rowcount
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


@main.command()
@click.option("--shop", "shop_domain", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines")
@click.option("--limit", default=50, show_default=True, type=int)
@click.option(
    "--retry", "retry_ids", multiple=True, type=int, help="Send a failed message again (repeatable)"
)
def outbox(shop_domain: str | None, as_json: bool, limit: int, retry_ids: tuple[int, ...]) -> None:
    """Show outbox messages and their states, newest first; --retry ID re-queues a failed one."""
    services = _services()
    if retry_ids:
        with services.sessions() as session, session.begin():
            requeued = retry_failed(session, list(retry_ids))
        click.echo(
            f"re-queued {requeued} of {len(retry_ids)} (only failed messages can be retried)"
        )
        return
    query = select(OutboxMessage, Shop.domain).join(Shop, Shop.id == OutboxMessage.shop_id)
    if shop_domain:
        query = query.where(Shop.id == _shop(services, shop_domain).id)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
