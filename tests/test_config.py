"""Settings read from the environment: what the app makes of them, and what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from plugin import create_app
from plugin.cli import main
from plugin.services import Services
from plugin.storage.models import Delivery

SYNCHRONOUS_LEVELS = {"NORMAL": 1, "FULL": 2}  # what PRAGMA synchronous answers


def _synchronous(engine: Engine) -> int:
    connection = engine.raw_connection()
    try:
        return connection.cursor().execute("PRAGMA synchronous").fetchone()[0]
    finally:
        connection.close()


@pytest.mark.parametrize(
    "setting, level", [(None, "NORMAL"), ("full", "FULL"), ("NORMAL", "NORMAL")]
)
def test_sqlite_commits_sync_as_set_for_the_worker_and_the_intake(
    tmp_path, monkeypatch, setting, level
):
    if setting is None:
        monkeypatch.delenv("NUDGE_SQLITE_SYNCHRONOUS", raising=False)
    else:
        monkeypatch.setenv("NUDGE_SQLITE_SYNCHRONOUS", setting)
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'nudge.sqlite3'}",
            "SECRET_KEY": "config-test-secret",
            "EMBEDDED_WORKER": False,
        }
    )
    services = Services.of(app)
    try:
        assert app.config["SQLITE_SYNCHRONOUS"] == level
        assert _synchronous(services.engine) == SYNCHRONOUS_LEVELS[level]
        assert _synchronous(services.intake_engine) == SYNCHRONOUS_LEVELS[level]
        # the webhook's insert runs on the intake's own connections, made with that level
        stored = services.delivery_insert.run(
            {
                "shop_id": None,
                "source": "sendgrid",
                "delivery_id": "one",
                "topic": "events",
                "body": b"[]",
                "status": "pending",
                "attempts": 0,
                "received_at": datetime(2026, 3, 2, tzinfo=UTC),
            }
        )
        assert stored
        with services.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Delivery)) == 1
    finally:
        services.dispose()


@pytest.mark.parametrize("setting", ["off", "EXTRA", "2"])
def test_an_unknown_sqlite_synchronous_is_refused_with_what_to_use(tmp_path, monkeypatch, setting):
    monkeypatch.setenv("NUDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("NUDGE_SECRET_KEY", "cli-test-secret")
    monkeypatch.setenv("NUDGE_SQLITE_SYNCHRONOUS", setting)
    result = CliRunner().invoke(main, ["workflows", "list", "any.myshopify.com"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"NUDGE_SQLITE_SYNCHRONOUS is '{setting}'; use NORMAL or FULL" in result.output
    assert not (tmp_path / "cli.sqlite3").exists()  # refused before any database was made
