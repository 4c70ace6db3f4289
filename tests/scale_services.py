"""PostgreSQL and Redis for the scale tests: reachable or skipped (a failure under CI=true)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES = os.environ.get("NUDGE_SCALE_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS = os.environ.get("NUDGE_SCALE_REDIS", "redis://127.0.0.1:6379")


def unavailable(reason: str) -> None:
    """Skip a test that needs a service, except in CI, where the service must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(reason)


def redis_url(db: int) -> str:
    """A dedicated Redis database, emptied: other tests and engineers use other numbers."""
    try:
        import redis
    except ImportError:
        unavailable("the redis package is missing (pip install -e '.[test]')")
    url = f"{REDIS}/{db}"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        unavailable(f"no Redis at {REDIS}: {exc}")
    return url


def postgres_database(name: str) -> str:
    """A database of our own on the local PostgreSQL, created if missing, schema emptied."""
    admin = create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # psycopg's OperationalError, wrapped by SQLAlchemy
        unavailable(f"no PostgreSQL at {make_url(POSTGRES).render_as_string()}: {exc}")
    finally:
        admin.dispose()
    url = f"{POSTGRES}/{name}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url
