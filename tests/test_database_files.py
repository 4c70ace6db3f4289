"""The SQLite files Nudge creates hold customers' data: its own user alone may read them."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import text

from plugin.storage.db import make_engine


@pytest.fixture
def open_umask():  # type: ignore[no-untyped-def]
    """The usual umask, under which files are created readable by everyone (0644)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path) -> int:  # type: ignore[no-untyped-def]
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_database_and_its_wal_and_shm_are_the_owners_only(tmp_path, open_umask):
    database = tmp_path / "nudge.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
        files = [database, tmp_path / "nudge.sqlite3-wal", tmp_path / "nudge.sqlite3-shm"]
        assert {path: mode(path) for path in files} == dict.fromkeys(files, 0o600)
    engine.dispose()


def test_an_existing_database_readable_by_others_is_made_the_owners_only(tmp_path, open_umask):
    database = tmp_path / "old.sqlite3"
    database.touch(mode=0o644)
    assert mode(database) == 0o644
    make_engine(f"sqlite:///{database}").dispose()
    assert mode(database) == 0o600
