"""PostgreSQL and Redis for the scale tests: reachable or skipped (a failure under CI=true)."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path
from typing import IO

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


# Locks on the shared services' resources this test process holds, released after each test
# (conftest): two test runs on one machine at once (CI beside an engineer's run) would
# otherwise empty each other's Redis database or reset each other's schema mid-test.
_held: dict[str, IO[str]] = {}


def lock_path(resource: str) -> Path:
    """The file whose lock stands for ``resource``, the same for every test run here."""
    return Path(tempfile.gettempdir()) / f"nudge-tests-{resource}.lock"


def hold(resource: str) -> None:
    """Wait until no other process on this machine uses ``resource``, then keep it until the
    test ends."""
    if resource in _held:
        return
    handle = lock_path(resource).open("w")
    fcntl.flock(handle, fcntl.LOCK_EX)  # blocks while another run's test holds it
    _held[resource] = handle


def release_held() -> None:
    while _held:
        _held.popitem()[1].close()  # closing the file drops its lock


def redis_url(db: int) -> str:
    """A dedicated Redis database, emptied: other tests and engineers use other numbers."""
    hold(f"redis-{db}")
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
    hold(f"postgres-{name}")
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
