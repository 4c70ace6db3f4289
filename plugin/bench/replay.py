"""End-to-end replay: a large synthetic store through the whole pipeline, on SQLite.

The store is made in cohorts of the demo's shoppers (``plugin.demo.history``), each written
sorted to a file, then merged by arrival time as one stream, so neither the generator nor
the replay ever holds more than one delivery of it in memory.

Measured, each in its own process: the baseline parses every delivery's JSON and
bulk-inserts the raw deliveries into a fresh SQLite file; the pipeline verifies each
delivery's HMAC and stores it durably (what ``POST /webhooks/shopify`` does after reading
the body), and on the simulated clock processes the inbox into facts and enrollments,
runs the sweeps daily and the due steps hourly, and writes the outbox. Its intake runs in
a second process, as a web server's would (see ``pipeline``).
"""

from __future__ import annotations

import heapq
import json
import multiprocessing
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, event, func, select

from connectors import shopify
from plugin.bench.measure import BENCH_SETTINGS, cpu_seconds, peak_rss_mb
from plugin.demo.history import generate_history

if TYPE_CHECKING:
    from plugin.services import Services

COHORT = 2000
CHUNK = 1000  # deliveries the intake checks and parses before storing them
# how long the worker, caught up with the intake, waits before looking for more it stored
CATCH_UP_PAUSE = 0.02
SHOP = "bench.myshopify.com"
SECRET = "bench-webhook-secret"
TICK = timedelta(hours=1)
SWEEP_EVERY = 24
Record = tuple[str, str, str, bytes]  # arrival (ISO, sorts as time), topic, webhook id, body


def write_store(folder: Path, customers: int, days: int, seed: int) -> dict[str, Any]:
    """Write the store's deliveries as sorted cohort files; return their count and size."""
    folder.mkdir(parents=True, exist_ok=True)
    deliveries = size = 0
    for first in range(0, customers, COHORT):
        path = folder / f"cohort-{first:07d}.tsv"
        with path.open("wb") as out:
            for d in generate_history(
                seed=seed + first,
                customers=min(COHORT, customers - first),
                days=days,
                shop_domain=SHOP,
                first_shopper=first,
            ):
                body = json.dumps(d.payload, separators=(",", ":")).encode()
                out.write(
                    b"\t".join(
                        (d.at.isoformat().encode(), d.topic.encode(), d.webhook_id.encode(), body)
                    )
                    + b"\n"
                )
                deliveries += 1
                size += len(body)
    return {"customers": customers, "days": days, "deliveries": deliveries, "body_bytes": size}


def read_store(folder: Path) -> Iterator[Record]:
    """Every delivery of the store, merged across cohorts in arrival order."""

    def cohort(path: Path) -> Iterator[Record]:
        with path.open("rb") as lines:
            for line in lines:
                at, topic, webhook_id, body = line.rstrip(b"\n").split(b"\t", 3)
                yield at.decode(), topic.decode(), webhook_id.decode(), body

    return heapq.merge(*(cohort(p) for p in sorted(folder.glob("cohort-*.tsv"))))


def baseline(store: Path, work: Path) -> dict[str, Any]:
    """Parse every delivery and bulk-insert it raw into SQLite: the floor of any pipeline."""
    db = sqlite3.connect(work / "baseline.sqlite3")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE raw (topic TEXT, webhook_id TEXT UNIQUE, body BLOB)")
    started = time.perf_counter()
    batch: list[tuple[str, str, bytes]] = []
    count = 0
    for _at, topic, webhook_id, body in read_store(store):
        json.loads(body)
        batch.append((topic, webhook_id, body))
        if len(batch) == 1000:
            count += _insert(db, batch)
    count += _insert(db, batch)
    seconds = time.perf_counter() - started
    db.close()
    return {"deliveries": count, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def _insert(db: sqlite3.Connection, batch: list[tuple[str, str, bytes]]) -> int:
    with db:
        db.executemany("INSERT OR IGNORE INTO raw VALUES (?, ?, ?)", batch)
    count = len(batch)
    batch.clear()
    return count


def pipeline(store: Path, work: Path, intake_process: bool = True) -> dict[str, Any]:
    """Replay the store through intake, facts, enrollment, due steps and the outbox.

    As deployed, the intake runs in a process of its own (the web server's) beside the
    worker's: while the worker runs an hour's sweeps and due steps, the intake stores the
    next hour's deliveries, and the worker, done with those, processes what the intake has
    stored so far of them. It is let go on only once the worker's inbox pass for the hour
    is done, so every pass processes exactly the deliveries that arrived before it, as
    when one process does both in turn (``intake_process=False``; a test holds the two
    alike).
    """
    from plugin.pipeline.worker import tune_collector
    from plugin.storage.models import Delivery, Episode, OutboxMessage, Shop, Step

    database_url = f"sqlite:///{(work / 'pipeline.sqlite3').resolve()}"
    services, clock = _services(database_url)
    with services.sessions() as session, session.begin():
        session.add(
            Shop(domain=SHOP, platform="shopify", webhook_secret=SECRET, settings=BENCH_SETTINGS)
        )
    tune_collector()  # as a worker process does
    database_work = _DatabaseWork(services.engine)
    started, cpu_before = time.perf_counter(), cpu_seconds()
    if intake_process:
        intake = _run_beside_intake_process(store, database_url, services, clock)
    else:
        intake = _run_with_intake_in_turn(store, services, clock)
    seconds = time.perf_counter() - started
    worker_cpu = cpu_seconds() - cpu_before
    database_work.stop()
    with services.sessions() as session:
        counts = {
            "deliveries": session.scalar(select(func.count()).select_from(Delivery)),
            "pending_deliveries": session.scalar(
                select(func.count()).where(Delivery.status == "pending")
            ),
            "episodes": session.scalar(select(func.count()).select_from(Episode)),
            "steps_decided": session.scalar(select(func.count()).where(Step.state != "pending")),
            "outbox": session.scalar(select(func.count()).select_from(OutboxMessage)),
        }
    services.engine.dispose()
    worker_rss = peak_rss_mb()
    return {
        "accepted": intake["accepted"],
        "ticks": intake["ticks"],
        # the worker idle until the intake had stored what arrived before its next pass
        "waited_for_intake_seconds": intake["waited_for_intake_seconds"],
        # of the deliveries, those the worker processed while the intake stored their hour
        "processed_while_stored": intake["processed_while_stored"],
        "seconds": seconds,
        # user and system CPU while replaying: how much of the wall time each process was busy
        "worker_cpu_seconds": worker_cpu,
        "intake_cpu_seconds": intake["cpu_seconds"],
        # both processes, as they run side by side
        "peak_rss_mb": worker_rss + intake["peak_rss_mb"],
        "worker_peak_rss_mb": worker_rss,
        # how much the worker asked of SQLite: counts that do not vary with the machine's
        # speed, where its times do (they vary a little with how the intake's hours split)
        "worker_statements": database_work.statements,
        "worker_commits": database_work.commits,
        **counts,
    }


class _DatabaseWork:
    """Counts the statements (an executemany is one) and commits run on an engine."""

    def __init__(self, engine: Engine):
        self.engine, self.statements, self.commits = engine, 0, 0
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _statement(self, *_args: Any) -> None:
        self.statements += 1

    def _commit(self, *_args: Any) -> None:
        self.commits += 1

    def stop(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._commit)


def _services(database_url: str) -> tuple[Services, _Clock]:
    """The app's services on the replay's database, on a simulated clock."""
    from plugin import create_app
    from plugin.services import Services

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SENDGRID_API_KEY": None,
            "SECRET_KEY": "bench-secret-key-0123456789abcdef",
            "EMBEDDED_WORKER": False,
        }
    )
    services = Services.of(app)
    clock = _Clock()
    services.clock = clock
    return services, clock


class _Intake:
    """The store's deliveries taken in as ``POST /webhooks/shopify`` takes them: signature
    checked (signed first, as Shopify signs), body parsed, stored durably at its arrival."""

    def __init__(self, store: Path, services: Services, clock: _Clock):
        from plugin.storage.models import Shop

        self.services, self.clock = services, clock
        with services.sessions() as session:
            self.shop_id = session.scalar(select(Shop.id).where(Shop.domain == SHOP))
        self.deliveries = read_store(store)
        self.waiting = self._next()
        self.first_arrival = self.waiting[0] if self.waiting else None
        self.accepted = 0

    def _next(self) -> tuple[datetime, str, str, bytes] | None:
        record = next(self.deliveries, None)
        if record is None:
            return None
        at_text, topic, webhook_id, body = record
        return datetime.fromisoformat(at_text), topic, webhook_id, body

    def store_before(self, until: datetime) -> bool:
        """Store every delivery that arrived before ``until``; True if more remain.

        A chunk is checked and parsed before any of it is stored: beside the worker, only
        the inserts wait for SQLite's write lock, which the worker holds while it decides.
        """
        from plugin.web.webhooks import store_delivery

        while self.waiting is not None and self.waiting[0] < until:
            chunk: list[tuple[datetime, str, str, bytes]] = []
            while self.waiting is not None and self.waiting[0] < until and len(chunk) < CHUNK:
                body = self.waiting[3]
                headers = {"X-Shopify-Hmac-Sha256": shopify.sign(body, SECRET)}
                if not shopify.verify(headers, body, SECRET):
                    raise AssertionError("signature check failed")
                json.loads(body)
                chunk.append(self.waiting)
                self.waiting = self._next()
            for at, topic, webhook_id, body in chunk:
                self.clock.now = at
                store_delivery(
                    self.services,
                    shop_id=self.shop_id,
                    source="shopify",
                    delivery_id=webhook_id,
                    topic=topic,
                    body=body,
                )
            self.accepted += len(chunk)
        return self.waiting is not None


def _run_ticks(
    services: Services,
    clock: _Clock,
    first: datetime | None,
    stored_before: Callable[[datetime], bool],
    let_store_before: Callable[[datetime], None],
) -> int:
    """Run the worker hourly from the first arrival: each pass once every delivery that
    arrived before it is stored, then a last day, for what is still due. Return the count
    of passes."""
    from plugin.pipeline.worker import run_once

    if first is None:
        return 0  # nothing arrived
    ticks = 0
    tick = first
    while stored_before(tick):
        clock.now = tick
        run_once(
            services,
            tick,
            sweeps=ticks % SWEEP_EVERY == 0,
            inbox_done=partial(let_store_before, tick + TICK),
        )
        ticks += 1
        tick += TICK
    for _ in range(24):
        clock.now = tick
        run_once(services, tick, sweeps=ticks % SWEEP_EVERY == 0)
        ticks += 1
        tick += TICK
    return ticks


def _run_with_intake_in_turn(store: Path, services: Services, clock: _Clock) -> dict[str, Any]:
    intake = _Intake(store, services, clock)
    ticks = _run_ticks(
        services, clock, intake.first_arrival, intake.store_before, lambda _until: None
    )
    # the intake is this process: its memory is the worker's, and it keeps nobody waiting
    return {
        "accepted": intake.accepted,
        "ticks": ticks,
        "peak_rss_mb": 0.0,
        "cpu_seconds": 0.0,  # counted in the worker's
        "waited_for_intake_seconds": 0.0,
        "processed_while_stored": 0,
    }


def _run_beside_intake_process(
    store: Path, database_url: str, services: Services, clock: _Clock
) -> dict[str, Any]:
    from plugin.pipeline.inbox import process_inbox

    context = multiprocessing.get_context("spawn")  # a fresh interpreter, as a server's
    pipe, child_end = context.Pipe()
    process = context.Process(
        target=_intake_process, args=(store, database_url, child_end), name="replay-intake"
    )
    process.start()
    child_end.close()  # the child's alone: its end closes when it exits, however it exits

    waited = 0.0
    early = 0  # deliveries processed while the intake was still storing their hour

    def answer() -> Any:
        nonlocal waited
        started = time.perf_counter()
        try:
            return pipe.recv()
        except EOFError:
            process.join()
            raise RuntimeError(f"the intake process exited ({process.exitcode})") from None
        finally:
            waited += time.perf_counter() - started

    def stored_before(tick: datetime) -> Any:
        """Wait for the intake to have stored what arrived before ``tick``, processing what
        it has stored so far meanwhile, as a deployed worker does beside the web server.
        Everything stored now arrived before ``tick`` and is processed as of ``tick``, in
        the order it arrived, as the pass at ``tick`` would have processed it."""
        nonlocal waited, early
        clock.now = tick
        while True:
            started = time.perf_counter()
            ready = pipe.poll(CATCH_UP_PAUSE)
            waited += time.perf_counter() - started
            if ready:
                return answer()
            early += process_inbox(services, tick).processed

    first = answer()
    if first is not None:
        pipe.send(first)  # nothing arrived before the first arrival: it answers at once
    ticks = _run_ticks(services, clock, first, stored_before, lambda until: pipe.send(until))
    pipe.send(None)
    result = answer()
    process.join()
    return {
        **result,
        "ticks": ticks,
        "waited_for_intake_seconds": waited,
        "processed_while_stored": early,
    }


def _intake_process(store: Path, database_url: str, pipe: Connection) -> None:
    """The intake's side: store what arrived before each time the worker sends, answer
    whether more remain; at None, answer with its totals."""
    services, clock = _services(database_url)
    intake = _Intake(store, services, clock)
    cpu_before = cpu_seconds()
    pipe.send(intake.first_arrival)
    while (until := pipe.recv()) is not None:
        pipe.send(intake.store_before(until))
    pipe.send(
        {
            "accepted": intake.accepted,
            "peak_rss_mb": peak_rss_mb(),
            "cpu_seconds": cpu_seconds() - cpu_before,
        }
    )
    services.engine.dispose()


class _Clock:
    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        assert self.now is not None
        return self.now
