"""Alembic migrations build exactly the models' schema; an outdated database is refused."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from plugin import create_app
from plugin.cli import main
from plugin.storage.models import Base
from plugin.storage.schema import SchemaOutdated, head_revision, upgrade


def test_migrations_build_the_models_schema(database_url):
    engine = create_engine(database_url)
    upgrade(engine)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert (
            conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            == head_revision()
        )
    engine.dispose()
    assert differences == []


def test_a_new_database_is_ready_and_stamped(database_url):
    url = database_url
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "test-secret-key-0123456789abcdef"})
    engine = create_engine(url)
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            == head_revision()
        )
    engine.dispose()
    app.extensions["nudge"].engine.dispose()


def test_an_outdated_database_is_refused_until_upgraded(database_url, monkeypatch):
    url = database_url
    create_app({"DATABASE_URL": url, "SECRET_KEY": "test-secret-key-0123456789abcdef"}).extensions[
        "nudge"
    ].engine.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    engine.dispose()
    with pytest.raises(SchemaOutdated, match="nudge db upgrade"):
        create_app({"DATABASE_URL": url, "SECRET_KEY": "test-secret-key-0123456789abcdef"})
    monkeypatch.setenv("NUDGE_DATABASE_URL", url)
    refused = CliRunner().invoke(main, ["serve", "--port", "1"])
    assert refused.exit_code != 0
    assert (
        f"the database schema is at revision 0000, the code needs {head_revision()}: "
        "run `nudge db upgrade`" in refused.output
    )


def test_db_upgrade_command_creates_the_schema(database_url, monkeypatch):
    url = database_url
    monkeypatch.setenv("NUDGE_DATABASE_URL", url)
    result = CliRunner().invoke(main, ["db", "upgrade"], catch_exceptions=False)
    assert result.exit_code == 0 and f"at revision {head_revision()}" in result.output
    app = create_app(
        {"DATABASE_URL": url, "SECRET_KEY": "test-secret-key-0123456789abcdef"}
    )  # current: starts
    app.extensions["nudge"].engine.dispose()
