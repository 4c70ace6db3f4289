"""What every part of the app shares: settings, the database, the clock, a wake-up signal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from flask import Flask
from sqlalchemy import Engine, Table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from plugin.config import SettingRefused, database_url_text
from plugin.storage import schema
from plugin.storage.db import DirectInsert, make_engine, make_sessionmaker
from plugin.storage.models import Delivery

DELIVERIES = cast(Table, Delivery.__table__)  # a mapped class's table (typed as any FromClause)
DELIVERY_COLUMNS = (
    "shop_id",
    "source",
    "delivery_id",
    "topic",
    "body",
    "status",
    "attempts",
    "received_at",
)


def real_clock() -> datetime:
    return datetime.now(UTC)


def connect(engine: Engine) -> None:
    """Open one connection, or refuse to start saying why the database cannot be reached
    (a server down or refusing us, a SQLite file that cannot be opened)."""
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        said = str(exc.orig).strip()  # the driver's words; the first line says what failed
        reason = said.splitlines()[0] if said else type(exc.orig).__name__
        raise SettingRefused(
            f"NUDGE_DATABASE_URL: cannot connect to {database_url_text(engine.url)} "
            f"({reason}): start the server, create the database, or correct the URL"
        ) from None


@dataclass
class Services:
    """The app's shared resources; one per app, also used by the CLI and the worker."""

    settings: dict[str, Any]
    engine: Engine
    sessions: sessionmaker[Session]
    # the webhook inserts': on SQLite its own pool, whose writers retry a locked database
    # after microseconds instead of SQLite's millisecond (plugin.storage.db.DirectInsert)
    intake_engine: Engine
    delivery_insert: DirectInsert
    clock: Callable[[], datetime] = real_clock
    # set when new work arrives, so the embedded worker need not wait for its next tick
    work_arrived: threading.Event = field(default_factory=threading.Event)
    # (source, domain) -> (when read, shop id, webhook secret); see plugin.web.webhooks
    webhook_credentials: dict[tuple[str, str], tuple[float, int, str | None]] = field(
        default_factory=dict
    )

    @classmethod
    def create(cls, settings: dict[str, Any]) -> Services:
        synchronous = settings["SQLITE_SYNCHRONOUS"]
        engine = make_engine(settings["DATABASE_URL"], synchronous=synchronous)
        try:
            connect(engine)
            schema.prepare(engine)
        except Exception:
            engine.dispose()  # a refused start leaves no connection behind
            raise
        url = settings["DATABASE_URL"]
        intake = (
            make_engine(url, sqlite_waits=False, synchronous=synchronous)
            if engine.dialect.name == "sqlite"
            else engine
        )
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            intake_engine=intake,
            delivery_insert=DirectInsert(intake, DELIVERIES, DELIVERY_COLUMNS),
        )

    @classmethod
    def init_app(cls, app: Flask, settings: dict[str, Any]) -> Services:
        services = cls.create(settings)
        app.extensions["nudge"] = services
        return services

    @staticmethod
    def of(app: Flask) -> Services:
        services: Services = app.extensions["nudge"]
        return services

    def dispose(self) -> None:
        """Close every pooled connection (before a fork, or when done)."""
        self.engine.dispose()
        self.delivery_insert.close()
        self.intake_engine.dispose()

    def now(self) -> datetime:
        return self.clock()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
