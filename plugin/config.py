"""Configuration: defaults, then ``NUDGE_*`` environment variables, then a test override.

This is the only module that reads the environment. Every value is checked here, once, at
start: a value the app cannot run with raises ``SettingRefused``, whose message names the
variable, says what is wrong and what to do, on one line (the CLI prints it and exits 2).
Values it can run with but that a deployment should not keep (no SendGrid key, a local app
URL...) are listed by ``setting_warnings``.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from rules.validation import optional_email

ENV_PREFIX = "NUDGE_"

# Every setting the app knows, with its default. Keys are the env names without the prefix.
DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # None: sqlite file under the instance folder
    "SECRET_KEY": None,  # None: random per install, stored in the instance folder
    "APP_URL": "http://127.0.0.1:8000",
    "SHOPIFY_API_KEY": None,
    "SHOPIFY_API_SECRET": None,
    # on: shopify.app.toml (`nudge app toml`, deployed with the Shopify CLI) subscribes every
    # shop app-wide, so none is registered per shop at install
    "SHOPIFY_MANAGED_WEBHOOKS": False,
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
    # retention: applied webhook bodies and storefront page views older than this are
    # deleted (plugin.pipeline.retention); facts drawn from them stay
    "RETAIN_WEBHOOK_DAYS": 30,
    "RETAIN_PAGE_VIEWS_DAYS": 90,
    "EMBEDDED_WORKER": True,
    # development only: the settings page may get session tokens from the server itself
    "DEV_SESSION_TOKENS": False,
    # development and tests only: "now" is read from this file (see plugin.dev_clock)
    "DEV_CLOCK_FILE": None,
}

# NUDGE_* names the test suite reads for itself (tests/): not the app's, and not typos.
TEST_SUITE_NAMES = frozenset({"TEST_DATABASE_URL", "SCALE_POSTGRES", "SCALE_REDIS", "CHROMIUM"})
# NUDGE_* names `nudge bench` reads for itself (plugin.bench.scale: its PostgreSQL server)
BENCH_NAMES = frozenset({"BENCH_DATABASE_URL"})

# What a number counts, for the message that refuses one.
UNITS = {
    "MAX_WEBHOOK_BYTES": "bytes",
    "RETAIN_WEBHOOK_DAYS": "days",
    "RETAIN_PAGE_VIEWS_DAYS": "days",
}
# Addresses the app builds links and API calls on, with an example of each
URL_SETTINGS = {
    "APP_URL": "https://nudge.yourshop.com",
    "SENDGRID_BASE_URL": "https://api.sendgrid.com",
}
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
DATABASE_EXAMPLES = "sqlite:////absolute/path.sqlite3 or postgresql+psycopg://USER@HOST/DATABASE"
# Database kinds the app runs on (its claims use PostgreSQL's SKIP LOCKED, or SQLite's one writer)
DATABASE_BACKENDS = ("sqlite", "postgresql")

# How hard a SQLite commit (a webhook's insert among them) holds against a crash. NORMAL: a
# killed process loses nothing, but the last commits before a power loss or an OS crash
# may roll back. FULL: those survive too, for a sync of the WAL on every commit. OFF is
# refused: a power loss could then corrupt the file.
SQLITE_SYNCHRONOUS = ("NORMAL", "FULL")
# Shorter keys are refused: one signed link (an unsubscribe URL) is enough to guess a short
# key offline, and with it to forge every token the key signs. The generated key is longer.
MIN_SECRET_KEY = 32


class SettingRefused(ValueError):
    """A setting's value the app does not run with; the message says which, why and what to do."""


@dataclass(frozen=True)
class SettingWarning:
    """A setting the app runs with, but that a live deployment should change."""

    setting: str  # the environment variable, e.g. NUDGE_SENDGRID_API_KEY
    message: str  # one line: what follows from it and what to do


def load_config(
    instance_path: str | Path, override: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Build the settings mapping: defaults < environment < override."""
    config = environment_settings()
    if override:
        config.update(override)
        _check_secret_key(config["SECRET_KEY"])
    instance = Path(instance_path)
    if not config["DATABASE_URL"]:
        instance.mkdir(parents=True, exist_ok=True)
        config["DATABASE_URL"] = f"sqlite:///{instance / 'nudge.sqlite3'}"
    _checked(config)
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = _stored_secret(instance)
        _check_secret_key(config["SECRET_KEY"], f"the key in {instance / 'secret_key'}")
    return config


def environment_settings() -> dict[str, Any]:
    """Defaults < environment, with nothing derived from the instance folder (no files
    are created): enough for processes that only need a few settings, such as Celery's."""
    config = dict(DEFAULTS)
    for key in DEFAULTS:
        value = os.environ.get(ENV_PREFIX + key)
        if value is not None and value.strip() != "":
            config[key] = _coerce(key, DEFAULTS[key], value)
    for key in URL_SETTINGS:
        config[key] = _checked_url(key, config[key])
    _check_secret_key(config["SECRET_KEY"])
    if not optional_email(config["FROM_EMAIL"]):
        raise SettingRefused(
            f"NUDGE_FROM_EMAIL is {config['FROM_EMAIL']!r}, not an email address: "
            "set it to a sender SendGrid has verified, such as news@yourshop.com"
        )
    return config


def unknown_settings() -> list[str]:
    """One line per ``NUDGE_*`` variable the app does not know (a typo is otherwise
    silently ignored), with the setting it most likely meant."""
    lines = []
    known = [ENV_PREFIX + key for key in DEFAULTS]
    for name in sorted(os.environ):
        key = name.removeprefix(ENV_PREFIX)
        if (
            not name.startswith(ENV_PREFIX)
            or key in DEFAULTS
            or key in TEST_SUITE_NAMES | BENCH_NAMES
        ):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else "see the settings in the README"
        lines.append(f"{name} is not a Nudge setting and is ignored: {hint}")
    return lines


def setting_warnings(settings: Mapping[str, Any]) -> list[SettingWarning]:
    """Each missing or risky setting: the app runs, but not as a live shop expects."""
    warnings = []
    if not settings.get("SENDGRID_API_KEY"):
        warnings.append(
            SettingWarning(
                "NUDGE_SENDGRID_API_KEY",
                "NUDGE_SENDGRID_API_KEY is not set: emails are kept on this machine and never "
                "sent (read one with `nudge outbox --show ID`); set it to a SendGrid API key",
            )
        )
    app_url = str(settings.get("APP_URL") or "")
    if is_local_url(app_url):
        warnings.append(
            SettingWarning(
                "NUDGE_APP_URL",
                f"NUDGE_APP_URL is {app_url}, this machine: every unsubscribe link and "
                "Shopify's redirects point there; set it to the app's public https address",
            )
        )
    if not settings.get("FROM_EMAIL"):
        warnings.append(
            SettingWarning(
                "NUDGE_FROM_EMAIL",
                "NUDGE_FROM_EMAIL is not set: a shop without a sender of its own sends from "
                "no-reply@<its myshopify domain>, which SendGrid refuses as unverified; set it "
                "(or the shop's sender) to an address SendGrid has verified",
            )
        )
    if settings.get("DEV_SESSION_TOKENS") and not (
        settings.get("SHOPIFY_API_KEY") and settings.get("SHOPIFY_API_SECRET")
    ):
        warnings.append(
            SettingWarning(
                "NUDGE_DEV_SESSION_TOKENS",
                "NUDGE_DEV_SESSION_TOKENS is on, but NUDGE_SHOPIFY_API_KEY and "
                "NUDGE_SHOPIFY_API_SECRET are not both set: the settings page cannot sign in "
                "(it asks to be opened from the Shopify admin); set both",
            )
        )
    return warnings


def is_local_url(url: str) -> bool:
    """Whether ``url`` points at this machine (loopback, localhost, or no host at all)."""
    host = _hostname(url)
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _hostname(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:  # a malformed address, such as an unclosed [IPv6
        return ""


def database_url_text(url: str | URL) -> str:
    """A database URL fit for a message: its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", str(url))


def _checked(config: dict[str, Any]) -> None:
    level = str(config["SQLITE_SYNCHRONOUS"]).strip().upper()
    if level not in SQLITE_SYNCHRONOUS:
        raise SettingRefused(
            f"NUDGE_SQLITE_SYNCHRONOUS is {config['SQLITE_SYNCHRONOUS']!r}; "
            f"use {' or '.join(SQLITE_SYNCHRONOUS)}"
        )
    config["SQLITE_SYNCHRONOUS"] = level
    _check_database_url(str(config["DATABASE_URL"]))


def _check_database_url(text: str) -> None:
    """Refuse a database URL that cannot work, before anything connects: malformed, a kind
    of database or a driver that is not there, a SQLite file in a folder that is not."""
    try:
        url = make_url(text)
    except ArgumentError:
        raise SettingRefused(
            f"NUDGE_DATABASE_URL is {database_url_text(text)!r}, not a database URL: "
            f"use {DATABASE_EXAMPLES}"
        ) from None
    backend = url.get_backend_name()
    if backend not in DATABASE_BACKENDS:
        raise SettingRefused(
            f"NUDGE_DATABASE_URL names {backend!r}, a database Nudge does not run on: "
            f"use {DATABASE_EXAMPLES}"
        )
    try:
        url.get_dialect().import_dbapi()
    except NoSuchModuleError:
        raise SettingRefused(
            f"NUDGE_DATABASE_URL names the driver {url.drivername!r}, which SQLAlchemy does "
            f"not know: use {DATABASE_EXAMPLES}"
        ) from None
    except ImportError as exc:
        raise SettingRefused(
            f"NUDGE_DATABASE_URL needs the Python module {exc.name or url.get_driver_name()!r} "
            f"(the driver {url.drivername!r} names), which is not installed: install it, or "
            f"name an installed driver, such as postgresql+psycopg://"
        ) from None
    if backend == "sqlite" and url.database not in (None, "", ":memory:"):
        if url.query.get("uri"):
            return  # a file: URI, which SQLite itself reads
        folder = Path(url.database).expanduser().absolute().parent
        if not folder.is_dir():
            raise SettingRefused(
                f"NUDGE_DATABASE_URL puts the SQLite file in {folder}, a folder that does not "
                f"exist: create it, or choose a path in an existing folder"
            )


def _coerce(key: str, default: Any, text: str) -> Any:
    """The setting's value from its text: booleans and numbers parsed, other text as given."""
    name, raw = ENV_PREFIX + key, text.strip()
    if isinstance(default, bool):
        word = raw.lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise SettingRefused(f"{name} is {raw!r}: set it to 1 or 0 (or true/false, on/off)")
        return word in TRUE_WORDS
    if isinstance(default, int | float):
        whole = isinstance(default, int)
        unit = UNITS.get(key, "seconds")
        example = f"{default:g}" if not whole else str(default)
        expected = f"a {'whole ' if whole else ''}number of {unit} above 0, such as {example}"
        try:
            value = int(raw) if whole else float(raw)
        except ValueError:
            raise SettingRefused(f"{name} is {raw!r}, not a number: set it to {expected}") from None
        if not (math.isfinite(value) and value > 0):
            raise SettingRefused(f"{name} is {raw!r}: set it to {expected}")
        return value
    return text


def _check_secret_key(key: object, name: str = "NUDGE_SECRET_KEY") -> None:
    """Refuse a signing key short enough to be guessed (the key itself is never echoed)."""
    if key and len(str(key)) < MIN_SECRET_KEY:
        raise SettingRefused(
            f"{name} is too short to sign with: use at least {MIN_SECRET_KEY} random "
            "characters (python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'), or unset it to use one generated for this install"
        )


def _checked_url(key: str, text: str) -> str:
    value = text.strip()
    if not (value.startswith(("http://", "https://")) and _hostname(value)):
        raise SettingRefused(
            f"{ENV_PREFIX}{key} is {value!r}, not an http(s) address: "
            f"write it whole, such as {URL_SETTINGS[key]}"
        )
    return value.rstrip("/")  # paths are appended to it ("/unsubscribe/...")


def _stored_secret(instance: Path) -> str:
    """Return the install's random secret, creating it on first use."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
