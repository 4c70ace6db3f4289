"""`nudge workflows ...`: list, show, enable, disable and set a shop's workflows.

What `show` prints, `set` takes back: the definition, plus ``enabled`` (applied) and
``version`` (which version it was shown at; the save is always a new version).
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table

from plugin.cli.loading import console, find_shop, load_services
from plugin.shop_settings.workflows import (
    RelabelNotConfirmed,
    save_workflow,
    set_enabled,
    shop_workflows,
)
from plugin.web.email_preview import email_errors
from rules.definitions import WorkflowInvalid


@click.group()
def workflows() -> None:
    """List, show, enable, disable and configure a shop's workflows."""


@workflows.command("list")
@click.argument("shop_domain")
def workflows_list(shop_domain: str) -> None:
    """List the shop's workflows."""
    services = load_services()
    shop_id = find_shop(services, shop_domain).id
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
    """Print a workflow as JSON: whether it is enabled, its version and its definition
    (`workflows set` takes this back)."""
    services = load_services()
    shop_id = find_shop(services, shop_domain).id
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
    services = load_services()
    shop_id = find_shop(services, shop_domain).id
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
@click.option(
    "--confirm-transactional",
    is_flag=True,
    help="Confirm relabelling a marketing workflow transactional: its emails then go "
    "without marketing consent and without an unsubscribe link",
)
def workflows_set(shop_domain: str, definition: Any, confirm_transactional: bool) -> None:
    """Save a workflow from a JSON file, as `workflows show` prints it (validated; stored
    as a new version). ``enabled``, when given, switches it on or off; ``version`` is only
    compared with the stored one."""
    services = load_services()
    shop_id = find_shop(services, shop_domain).id
    try:
        data = json.load(definition)
    except ValueError as exc:
        raise click.ClickException(f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise click.ClickException("a workflow definition is a JSON object")
    enabled, shown_version = data.pop("enabled", None), data.pop("version", None)
    if enabled is not None and not isinstance(enabled, bool):
        raise click.ClickException("invalid workflow:\n  enabled: true or false")
    try:
        if errors := email_errors(data):
            raise WorkflowInvalid(errors)
        with services.sessions() as session, session.begin():
            current = shop_workflows(session, shop_id).get(str(data.get("name")))
            saved = save_workflow(
                session, shop_id, data, enabled=enabled, confirm_transactional=confirm_transactional
            )
    except WorkflowInvalid as exc:
        raise click.ClickException("invalid workflow:\n  " + "\n  ".join(exc.errors)) from None
    except RelabelNotConfirmed as exc:
        raise click.ClickException(f"{exc}\nAdd --confirm-transactional to save it.") from None
    if current is not None and shown_version is not None and shown_version != current.version:
        click.echo(
            f"note: {definition.name} was shown at version {shown_version}; version "
            f"{current.version} was saved since, and this replaces it",
            err=True,
        )
    state = "enabled" if saved.enabled else "disabled"
    click.echo(f"saved {saved.name} version {saved.version} ({state})")
