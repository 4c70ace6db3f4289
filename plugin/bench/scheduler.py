"""Scheduler scaling: running 10,000 due steps with few vs very many steps pending.

Two SQLite databases are built alike: the same customers, orders and 10,000 upsell steps
due now. The second also holds steps due over the next weeks, up to ``pending`` in all.
``run_due`` then decides the due steps in each; its cost should follow what is due, not
what is pending. Both runs must decide the same steps the same way.
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from plugin.bench.measure import BENCH_SETTINGS

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SHOP = "bench.myshopify.com"
BATCH = 20_000


def _services(path: Path) -> Any:
    from plugin import create_app
    from plugin.services import Services

    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{path.resolve()}",
            "SENDGRID_API_KEY": None,
            "SECRET_KEY": "bench-secret-key-0123456789abcdef",
            "EMBEDDED_WORKER": False,
        }
    )
    return Services.of(app)


def _chunks(rows: Any, size: int = BATCH) -> Any:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def add_shop(conn: Any) -> int:
    """The benchmark's one shop, inserted directly; its id."""
    from plugin.storage.models import Shop

    conn.execute(
        insert(Shop),
        [
            {
                "domain": SHOP,
                "platform": "shopify",
                "settings": BENCH_SETTINGS,
                "active": True,
                "created_at": NOW,
            }
        ],
    )
    return int(conn.execute(select(Shop.id)).scalar_one())


def build_due(path: Path, due: int) -> None:
    """A shop with ``due`` customers, each with one fulfilled order and an upsell step due now."""
    from plugin.storage.models import CustomerRow, OrderRow

    services = _services(path)
    placed = NOW - timedelta(days=8)
    with services.engine.begin() as conn:
        shop_id = add_shop(conn)
        for chunk in _chunks(
            {"shop_id": shop_id, "external_id": str(n), "email": f"c{n}@example.com", "accepts_marketing": True,
             "orders_count": 1, "last_order_at": placed, "last_activity_at": placed, "created_at": placed}
            for n in range(due)
        ):  # fmt: skip
            conn.execute(insert(CustomerRow), chunk)
        for chunk in _chunks(
            {"shop_id": shop_id, "external_id": f"o{n}", "customer_external_id": str(n), "email": f"c{n}@example.com",
             "value": Decimal("42.50"), "items": [], "created_at": placed, "fulfilled_at": placed, "refunded": False}
            for n in range(due)
        ):  # fmt: skip
            conn.execute(insert(OrderRow), chunk)
        _episodes_and_steps(conn, shop_id, range(due), lambda n: f"o{n}", NOW - timedelta(hours=1))
    services.engine.dispose()


def add_pending(path: Path, first: int, count: int) -> None:
    """Steps for customers not yet known, due over the next 30 days (never due in the run)."""
    from plugin.storage.models import Shop

    services = _services(path)
    with services.engine.begin() as conn:
        shop_id = conn.execute(select(Shop.id)).scalar_one()
        _episodes_and_steps(
            conn, shop_id, range(first, first + count), lambda n: f"future-{n}",
            lambda n: NOW + timedelta(hours=1 + n % 720),
        )  # fmt: skip
    services.engine.dispose()


def _episodes_and_steps(conn: Any, shop_id: int, numbers: range, subject: Any, due_at: Any) -> None:
    from plugin.storage.models import Episode, Step

    due = due_at if callable(due_at) else (lambda _n: due_at)
    # episode ids follow customer numbers, so each step can name its episode
    for chunk in _chunks(
        {"id": n + 1, "shop_id": shop_id, "workflow": "upsell", "subject": subject(n), "customer_external_id": str(n),
         "state": "active", "holdout": False, "enrolled_at": NOW - timedelta(days=8), "anchor_at": NOW - timedelta(days=8)}
        for n in numbers
    ):  # fmt: skip
        conn.execute(insert(Episode), chunk)
    for chunk in _chunks(
        {"episode_id": n + 1, "shop_id": shop_id, "step_id": "recommend", "position": 0, "state": "pending",
         "due_at": due(n), "deferrals": 0}
        for n in numbers
    ):  # fmt: skip
        conn.execute(insert(Step), chunk)


def decide(path: Path) -> dict[str, Any]:
    """Time ``run_due`` at NOW on a built database; say what it decided."""
    from plugin.pipeline.due_steps import run_due

    services = _services(path)
    services.clock = lambda: NOW
    started = time.perf_counter()
    stats = run_due(services, NOW)
    seconds = time.perf_counter() - started
    services.engine.dispose()
    return {
        "seconds": seconds,
        "fired": stats.fired,
        "skipped": stats.skipped,
        "deferred": stats.deferred,
    }


def run(folder: Path, due: int, pending: int) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    few, many = folder / "few.sqlite3", folder / "many.sqlite3"
    started = time.perf_counter()
    build_due(few, due)
    shutil.copy(few, many)
    add_pending(many, due, pending - due)
    built = time.perf_counter() - started
    result_few, result_many = decide(few), decide(many)
    if {k: v for k, v in result_few.items() if k != "seconds"} != {
        k: v for k, v in result_many.items() if k != "seconds"
    }:
        raise AssertionError(f"different decisions: {result_few} vs {result_many}")
    return {
        "due": due,
        "pending_few": due,
        "pending_many": pending,
        "build_seconds": built,
        "few": result_few,
        "many": result_many,
        "ratio": result_many["seconds"] / result_few["seconds"],
    }
