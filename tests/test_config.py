"""Settings read from the environment: what the app makes of them, and what it refuses."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select

from plugin import create_app
from plugin.config import DEFAULTS, SettingRefused, environment_settings, load_config
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
            "SECRET_KEY": "config-test-secret-0123456789abcdef-0123456789abcdef",
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


def cli_env(tmp_path, **settings: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """This process's environment without its NUDGE_* variables, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUDGE_")}
    env.update(
        NUDGE_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        NUDGE_SECRET_KEY="test-secret-key-0123456789abcdef",
    )
    return {**env, **settings}


def nudge(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `nudge` command in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "plugin.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens on it once the socket closes


BAD_SETTINGS = {
    "not a number": (
        {"NUDGE_WORKER_INTERVAL_SECONDS": "abc"},
        "NUDGE_WORKER_INTERVAL_SECONDS is 'abc', not a number: set it to a number of seconds",
    ),
    "not above zero": (
        {"NUDGE_WORKER_INTERVAL_SECONDS": "0"},
        "NUDGE_WORKER_INTERVAL_SECONDS is '0': set it to a number of seconds above 0",
    ),
    "retention in parts of days": (
        {"NUDGE_RETAIN_WEBHOOK_DAYS": "2.5"},
        "NUDGE_RETAIN_WEBHOOK_DAYS is '2.5', not a number: set it to a whole number of days "
        "above 0, such as 30",
    ),
    "not a switch": (
        {"NUDGE_EMBEDDED_WORKER": "maybe"},
        "NUDGE_EMBEDDED_WORKER is 'maybe': set it to 1 or 0",
    ),
    "malformed database URL": (
        {"NUDGE_DATABASE_URL": "sqlite:/tmp/x.db"},
        "NUDGE_DATABASE_URL is 'sqlite:/tmp/x.db', not a database URL: use sqlite:////",
    ),
    "database Nudge does not run on": (
        {"NUDGE_DATABASE_URL": "mysql://nudge@localhost/nudge"},
        "NUDGE_DATABASE_URL names 'mysql', a database Nudge does not run on",
    ),
    "SQLite file in a missing folder": (
        {"NUDGE_DATABASE_URL": "sqlite:////no-such-folder/nudge.sqlite3"},
        "NUDGE_DATABASE_URL puts the SQLite file in /no-such-folder, a folder that does not exist",
    ),
    "app URL without its scheme": (
        {"NUDGE_APP_URL": "nudge.example.com"},
        "NUDGE_APP_URL is 'nudge.example.com', not an http(s) address",
    ),
    "sender that is no address": (
        {"NUDGE_FROM_EMAIL": "shop"},
        "NUDGE_FROM_EMAIL is 'shop', not an email address",
    ),
    "SQLite synchronous OFF": (
        {"NUDGE_SQLITE_SYNCHRONOUS": "off"},
        "NUDGE_SQLITE_SYNCHRONOUS is 'off'; use NORMAL or FULL",
    ),
    "secret key short enough to guess": (
        {"NUDGE_SECRET_KEY": "a"},
        "NUDGE_SECRET_KEY is too short to sign with: use at least 32 random characters",
    ),
    "development clock without its file": (
        {"NUDGE_DEV_CLOCK_FILE": "/no-such-folder/clock"},
        "NUDGE_DEV_CLOCK_FILE is /no-such-folder/clock, which does not hold a time",
    ),
}


def assert_refused_in_one_line(result: subprocess.CompletedProcess[str], says: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr


@pytest.mark.parametrize("case", sorted(BAD_SETTINGS))
def test_a_bad_setting_is_one_line_and_exit_status_2(tmp_path, case):
    settings, says = BAD_SETTINGS[case]
    result = nudge(cli_env(tmp_path, **settings), "workflows", "list", "any.myshopify.com")
    assert_refused_in_one_line(result, says)
    assert not (tmp_path / "cli.sqlite3").exists()  # refused before any database was made


def test_a_short_secret_key_is_refused_from_code_too_and_the_generated_one_is_long(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("NUDGE_SECRET_KEY", raising=False)
    with pytest.raises(SettingRefused, match="NUDGE_SECRET_KEY is too short"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'a.sqlite3'}", "SECRET_KEY": "k" * 31})
    generated = load_config(tmp_path / "instance", {"DATABASE_URL": "sqlite://"})["SECRET_KEY"]
    assert len(generated) >= 32


def test_an_unreachable_postgresql_is_one_line(tmp_path):
    url = f"postgresql+psycopg://nudge:s3cret@127.0.0.1:{closed_port()}/nudge"
    result = nudge(cli_env(tmp_path, NUDGE_DATABASE_URL=url), "serve", "--port", "0")
    assert_refused_in_one_line(result, "NUDGE_DATABASE_URL: cannot connect to postgresql+psycopg")
    assert "Connection refused" in result.stderr and "s3cret" not in result.stderr


def test_a_missing_database_driver_is_one_line(tmp_path):
    if importlib.util.find_spec("psycopg2") is not None:
        pytest.skip("psycopg2 is installed here")
    url = "postgresql+psycopg2://nudge@127.0.0.1/nudge"
    result = nudge(cli_env(tmp_path, NUDGE_DATABASE_URL=url), "workflows", "list", "any")
    assert_refused_in_one_line(result, "NUDGE_DATABASE_URL needs the Python module 'psycopg2'")


def test_an_unknown_setting_is_named_with_the_one_it_likely_meant(tmp_path):
    env = cli_env(tmp_path, NUDGE_SHOPIFY_SECRET="s")
    result = nudge(env, "app", "extension", str(tmp_path / "extension"))
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert result.stderr == (
        "warning: NUDGE_SHOPIFY_SECRET is not a Nudge setting and is ignored: "
        "did you mean NUDGE_SHOPIFY_API_SECRET?\n"
    )


def test_retention_periods_are_whole_days_above_zero(monkeypatch):
    assert (DEFAULTS["RETAIN_WEBHOOK_DAYS"], DEFAULTS["RETAIN_PAGE_VIEWS_DAYS"]) == (30, 90)
    monkeypatch.setenv("NUDGE_RETAIN_PAGE_VIEWS_DAYS", "14")
    assert environment_settings()["RETAIN_PAGE_VIEWS_DAYS"] == 14
    monkeypatch.setenv("NUDGE_RETAIN_PAGE_VIEWS_DAYS", "0")
    with pytest.raises(SettingRefused, match="whole number of days above 0, such as 90"):
        environment_settings()
