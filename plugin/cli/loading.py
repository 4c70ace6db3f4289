"""What every command starts with: the app and its services, a shop by its domain, and
one line (exit status 2) for a setting or an argument the command cannot run with."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from flask import Flask
from rich.console import Console
from sqlalchemy import select

from plugin import create_app
from plugin.config import SettingRefused
from plugin.services import Services
from plugin.storage.models import Shop
from plugin.storage.schema import SchemaOutdated

console = Console()


class Refused(click.ClickException):
    """A setting or an argument the command does not run with: one line, exit status 2
    (as click answers a malformed command line)."""

    exit_code = 2


class RefusingGroup(click.Group):
    """A command group whose commands answer a refused setting with one line, wherever in
    them it is found (not a traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SettingRefused as exc:
            raise Refused(one_line(str(exc))) from None


def one_line(text: str) -> str:
    """``text`` on a single line."""
    return " ".join(text.split())


def load_app() -> Flask:
    """The app, or a clear refusal when a setting is wrong or the schema is behind the code."""
    try:
        return create_app()
    except SchemaOutdated as exc:
        raise click.ClickException(str(exc)) from None


def instance_path() -> str:
    """Where create_app keeps its instance folder, without creating the app (and its checks)."""
    return Flask("plugin", instance_relative_config=True).instance_path


def load_services() -> Services:
    """The app's services for one command; its database connections close when it ends."""
    services = Services.of(load_app())
    click.get_current_context().call_on_close(services.dispose)
    return services


def find_shop(services: Services, domain: str) -> Shop:
    """The shop with that domain, or a refusal saying how to add it."""
    with services.sessions() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == domain.strip().lower()))
    if shop is None:
        raise click.ClickException(f"no shop {domain!r}; add it with `nudge shop add`")
    return shop


def parse_now(value: str | None) -> datetime | None:
    """An ISO-8601 time from the command line (UTC when it names no zone)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO-8601 datetime: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
