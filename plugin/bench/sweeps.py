"""Sweeps over a large customer table: the re-engagement and purchase-cycle candidate
queries, timed, with the plans SQLite chose for them (which indexes they use)."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, select

from plugin.bench.scheduler import NOW, _chunks, _services, add_shop

SWEEPS = ("reengagement", "purchase_cycle")


def build(path: Path, customers: int, seed: int = 5) -> None:
    """Customers active over the last 400 days; those due to re-order get their last order."""
    from plugin.storage.models import CustomerRow, OrderRow

    rng = random.Random(seed)
    services = _services(path)
    with services.engine.begin() as conn:
        shop_id = add_shop(conn)
        orders: list[dict[str, Any]] = []

        def rows() -> Any:
            for n in range(customers):
                last_order = (
                    NOW - timedelta(days=rng.uniform(0, 400)) if rng.random() < 0.8 else None
                )
                engaged = NOW - timedelta(days=rng.uniform(0, 400)) if rng.random() < 0.5 else None
                moments = [m for m in (last_order, engaged) if m]
                reorder = (
                    last_order + timedelta(days=rng.uniform(20, 90))
                    if last_order and rng.random() < 0.4
                    else None
                )
                if reorder is not None and NOW - timedelta(days=14) < reorder <= NOW + timedelta(
                    days=3
                ):
                    orders.append(
                        {
                            "shop_id": shop_id,
                            "external_id": f"o{n}",
                            "customer_external_id": str(n),
                            "value": Decimal("30"),
                            "items": [],
                            "created_at": last_order,
                            "refunded": False,
                        }
                    )
                yield {
                    "shop_id": shop_id,
                    "external_id": str(n),
                    "email": f"c{n}@example.com",
                    "accepts_marketing": rng.random() < 0.6,
                    "orders_count": 2 if last_order else 0,
                    "last_order_at": last_order,
                    "last_engaged_at": engaged,
                    "expected_reorder_at": reorder,
                    "last_activity_at": max(moments) if moments else None,
                    "created_at": NOW - timedelta(days=500),
                }

        # fmt: skip
        for chunk in _chunks(rows()):
            conn.execute(insert(CustomerRow), chunk)
        for chunk in _chunks(orders):
            conn.execute(insert(OrderRow), chunk)
    services.engine.dispose()


def run(folder: Path, customers: int) -> dict[str, Any]:
    from plugin.pipeline.sweeps import sweep, sweep_subjects
    from plugin.shop_settings.workflows import shop_workflows
    from plugin.storage.batch import begin_batch
    from plugin.storage.models import Shop

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sweeps.sqlite3"
    started = time.perf_counter()
    build(path, customers)
    built = time.perf_counter() - started
    services = _services(path)
    statements: list[tuple[str, Any]] = []

    @event.listens_for(services.engine, "before_cursor_execute")
    def remember(_conn, _cursor, statement, parameters, _context, _many):  # type: ignore[no-untyped-def]
        statements.append((statement, parameters))

    results: dict[str, Any] = {"customers": customers, "build_seconds": built}
    with services.sessions() as session:
        shop = session.scalar(select(Shop))
        workflows = shop_workflows(session, shop.id)
        for name in SWEEPS:
            statements.clear()
            started = time.perf_counter()
            found = sweep_subjects(session, shop.id, workflows[name].workflow, NOW, 10**9)
            seconds = time.perf_counter() - started
            query, parameters = statements[-1]
            plan = [
                row[-1]
                for row in session.connection().exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {query}", parameters
                )
            ]
            results[name] = {
                "candidates": len(found),
                "seconds": seconds,
                "customers_per_second": customers / seconds,
                "plan": plan,
            }
    with begin_batch(services.sessions) as batch:
        shop = batch.session.scalars(select(Shop)).one()
        started = time.perf_counter()
        enrolled = sweep(batch, shop, NOW)
        results["sweep_enroll"] = {"enrolled": enrolled, "seconds": time.perf_counter() - started}
    services.engine.dispose()

    return results
