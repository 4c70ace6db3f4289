"""Deciding at scale: the same many-shop replay on PostgreSQL with one worker, then two.

Each run gets a fresh temporary database on the server ``NUDGE_BENCH_DATABASE_URL`` names
(the local PostgreSQL by default), dropped at the end. The shops' histories (the demo's
store, one seed per shop) are merged in arrival order and replayed on a simulated clock in
ticks: the tick's deliveries are stored pending, as the web stores them; then the workers
apply the inbox, run the sweeps (daily), and decide the due steps, each stage finished by
every worker before the next begins (as the embedded worker orders them). The workers are
separate processes running the Celery tasks' code (plugin.pipeline.partitions) without a
broker: a stage is "go round the partitions you can take until none is left", the sweeps a
queue of partitions, as the sweep task's messages are.

Measured: deliveries per second of the stages' wall time (storing the ticks' deliveries,
the same work in both runs, is left out), whether both runs decided exactly the same (every
step's outcome, reason and due time; every outbox row), and each process's CPU time,
PostgreSQL's backends for the run's database included.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from queue import Empty
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import make_url

from plugin.bench.measure import BENCH_SETTINGS, cpu_seconds
from plugin.demo.history import generate_history
from plugin.storage.models import Delivery, Episode, OutboxMessage, Shop, Step

if TYPE_CHECKING:
    from plugin.demo.store import SimulatedDelivery
    from plugin.services import Services

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
START = datetime(2026, 9, 1, tzinfo=UTC)
TICK = timedelta(hours=4)
TIMEZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
SECRET_KEY = "bench-secret-key-0123456789abcdef"


@dataclass(frozen=True)
class Arrival:
    shop: int  # the shop's index (and id: the shops are inserted first, in order)
    delivery: SimulatedDelivery


def server_url() -> str:
    return os.environ.get("NUDGE_BENCH_DATABASE_URL") or SERVER


def run(shops: int, customers: int, days: int, after: int = 14) -> dict[str, Any]:
    """Replay ``shops`` shops of ``customers`` each over ``days``, and ``after`` days more
    for the workflows' later steps, with one worker, then two; return both's figures."""
    arrivals = sorted(
        (
            Arrival(n + 1, delivery)
            for n in range(shops)
            for delivery in generate_history(
                seed=100 + n,
                customers=customers,
                days=days,
                start=START,
                shop_domain=_domain(n + 1),
            )
        ),
        key=lambda a: a.delivery.at,
    )
    runs = {workers: _replay(arrivals, shops, days + after, workers) for workers in (1, 2)}
    one, two = runs[1], runs[2]
    return {
        "shops": shops,
        "deliveries": len(arrivals),
        "steps_decided": one["steps_decided"],
        "one_worker_per_s": one["per_s"],
        "two_workers_per_s": two["per_s"],
        "ratio": two["per_s"] / one["per_s"],
        "same_decisions": one["decisions"] == two["decisions"],
        "cpu_bound_ratio": _critical(one["cpu_seconds"]) / _critical(two["cpu_seconds"]),
        # the stages' wall time (storing each tick's deliveries left out)
        "stage_seconds": {"one_worker": one["seconds"], "two_workers": two["seconds"]},
        "cpu_seconds": {"one_worker": one["cpu_seconds"], "two_workers": two["cpu_seconds"]},
        # this machine's 1-minute load before and after each run: a machine busy with other
        # work gives two processes two shares of it, and the ratio can then exceed 2
        "load_average": {"one_worker": one["load"], "two_workers": two["load"]},
    }


def _critical(cpu: dict[str, float | None]) -> float:
    """The least wall time a run's stages' CPU seconds allow on this machine's cores: its
    busiest worker's, or the workers' and PostgreSQL's shared over the cores (the
    coordinator works between the stages). Other work on a shared machine stretches wall
    times, not these; their ratio estimates what an idle machine would show (it leaves out
    waiting: locks held, round trips)."""
    stages = {name: seconds or 0.0 for name, seconds in cpu.items() if name != "coordinator"}
    busiest = max(seconds for name, seconds in stages.items() if name.startswith("worker"))
    return max(busiest, sum(stages.values()) / (os.cpu_count() or 1))


def _domain(shop: int) -> str:
    return f"bench-{shop:03d}.myshopify.com"


def _replay(arrivals: list[Arrival], shops: int, days: int, workers: int) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    cpu_before = cpu_seconds()
    with temporary_database(f"nudge_bench_scale_{os.getpid()}_{workers}") as url:
        from plugin import create_app
        from plugin.services import Services

        clock = multiprocessing.get_context("spawn").Value("d", START.timestamp())
        services = Services.of(create_app(_settings(url)))
        services.clock = lambda: datetime.fromtimestamp(clock.value, UTC)
        _add_shops(services, shops)
        with Workers(url, clock, workers) as pool:
            seconds = 0.0
            index = 0
            at = START
            while at < START + timedelta(days=days):
                clock.value = at.timestamp()
                batch = []
                while index < len(arrivals) and arrivals[index].delivery.at < at + TICK:
                    batch.append(arrivals[index])
                    index += 1
                _store(services, batch)
                started = time.perf_counter()
                pool.stage("inbox")
                if (at - START) % timedelta(days=1) == timedelta(0):
                    pool.sweep(_partitions(services))
                pool.stage("decide")
                seconds += time.perf_counter() - started
                at += TICK
            assert _count(services, Delivery.status == "pending") == 0
            cpu = pool.stop(services)
        # storing the ticks' deliveries and reading the results (between the stages)
        cpu["coordinator"] = cpu_seconds() - cpu_before
        decisions = _decisions(services)
        steps_decided = _count(services, Step.decided_at.is_not(None), Step)
        services.engine.dispose()
    return {
        "per_s": len(arrivals) / seconds,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "decisions": decisions,
        "steps_decided": steps_decided,
        "load": [load_before, os.getloadavg()[0]],
    }


def _settings(url: str) -> dict[str, Any]:
    return {
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET_KEY,
        "SENDGRID_API_KEY": None,
        "EMBEDDED_WORKER": False,
        "BROKER_URL": None,
    }


@contextmanager
def temporary_database(name: str) -> Iterator[str]:
    """A database of its own on the benchmark's server, dropped afterwards."""
    server = make_url(server_url())
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _add_shops(services: Services, shops: int) -> None:
    with services.sessions() as session, session.begin():
        for n in range(1, shops + 1):
            session.add(
                Shop(
                    domain=_domain(n),
                    platform="shopify",
                    access_token="t",
                    webhook_secret=f"secret-{n}",
                    settings={
                        **BENCH_SETTINGS,
                        "name": f"Shop {n}",
                        "timezone": TIMEZONES[n % len(TIMEZONES)],
                    },
                )
            )
    with services.sessions() as session:
        ids = session.scalars(select(Shop.id).order_by(Shop.id)).all()
    assert list(ids) == list(range(1, shops + 1)), ids  # Arrival.shop is the id


def _store(services: Services, batch: list[Arrival]) -> None:
    """The tick's deliveries, stored pending as the web stores them (the HMAC check and
    the request are the web's work, not the workers')."""
    import json

    if not batch:
        return
    now = services.now()
    rows = [
        {
            "shop_id": a.shop,
            "source": "shopify",
            "delivery_id": a.delivery.webhook_id,
            "topic": a.delivery.topic,
            "body": json.dumps(a.delivery.payload).encode(),
            "status": "pending",
            "attempts": 0,
            "received_at": now,
        }
        for a in batch
    ]
    # the history resends some webhooks, as Shopify does: stored once, as the web does
    with services.sessions() as session, session.begin():
        session.execute(insert(Delivery).on_conflict_do_nothing(), rows)


def _partitions(services: Services) -> list[int]:
    from plugin.pipeline.partitions import active_partitions

    return active_partitions(services)


def _count(services: Services, where: Any, model: Any = Delivery) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(where)) or 0


def _decisions(services: Services) -> Counter[tuple[Any, ...]]:
    """Every step's outcome and every outbox row, keyed without row ids."""
    with services.sessions() as session:
        steps = session.execute(
            select(
                Episode.shop_id,
                Episode.workflow,
                Episode.customer_external_id,
                Episode.subject,
                Episode.state,
                Step.step_id,
                Step.state,
                Step.reason,
                Step.due_at,
                Step.decided_at,
            ).join(Episode, Episode.id == Step.episode_id)
        ).all()
        outbox = session.execute(
            select(
                OutboxMessage.shop_id,
                OutboxMessage.workflow,
                OutboxMessage.customer_external_id,
                OutboxMessage.kind,
                OutboxMessage.step_id,
                OutboxMessage.state,
            )
        ).all()
    return Counter(("step", *row) for row in steps) + Counter(("outbox", *row) for row in outbox)


class Workers:
    """Worker processes, each running the partitioned stages when told to."""

    def __init__(self, url: str, clock: Synchronized[float], count: int):
        context = multiprocessing.get_context("spawn")  # no engine or lock crosses a fork
        self.sweeps = context.Queue()
        self.pipes: list[Connection] = []
        self.processes = []
        for n in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_worker, args=(url, clock, theirs, self.sweeps), name=f"worker{n + 1}"
            )
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)
        for pipe in self.pipes:
            assert pipe.recv() == "ready"

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
            process.join()

    def stage(self, name: str) -> None:
        """Every worker does the stage until it finds nothing it can take."""
        for pipe in self.pipes:
            pipe.send(name)
        for pipe in self.pipes:
            pipe.recv()

    def sweep(self, partitions: list[int]) -> None:
        for partition in partitions:
            self.sweeps.put(partition)
        self.stage("sweep")

    def stop(self, services: Services) -> dict[str, float | None]:
        """Each worker's CPU time, and PostgreSQL's for this database's backends (read
        while the workers' connections are still open)."""
        cpu: dict[str, float | None] = {"postgres": _backends_cpu(services)}
        for n, pipe in enumerate(self.pipes):
            pipe.send("stop")
            cpu[f"worker{n + 1}"] = pipe.recv()
        return cpu


def _backends_cpu(services: Services) -> float | None:
    """CPU seconds of the server processes serving this database (None when the server
    is not on this machine: their /proc entries are not here)."""
    with services.sessions() as session:
        pids = session.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).all()
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def _worker(url: str, clock: Synchronized[float], pipe: Connection, sweeps: Any) -> None:
    from plugin import create_app
    from plugin.pipeline import partitions
    from plugin.pipeline.worker import tune_collector
    from plugin.services import Services

    services = Services.of(create_app(_settings(url)))
    services.clock = lambda: datetime.fromtimestamp(clock.value, UTC)
    tune_collector()  # as a Celery worker started from the command line does
    pipe.send("ready")
    while True:
        command = pipe.recv()
        if command == "stop":
            services.engine.dispose()
            pipe.send(cpu_seconds())
            return
        if command == "inbox":
            partitions.apply_inbox(services, seconds=3600)
        elif command == "decide":
            partitions.decide_due(services, seconds=3600)
        elif command == "sweep":
            while True:
                try:
                    partition = sweeps.get(timeout=0.05)
                except Empty:
                    break
                partitions.sweep_partition(services, partition)
        pipe.send("done")
