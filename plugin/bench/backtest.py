"""The backtest part: 60 days of a store's stored facts replayed through the cart
abandonment workflow and a stricter draft (``plugin.pipeline.backtest``), against the rule
evaluation's own throughput measured in the same run.

The store is written straight into its tables (customers, checkouts, orders), not
replayed through the webhooks: what is measured is the backtest's reading and replaying,
and a 100,000-customer store through the pipeline would take the benchmark's whole budget.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from plugin.bench.factsets import factsets
from plugin.pipeline.backtest import backtest
from plugin.storage.db import create_schema, make_engine
from plugin.storage.models import CheckoutRow, CustomerRow, OrderRow, Shop
from rules.definitions import load_shipped, parse_workflow, shipped_workflows
from rules.evaluation import evaluate_step

END = datetime(2026, 3, 2, 12, tzinfo=UTC)
WORKFLOW = "cart_abandonment"
EVALUATIONS = 20_000  # fact sets the rule-evaluation baseline decides


def write_store(path: Path, customers: int, days: int, seed: int = 7) -> dict[str, int]:
    """A shop whose customers left checkouts and placed orders over ``days`` days."""
    rng = random.Random(seed)
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    start = END - timedelta(days=days)
    people: list[dict[str, Any]] = []
    checkouts: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    for n in range(customers):
        cid = str(100_000 + n)
        email = f"c{n}@example.com"
        created = start - timedelta(days=rng.uniform(0, 365))
        people.append(
            {
                "shop_id": 1,
                "external_id": cid,
                "email": email,
                "first_name": "Sam",
                "accepts_marketing": rng.random() < 0.7,
                "created_at": created,
                "updated_at": created,
            }
        )
        for c in range(rng.choice((0, 1, 1, 2))):
            at = start + timedelta(seconds=rng.uniform(0, days * 86_400))
            value = Decimal(rng.choice((15, 25, 40, 60, 90, 120, 180)))
            bought = rng.random() < 0.35
            token = f"t{n}-{c}"
            checkouts.append(
                {
                    "shop_id": 1,
                    "token": token,
                    "customer_external_id": cid,
                    "email": email,
                    "value": value,
                    "currency": "USD",
                    "items": [
                        {"product_id": "p1", "title": "Tea", "quantity": 1, "price": "15.00"}
                    ],
                    "accepts_marketing": None,
                    "created_at": at - timedelta(minutes=20),
                    "updated_at": at,
                    "completed_at": at + timedelta(hours=rng.uniform(0.5, 40)) if bought else None,
                }
            )
            if bought:
                completed: datetime = checkouts[-1]["completed_at"]
                orders.append(_order(len(orders), cid, email, token, value, completed))
        if rng.random() < 0.3:  # an order of their own, not from a checkout of the window
            placed = start + timedelta(seconds=rng.uniform(0, days * 86_400))
            orders.append(_order(len(orders), cid, email, None, Decimal(50), placed))
    with Session(engine) as session, session.begin():
        session.add(Shop(id=1, domain="bench.myshopify.com", settings={}))
        session.flush()
        for model, rows in ((CustomerRow, people), (CheckoutRow, checkouts), (OrderRow, orders)):
            for first in range(0, len(rows), 10_000):
                session.execute(insert(model), rows[first : first + 10_000])
    engine.dispose()
    return {"customers": customers, "checkouts": len(checkouts), "orders": len(orders)}


def _order(
    n: int, cid: str, email: str, token: str | None, value: Decimal, at: datetime
) -> dict[str, Any]:
    return {
        "shop_id": 1,
        "external_id": f"o{n}",
        "name": f"#{1000 + n}",
        "customer_external_id": cid,
        "email": email,
        "checkout_token": token,
        "value": value,
        "currency": "USD",
        "items": [],
        "financial_status": "paid",
        "created_at": at,
        "updated_at": at,
    }


def stricter(definition: dict[str, Any], threshold: int = 100) -> dict[str, Any]:
    """The definition with every cart-value threshold raised to ``threshold``."""
    for step in definition["steps"]:
        for condition in step["conditions"].get("all", []):
            if condition.get("name") == "checkout_value":
                condition["value"] = threshold
    return definition


def evaluation_rate(count: int = EVALUATIONS) -> float:
    """Decisions per second of the worker's evaluation alone, on prepared fact sets."""
    workflows = load_shipped()
    cases = [(workflows[name].steps[0], facts) for name, facts in factsets(count)]
    for step, facts in cases[: min(2_000, count)]:  # warm-up: imports and caches are not timed
        evaluate_step(step, facts)
    best = float("inf")
    for _ in range(3):
        began = time.process_time()
        for step, facts in cases:
            evaluate_step(step, facts)
        best = min(best, time.process_time() - began)
    return count / best


def run(folder: Path, customers: int, days: int, evaluations: int = EVALUATIONS) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "backtest.sqlite3"
    began = time.perf_counter()
    store = write_store(path, customers, days)
    written = time.perf_counter() - began
    live = parse_workflow(shipped_workflows()[WORKFLOW])
    draft = parse_workflow(stricter(shipped_workflows()[WORKFLOW]))
    engine = make_engine(f"sqlite:///{path}")
    cpu = time.process_time()
    with Session(engine) as session:
        result = backtest(session, 1, live, draft, days, END)
    cpu = time.process_time() - cpu  # beside the wall time: the machine may be shared
    engine.dispose()
    decisions = sum(
        result[side]["would_send"] + sum(result[side]["skipped"].values())
        for side in ("live", "draft")
    )
    rate = evaluation_rate(evaluations)
    per_second = decisions / result["seconds"]
    return {
        **store,
        "days": days,
        "store_seconds": written,
        "seconds": result["seconds"],
        "cpu_seconds": cpu,
        "subjects": result["subjects"],
        "decisions": decisions,
        "decisions_per_second": per_second,
        "cpu_decisions_per_second": decisions / cpu,
        "evaluation_decisions_per_second": rate,
        "ratio": per_second / rate,
        "cpu_ratio": decisions / cpu / rate,
        "live": result["live"],
        "draft": result["draft"],
        "changed_shown": len(result["changed"]),
    }
