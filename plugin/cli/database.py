"""`nudge db upgrade`: the schema migrations, run by hand."""

from __future__ import annotations

import click

from plugin.cli.loading import instance_path
from plugin.config import load_config
from plugin.services import connect
from plugin.storage.db import make_engine
from plugin.storage.schema import current_revision, upgrade


@click.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations the code needs (creates the schema on an empty database)."""
    settings = load_config(instance_path())
    engine = make_engine(settings["DATABASE_URL"], synchronous=settings["SQLITE_SYNCHRONOUS"])
    try:
        connect(engine)
        upgrade(engine)
        click.echo(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()
