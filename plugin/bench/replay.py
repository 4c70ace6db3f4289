"""End-to-end replay: a large synthetic store through the whole pipeline, on SQLite.

The store is made in cohorts of the demo's shoppers (``plugin.demo.history``), each written
sorted to a file, then merged by arrival time as one stream, so neither the generator nor
the replay ever holds more than one delivery of it in memory.

Measured, each in its own process: the baseline parses every delivery's JSON and
bulk-inserts the raw deliveries into a fresh SQLite file; the pipeline verifies each
delivery's HMAC and stores it durably (what ``POST /webhooks/shopify`` does after reading
the body), and on the simulated clock processes the inbox into facts and enrollments,
runs the sweeps daily and the due steps hourly, and writes the outbox.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from connectors import shopify
from plugin.bench.measure import peak_rss_mb
from plugin.demo.history import generate_history

COHORT = 2000
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


def pipeline(store: Path, work: Path) -> dict[str, Any]:
    """Replay the store through intake, facts, enrollment, due steps and the outbox."""
    from plugin import create_app
    from plugin.models import Delivery, Episode, OutboxMessage, Shop, Step
    from plugin.services import Services
    from plugin.webhooks import store_delivery
    from plugin.worker import run_once, tune_collector

    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{(work / 'pipeline.sqlite3').resolve()}",
            "SENDGRID_API_KEY": None,
            "SECRET_KEY": "bench-secret-key",
            "EMBEDDED_WORKER": False,
        }
    )
    services = Services.of(app)
    clock = _Clock()
    services.clock = clock
    with services.sessions() as session, session.begin():
        session.add(Shop(domain=SHOP, platform="shopify", webhook_secret=SECRET, settings={}))
    with services.sessions() as session:
        shop_id = session.scalar(select(Shop.id))
    tune_collector()  # as a worker process does
    started = time.perf_counter()
    next_tick: datetime | None = None
    ticks = accepted = 0
    last: datetime | None = None
    for at_text, topic, webhook_id, body in read_store(store):
        at = datetime.fromisoformat(at_text)
        if next_tick is None:
            next_tick = at
        while next_tick <= at:
            clock.now = next_tick
            run_once(services, next_tick, sweeps=ticks % SWEEP_EVERY == 0)
            ticks += 1
            next_tick += TICK
        clock.now = last = at
        headers = {"X-Shopify-Hmac-Sha256": shopify.sign(body, SECRET)}  # as Shopify signs
        if not shopify.verify(headers, body, SECRET):
            raise AssertionError("signature check failed")
        json.loads(body)
        store_delivery(
            services,
            shop_id=shop_id,
            source="shopify",
            delivery_id=webhook_id,
            topic=topic,
            body=body,
        )
        accepted += 1
    assert last is not None and next_tick is not None
    for _ in range(24):  # a last day: everything in the inbox processed, the next steps run
        clock.now = next_tick
        run_once(services, next_tick, sweeps=ticks % SWEEP_EVERY == 0)
        ticks += 1
        next_tick += TICK
    seconds = time.perf_counter() - started
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
    return {
        "accepted": accepted,
        "ticks": ticks,
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        **counts,
    }


class _Clock:
    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        assert self.now is not None
        return self.now
