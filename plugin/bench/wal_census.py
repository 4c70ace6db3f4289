"""Where the replay's writes go: every page SQLite writes to the WAL, by stage and b-tree.

`python -m plugin.bench.wal_census FOLDER` replays ``FOLDER/store`` (written by
``python -m plugin.bench.parts store ...``) in one process, as ``replay.pipeline(...,
intake_process=False)`` does, and reads the WAL's frames as each stage ends: the intake's
stores, and the worker's inbox, sweeps, due steps and sending. Then it counts the
raw-insert baseline's frames the same way, batch by batch. Each frame is one page
written; the b-tree (table or index) that owns the page is looked up at the end (a page
freed and reused by another b-tree is counted as its last owner's). It prints one JSON
line, like the benchmark's parts.

A frame count does not vary with the machine's speed, as the replay's statement count does
not: it shows what a change to the schema or the batches saves in pages written (and so
in what SQLite checksums, writes and later checkpoints), where times cannot. Reading the
frames slows the replay, so this is a census, not a timing.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import struct
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest import mock

WAL_HEADER = 32
FRAME_HEADER = 24


class WalFrames:
    """Reads the frames appended to a WAL since the last ``take``, across the WAL's
    restarts: after a complete checkpoint SQLite writes from the start again, under new
    salts, and only frames carrying the header's salts are the current WAL's.

    Frames a transaction spilled and then rolled back are counted, though SQLite writes
    over them; the replay rolls back nothing that large."""

    def __init__(self, wal: Path):
        self.wal = wal
        self.salts: bytes | None = None
        self.next_frame = 0
        self.page_size = 0

    def take(self) -> Counter[int]:
        """The pages written since the last call, with how often each was written."""
        pages: Counter[int] = Counter()
        if not self.wal.exists():
            return pages
        with self.wal.open("rb") as wal:
            header = wal.read(WAL_HEADER)
            if len(header) < WAL_HEADER:
                return pages
            self.page_size = struct.unpack(">I", header[8:12])[0]
            salts = header[16:24]
            if salts != self.salts:  # restarted (or first read): its frames begin anew
                self.salts, self.next_frame = salts, 0
            frame_size = FRAME_HEADER + self.page_size
            while True:
                wal.seek(WAL_HEADER + self.next_frame * frame_size)
                frame = wal.read(FRAME_HEADER)
                if len(frame) < FRAME_HEADER or frame[8:16] != salts:
                    return pages
                pages[struct.unpack(">I", frame[:4])[0]] += 1
                self.next_frame += 1


class Census:
    """Frames counted by the stage that wrote them."""

    def __init__(self, database: Path):
        self.database = database
        self.frames = WalFrames(Path(f"{database}-wal"))
        self.by_stage: defaultdict[str, Counter[int]] = defaultdict(Counter)

    def counted(self, stage: str, work: Callable[..., Any]) -> Callable[..., Any]:
        """``work``, its frames counted as ``stage``'s (and any before it as 'other')."""

        @functools.wraps(work)
        def run(*args: Any, **kwargs: Any) -> Any:
            self.by_stage["other"].update(self.frames.take())
            try:
                return work(*args, **kwargs)
            finally:
                self.by_stage[stage].update(self.frames.take())

        return run

    def result(self) -> dict[str, Any]:
        """Per stage, its frames in all and by b-tree, largest first."""
        with sqlite3.connect(self.database) as db:
            owner = {page: name for name, page in db.execute("SELECT name, pageno FROM dbstat")}
        stages = {}
        for stage, pages in self.by_stage.items():
            trees: Counter[str] = Counter()
            for page, count in pages.items():
                trees[owner.get(page, "(free page)")] += count
            if trees:
                stages[stage] = {
                    "frames": sum(trees.values()),
                    "by_tree": dict(trees.most_common()),
                }
        return {
            "page_size": self.frames.page_size,
            "frames": sum(s["frames"] for s in stages.values()),
            "stages": stages,
        }


def run(folder: Path) -> dict[str, Any]:
    """Census ``folder/store``'s replay, then its raw-insert baseline, into ``folder/census``:
    the frames per delivery of each, and the replay's by stage."""
    work = folder / "census"
    work.mkdir(parents=True, exist_ok=True)
    for stale in [*work.glob("pipeline.sqlite3*"), *work.glob("baseline.sqlite3*")]:
        stale.unlink()
    pipeline = _pipeline(folder / "store", work)
    baseline = _baseline(folder / "store", work)
    return {
        "deliveries": pipeline["accepted"],
        "outbox": pipeline["outbox"],
        "frames_per_delivery": {
            "pipeline": pipeline["frames"] / pipeline["accepted"],
            "baseline": baseline["frames"] / baseline["deliveries"],
        },
        "baseline_frames": baseline["frames"],
        **{key: pipeline[key] for key in ("page_size", "frames", "stages")},
    }


def _pipeline(store: Path, work: Path) -> dict[str, Any]:
    from plugin.bench import replay
    from plugin.pipeline import worker

    census = Census(work / "pipeline.sqlite3")
    held: dict[str, Any] = {}

    def hold_census(work_done: Any) -> None:
        # the counts are read before the replay closes the database, which checkpoints
        # and removes the WAL
        census.by_stage["other"].update(census.frames.take())
        held.update(census.result())
        original_stop(work_done)

    original_stop = replay._DatabaseWork.stop
    stages = {
        "process_inbox": "inbox",
        "sweep_all": "sweeps",
        "run_due": "due steps",
        "deliver_pending": "sending",
    }
    with ExitStack() as patches:  # each stage wrapped to count its frames, for this run only
        patches.enter_context(
            mock.patch.object(
                replay._Intake,
                "store_before",
                census.counted("intake", replay._Intake.store_before),
            )
        )
        patches.enter_context(mock.patch.object(replay._DatabaseWork, "stop", hold_census))
        for name, stage in stages.items():
            counted = census.counted(stage, getattr(worker, name))
            patches.enter_context(mock.patch.object(worker, name, counted))
        replayed = replay.pipeline(store, work, intake_process=False)
    return {**replayed, **held}


def _baseline(store: Path, work: Path) -> dict[str, Any]:
    """The baseline's frames, read after each of its batches commits: before the next
    batch, which starts the WAL over once a checkpoint after a large batch completed."""
    from plugin.bench import replay

    census = Census(work / "baseline.sqlite3")
    with mock.patch.object(replay, "_insert", census.counted("baseline", replay._insert)):
        inserted = replay.baseline(store, work)
    return {**inserted, "frames": census.result()["frames"]}


def main() -> None:
    print(json.dumps(run(Path(sys.argv[1]))))


if __name__ == "__main__":
    main()
