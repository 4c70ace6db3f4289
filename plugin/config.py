"""Configuration: defaults, then ``NUDGE_*`` environment variables, then a test override.

This is the only module that reads the environment.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "NUDGE_"

# Every setting the app knows, with its default. Keys are the env names without the prefix.
DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # None: sqlite file under the instance folder
    "SECRET_KEY": None,  # None: random per install, stored in the instance folder
    "APP_URL": "http://127.0.0.1:8000",
    "SHOPIFY_API_KEY": None,
    "SHOPIFY_API_SECRET": None,
    "SENDGRID_API_KEY": None,
    "SENDGRID_BASE_URL": "https://api.sendgrid.com",
    "SENDGRID_EVENT_PUBLIC_KEY": None,
    "FROM_EMAIL": None,
    "BROKER_URL": None,  # set (redis://...): Celery workers run the pipeline (plugin.pipeline.tasks)
    "TICK_SECONDS": 10.0,  # with a broker: how often beat asks for due steps and sends
    "SWEEP_SECONDS": 3600.0,  # with a broker: how often beat runs the time-triggered sweeps
    "MAX_WEBHOOK_BYTES": 2 * 1024 * 1024,
    # SQLite only: what a commit waits for (see SQLITE_SYNCHRONOUS below)
    "SQLITE_SYNCHRONOUS": "NORMAL",
    "WORKER_INTERVAL_SECONDS": 5.0,
    "EMBEDDED_WORKER": True,
    # development only: the settings page may get session tokens from the server itself
    "DEV_SESSION_TOKENS": False,
    # development and tests only: "now" is read from this file (see plugin.dev_clock)
    "DEV_CLOCK_FILE": None,
}

# How hard a SQLite commit (a webhook's insert among them) holds against a crash. NORMAL: a
# killed process loses nothing, but the last commits before a power loss or an OS crash
# may roll back. FULL: those survive too, for a sync of the WAL on every commit. OFF is
# refused: a power loss could then corrupt the file.
SQLITE_SYNCHRONOUS = ("NORMAL", "FULL")


class SettingRefused(ValueError):
    """A setting's value the app does not run with; the message says which and why."""


def load_config(
    instance_path: str | Path, override: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Build the settings mapping: defaults < environment < override."""
    config = environment_settings()
    if override:
        config.update(override)
    instance = Path(instance_path)
    if not config["DATABASE_URL"]:
        instance.mkdir(parents=True, exist_ok=True)
        config["DATABASE_URL"] = f"sqlite:///{instance / 'nudge.sqlite3'}"
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = _stored_secret(instance)
    return _checked(config)


def environment_settings() -> dict[str, Any]:
    """Defaults < environment, with nothing derived from the instance folder (no files
    are created): enough for processes that only need a few settings, such as Celery's."""
    config = dict(DEFAULTS)
    for key in DEFAULTS:
        value = os.environ.get(ENV_PREFIX + key)
        if value is not None and value != "":
            config[key] = _coerce(DEFAULTS[key], value)
    return config


def _checked(config: dict[str, Any]) -> dict[str, Any]:
    level = str(config["SQLITE_SYNCHRONOUS"]).strip().upper()
    if level not in SQLITE_SYNCHRONOUS:
        raise SettingRefused(
            f"NUDGE_SQLITE_SYNCHRONOUS is {config['SQLITE_SYNCHRONOUS']!r}; "
            f"use {' or '.join(SQLITE_SYNCHRONOUS)}"
        )
    config["SQLITE_SYNCHRONOUS"] = level
    return config


def _coerce(default: Any, raw: str) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def _stored_secret(instance: Path) -> str:
    """Return the install's random secret, creating it on first use."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
