"""Databases for tests: the app's (SQLite, or PostgreSQL when asked), and a bare store."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, text

from plugin.storage.db import create_schema, make_engine, make_sessionmaker
from plugin.storage.models import Shop


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
        session.add(Shop(id=1, domain="s.myshopify.com", settings={}))
    return sessions
