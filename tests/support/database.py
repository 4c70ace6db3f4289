"""Databases for tests: the app's (SQLite, or PostgreSQL when asked), and a bare store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, select, text

from plugin.storage.db import create_schema, make_engine, make_sessionmaker
from plugin.storage.models import Base, Shop
from tests.support.shop import SHOP_ADDRESS


def database_url_for_test(tmp_path: Path) -> str:
    """SQLite in the test's folder, or the PostgreSQL named by NUDGE_TEST_DATABASE_URL."""
    url = os.environ.get("NUDGE_TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path / 'nudge.sqlite3'}"
    engine = create_engine(url)
    with engine.begin() as conn:  # a clean schema per test
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def fresh_store():  # type: ignore[no-untyped-def]
    """Sessions on an in-memory SQLite schema holding one shop (id 1)."""
    engine = make_engine("sqlite://")
    create_schema(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as session, session.begin():
        session.add(Shop(id=1, domain="s.myshopify.com", settings={"postal_address": SHOP_ADDRESS}))
    return sessions


def table_contents(engine: Engine) -> dict[str, list[Any]]:
    """Every row of every table, in a fixed order: two of them compare equal only if
    nothing was written in between."""
    with engine.connect() as conn:
        return {
            table.name: sorted(map(tuple, conn.execute(select(table))), key=repr)
            for table in Base.metadata.sorted_tables
        }
