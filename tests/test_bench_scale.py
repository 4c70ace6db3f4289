"""The scale benchmark: one worker and two replay the same shops on PostgreSQL and must
decide the same; its row is met only then, and at the target ratio."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

from plugin.bench import TARGETS, summarize
from tests.support.scale_services import POSTGRES, unavailable


def scale_report(ratio: float, same: bool) -> dict:
    return {
        "scale": {
            "shops": 20,
            "one_worker_per_s": 10.0,
            "two_workers_per_s": 10.0 * ratio,
            "ratio": ratio,
            "same_decisions": same,
        }
    }


def test_the_scale_row_is_met_at_the_target_with_the_same_decisions():
    target = TARGETS["scale_two_workers"]
    [met] = summarize(scale_report(target, True))
    [short] = summarize(scale_report(target - 0.01, True))
    [differs] = summarize(scale_report(2.0, False))
    assert (met["met"], short["met"], differs["met"]) == (True, False, False)
    assert "same decisions: NO" in differs["goal"]


@pytest.mark.slow
def test_one_worker_and_two_decide_the_same_on_postgresql(monkeypatch):
    from plugin.bench import scale

    server = f"{POSTGRES}/postgres"
    engine = create_engine(server)
    try:
        engine.connect().close()
    except Exception as exc:  # psycopg's OperationalError, wrapped by SQLAlchemy
        engine.dispose()
        unavailable(f"no PostgreSQL at {POSTGRES}: {exc}")
    monkeypatch.setenv("NUDGE_BENCH_DATABASE_URL", server)
    result = scale.run(shops=2, customers=10, days=1, after=1)
    assert result["same_decisions"] is True
    assert result["deliveries"] > 30 and result["steps_decided"] > 0
    assert set(result["cpu_seconds"]["two_workers"]) >= {"worker1", "worker2", "coordinator"}
    with engine.connect() as conn:  # its databases are gone
        left = conn.scalar(
            text("SELECT count(*) FROM pg_database WHERE datname LIKE :ours"),
            {"ours": f"nudge_bench_scale_{os.getpid()}_%"},
        )
    engine.dispose()
    assert left == 0
