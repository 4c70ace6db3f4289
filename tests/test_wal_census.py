"""The WAL census counts every page written, once, by the stage that wrote it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from plugin.bench import replay, wal_census


def _database(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")  # this test checkpoints by hand
    db.execute("CREATE TABLE big (body BLOB)")
    db.execute("CREATE TABLE small (n INTEGER)")
    return db


def _pages_of(db: sqlite3.Connection, name: str) -> set[int]:
    return {page for (page,) in db.execute("SELECT pageno FROM dbstat WHERE name = ?", (name,))}


def test_frames_are_read_once_and_across_a_restarted_wal(tmp_path):
    db = _database(tmp_path / "db.sqlite3")
    frames = wal_census.WalFrames(tmp_path / "db.sqlite3-wal")
    frames.take()  # the schema's

    db.execute("INSERT INTO big VALUES (zeroblob(3000))")
    first = frames.take()
    assert set(first) >= _pages_of(db, "big") and sum(first.values()) >= 1
    assert frames.take() == {}  # nothing new was written

    # a complete checkpoint lets the next write start the WAL over, over the old frames
    assert db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()[0] == 0
    db.execute("INSERT INTO small VALUES (1)")
    after_restart = frames.take()
    assert set(after_restart) & _pages_of(db, "small")
    assert not set(after_restart) & _pages_of(db, "big")  # the old frames are not re-read
    assert frames.page_size == 4096


def test_census_of_a_small_replay(tmp_path):
    replay.write_store(tmp_path / "store", customers=40, days=10, seed=3)
    census = wal_census.run(tmp_path)

    stages = census["stages"]
    assert census["frames"] == sum(stage["frames"] for stage in stages.values())
    assert census["deliveries"] > 100 and census["outbox"] > 0
    # the intake writes deliveries (and their indexes), and little else
    intake = stages["intake"]["by_tree"]
    assert max(intake, key=intake.get) == "deliveries"
    assert intake["sqlite_autoindex_deliveries_1"] > 0 and intake["ix_deliveries_pending"] > 0
    # the inbox's claim rewrites the deliveries it takes; its events write facts, episodes
    inbox = stages["inbox"]["by_tree"]
    assert {"deliveries", "customers", "episodes", "steps"} <= set(inbox)
    # due steps write the outbox, and sending updates it
    assert stages["due steps"]["by_tree"]["outbox"] > 0
    assert stages["sending"]["by_tree"]["outbox"] > 0
    # the baseline writes each raw delivery's page about once: far fewer frames
    per_delivery = census["frames_per_delivery"]
    assert census["baseline_frames"] > 0
    assert per_delivery["baseline"] < per_delivery["pipeline"]
    assert per_delivery["pipeline"] == census["frames"] / census["deliveries"]
