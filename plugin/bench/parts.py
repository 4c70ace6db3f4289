"""Each benchmark part as one process run: `python -m plugin.bench.parts PART SIZE FOLDER`.

Running every part in a fresh process keeps the parts from warming or bloating each other
and makes each part's peak memory its own. The part prints its result as one JSON line.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from plugin.bench.measure import peak_rss_mb


@dataclass(frozen=True)
class Sizes:
    factsets: int
    intake_seconds: int
    replay_customers: int
    replay_days: int
    due_steps: int
    pending_steps: int
    sweep_customers: int
    recommendation_customers: int  # the demo store whose orders judge the recommendations
    recommendation_days: int
    recommendation_orders: int  # the synthetic shop the model is built and served from
    recommendation_products: int
    recommendation_queries: int
    scale_shops: int  # the many-shop replay on PostgreSQL, with one worker and then two
    scale_customers: int  # per shop
    scale_days: int
    backtest_customers: int = 100_000  # the store a backtest replays 60 days of
    backtest_days: int = 60


FULL = Sizes(
    100_000,
    10,
    100_000,
    60,
    10_000,
    1_000_000,
    1_000_000,
    8_000,
    180,
    1_000_000,
    10_000,
    100_000,
    20,
    100,
    14,
)
QUICK = Sizes(
    20_000,
    5,
    300,
    30,
    1_000,
    100_000,
    100_000,
    1_500,
    120,
    100_000,
    2_000,
    10_000,
    20,
    20,
    7,
    10_000,
)
SIZES = {"full": FULL, "quick": QUICK}


def run_part(part: str, sizes: Sizes, folder: Path) -> dict[str, Any]:
    if part == "rules":
        from plugin.bench import rule_eval

        return rule_eval.run(sizes.factsets).as_json()
    if part == "intake":
        from plugin.bench import intake

        return intake.run(sizes.intake_seconds)
    if part == "store":
        from plugin.bench import replay

        return replay.write_store(
            folder / "store", sizes.replay_customers, sizes.replay_days, seed=7
        )
    if part == "replay-baseline":
        from plugin.bench import replay

        return replay.baseline(folder / "store", folder)
    if part == "replay-pipeline":
        from plugin.bench import replay

        return replay.pipeline(folder / "store", folder)
    if part == "scheduler":
        from plugin.bench import scheduler

        return scheduler.run(folder / "scheduler", sizes.due_steps, sizes.pending_steps)
    if part == "sweeps":
        from plugin.bench import sweeps

        return sweeps.run(folder / "sweeps", sizes.sweep_customers)
    if part == "recommendations":
        from plugin.bench import recommendations

        return recommendations.run(
            sizes.recommendation_customers,
            sizes.recommendation_days,
            sizes.recommendation_orders,
            sizes.recommendation_products,
            sizes.recommendation_queries,
        )
    if part == "backtest":
        from plugin.bench import backtest

        return backtest.run(folder / "backtest", sizes.backtest_customers, sizes.backtest_days)
    if part == "scale":
        from plugin.bench import scale

        return scale.run(sizes.scale_shops, sizes.scale_customers, sizes.scale_days)
    raise SystemExit(f"unknown part {part!r}")


def main() -> None:
    part, size, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    sizes = SIZES[size]
    if len(sys.argv) > 4:  # the replay store's size, when asked for another
        sizes = replace(sizes, replay_customers=int(sys.argv[4]))
    result = run_part(part, sizes, folder)
    result.setdefault("peak_rss_mb", peak_rss_mb())
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
