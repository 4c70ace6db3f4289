"""The database schema's version: Alembic migrations in plugin/storage/migrations/."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from plugin.storage.models import Base

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaOutdated(RuntimeError):
    """The database is behind the code; `nudge db upgrade` brings it up to date."""


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (creates it on an empty database)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def prepare(engine: Engine) -> None:
    """Make a new database ready, or check that an existing one is current.

    An empty database gets the schema straight from the models and is stamped at the
    newest revision (a test holds the migrations to exactly that schema); one that holds
    data must already be at the newest revision: upgrading is an explicit step.
    """
    if not inspect(engine).get_table_names():
        Base.metadata.create_all(engine)
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.stamp(config, "head")
        return
    check_current(engine)


def check_current(engine: Engine) -> None:
    """Refuse to run on a database that is not at the newest revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        has_tables = bool(inspect(engine).get_table_names())
        state = (
            f"at revision {current}" if current else ("not versioned" if has_tables else "empty")
        )
        raise SchemaOutdated(
            f"the database schema is {state}, the code needs {head}: run `nudge db upgrade`"
        )
