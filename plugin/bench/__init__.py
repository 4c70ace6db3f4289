"""`nudge bench`: the performance benchmark. Every figure is a ratio against a baseline
measured in the same run, with the absolute numbers and the machine beside it."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from plugin.bench.measure import machine

PARTS = ("rules", "intake", "replay", "scheduler", "sweeps", "recommendations", "backtest")
# run only when asked for (``--part scale``): it needs a PostgreSQL server
ON_REQUEST = ("scale",)
TARGETS = {
    # a step decided as the worker decides it: at least this many times faster than
    # business-rules' run_all with the same actions
    "rules_vs_run_all": 6.0,
    "rules_conditions_vs_run_all": 10.0,  # the conditions alone, against run_all's
    "rules_vs_handwritten": 4.0,  # the conditions alone: at most this many times slower
    "rules_catalog_vs_handwritten": 1.2,  # the same, on the product variables' conditions
    "intake": 0.6,  # at least this share of a bare Flask route's requests per second
    "replay": 0.25,  # at least this share of the parse-and-bulk-insert baseline's events/s
    "replay_rss_mb": 500.0,
    "replay_minutes_per_million": 10.0,
    "scheduler": 1.5,  # at most: many pending vs few pending, for the same due steps
    "recommendations_vs_best_sellers": 1.5,  # at least: hit rate@4 on the next order
    "recommendations_build_seconds": 60.0,  # at most, for 1M orders of 10k products
    "recommendations_p99_ms": 1.0,  # at most: one also-bought answer, CPU time
    "backtest_seconds": 30.0,  # at most: 60 days of a 100,000-customer store, live and a draft
    "scale_two_workers": 1.3,  # at least: two workers' throughput over one's, many shops
}


def _part(
    name: str, size: str, folder: Path, console: Console, customers: int | None = None
) -> dict[str, Any]:
    console.print(f"[dim]running {name} ({size})…[/dim]")
    started = time.perf_counter()
    extra = [str(customers)] if customers else []
    done = subprocess.run(
        [sys.executable, "-m", "plugin.bench.parts", name, size, str(folder), *extra],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark part {name} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.perf_counter() - started
    return result


def run_bench(
    quick: bool = False,
    json_path: Path | None = None,
    parts: tuple[str, ...] = PARTS,
    console: Console | None = None,
    replay_customers: int | None = None,
) -> dict[str, Any]:
    console = console or Console()
    size = "quick" if quick else "full"
    report: dict[str, Any] = {"size": size, "machine": machine(), "targets": TARGETS}
    with tempfile.TemporaryDirectory(prefix="nudge-bench-") as tmp:
        folder = Path(tmp)
        for name in parts:
            if name == "replay":
                store = _part("store", size, folder, console, replay_customers)
                baseline = _part("replay-baseline", size, folder, console)
                pipeline = _part("replay-pipeline", size, folder, console)
                report["replay"] = replay_summary(store, baseline, pipeline)
            else:
                report[name] = _part(name, size, folder, console)
    report["summary"] = summarize(report)
    print_report(console, report)
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2, default=str))
    return report


def replay_summary(
    store: dict[str, Any], baseline: dict[str, Any], pipeline: dict[str, Any]
) -> dict[str, Any]:
    deliveries = store["deliveries"]
    base_rate = deliveries / baseline["seconds"]
    rate = deliveries / pipeline["seconds"]
    return {
        "store": store,
        "baseline": {**baseline, "deliveries_per_second": base_rate},
        "pipeline": {**pipeline, "deliveries_per_second": rate},
        "ratio": rate / base_rate,
        "minutes_per_million": 1_000_000 / rate / 60,
        # The ratio had the worker been busy all the run: its CPU time alone against the
        # baseline's time. Overlapping it better with the intake could reach this at most;
        # below the target, the work itself must shrink or be spread over processes.
        "worker_cpu_bound_ratio": baseline["seconds"] / pipeline["worker_cpu_seconds"],
        # the worker's database work, per delivery: a change that cuts statements or
        # commits shows here even when the machine's noise hides it in the times
        "statements_per_delivery": pipeline["worker_statements"] / deliveries,
        "commits_per_delivery": pipeline["worker_commits"] / deliveries,
    }


def summarize(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per goal: what was measured, the ratio, the target and whether it was met."""
    rows: list[dict[str, Any]] = []

    def row(
        goal: str, nudge: str, baseline: str, ratio: float, target: str, met: bool | None
    ) -> None:
        rows.append(
            {
                "goal": goal,
                "nudge": nudge,
                "baseline": baseline,
                "ratio": round(ratio, 3),
                "target": target,
                "met": met,
            }
        )

    if "rules" in report:
        r = report["rules"]
        per_s = r["decisions_per_second"]
        row(
            "rule evaluation as the worker runs it (conditions, actions, a skip's reason) "
            "vs business-rules run_all with the same actions",
            f"{per_s['worker']:,.0f} decisions/s",
            f"{per_s['run_all_acting']:,.0f} decisions/s",
            r["speedup_vs_run_all"],
            f"≥ {TARGETS['rules_vs_run_all']:g}× faster",
            r["speedup_vs_run_all"] >= TARGETS["rules_vs_run_all"],
        )
        row(
            "the conditions alone (no explanation) vs run_all",
            f"{per_s['conditions']:,.0f} decisions/s",
            f"{per_s['run_all']:,.0f} decisions/s",
            r["conditions_speedup_vs_run_all"],
            f"≥ {TARGETS['rules_conditions_vs_run_all']:g}× faster",
            r["conditions_speedup_vs_run_all"] >= TARGETS["rules_conditions_vs_run_all"],
        )
        row(
            "the conditions alone vs hand-written Python",
            f"{per_s['conditions']:,.0f} decisions/s",
            f"{per_s['handwritten']:,.0f} decisions/s",
            r["slowdown_vs_handwritten"],
            f"≤ {TARGETS['rules_vs_handwritten']:g}× slower",
            r["slowdown_vs_handwritten"] <= TARGETS["rules_vs_handwritten"],
        )
        row(
            "the conditions on product variables (read from the catalog) alone vs hand-written Python",
            f"{per_s['catalog_conditions']:,.0f} decisions/s",
            f"{per_s['catalog_handwritten']:,.0f} decisions/s",
            r["catalog_slowdown_vs_handwritten"],
            f"≤ {TARGETS['rules_catalog_vs_handwritten']:g}× slower",
            r["catalog_slowdown_vs_handwritten"] <= TARGETS["rules_catalog_vs_handwritten"],
        )
    if "intake" in report:
        i = report["intake"]
        row(
            "webhook intake vs bare Flask route (gunicorn)",
            f"{i['nudge']['requests_per_second']:,.0f} req/s, p50 {i['nudge']['p50_ms']:.1f} ms, p99 {i['nudge']['p99_ms']:.1f} ms",
            f"{i['bare']['requests_per_second']:,.0f} req/s, p50 {i['bare']['p50_ms']:.1f} ms, p99 {i['bare']['p99_ms']:.1f} ms",
            i["ratio"],
            f"≥ {TARGETS['intake']:g}",
            i["ratio"] >= TARGETS["intake"],
        )
    if "replay" in report:
        p = report["replay"]
        row(
            f"end-to-end replay ({p['store']['deliveries']:,} deliveries, {p['store']['customers']:,} customers)",
            f"{p['pipeline']['deliveries_per_second']:,.0f} deliveries/s, peak {p['pipeline']['peak_rss_mb']:.0f} MB, "
            f"CPU {p['pipeline']['worker_cpu_seconds']:.0f} s worker + {p['pipeline']['intake_cpu_seconds']:.0f} s intake "
            f"in {p['pipeline']['seconds']:.0f} s (the worker's CPU alone bounds the ratio "
            f"at {p['worker_cpu_bound_ratio']:.2f}); per delivery the worker ran "
            f"{p['statements_per_delivery']:.2f} SQL statements and "
            f"{p['commits_per_delivery']:.3f} commits",
            f"{p['baseline']['deliveries_per_second']:,.0f} deliveries/s",
            p["ratio"],
            f"≥ {TARGETS['replay']:g}; < {TARGETS['replay_rss_mb']:g} MB; 1M in < {TARGETS['replay_minutes_per_million']:g} min "
            f"(at this rate: {p['minutes_per_million']:.0f} min)",
            p["ratio"] >= TARGETS["replay"]
            and p["pipeline"]["peak_rss_mb"] < TARGETS["replay_rss_mb"]
            and p["minutes_per_million"] < TARGETS["replay_minutes_per_million"],
        )
    if "scheduler" in report:
        s = report["scheduler"]
        row(
            f"{s['due']:,} due steps with {s['pending_many']:,} vs {s['pending_few']:,} pending",
            f"{s['many']['seconds']:.1f} s",
            f"{s['few']['seconds']:.1f} s",
            s["ratio"],
            f"≤ {TARGETS['scheduler']:g}",
            s["ratio"] <= TARGETS["scheduler"],
        )
    if "sweeps" in report:
        w = report["sweeps"]
        for name in ("reengagement", "purchase_cycle"):
            indexed = all("SCAN customers" not in line for line in w[name]["plan"])
            row(
                f"{name} sweep over {w['customers']:,} customers",
                f"{w[name]['customers_per_second']:,.0f} customers/s ({w[name]['candidates']:,} found)",
                "—",
                1.0,
                "indexed plan (no full scan)",
                indexed,
            )
    if "scale" in report:
        sc = report["scale"]
        row(
            f"deciding on PostgreSQL, {sc['shops']} shops: two workers vs one "
            f"(same decisions: {'yes' if sc['same_decisions'] else 'NO'})",
            f"{sc['two_workers_per_s']:,.1f} deliveries/s",
            f"{sc['one_worker_per_s']:,.1f} deliveries/s",
            sc["ratio"],
            f"≥ {TARGETS['scale_two_workers']:g}×",
            sc["ratio"] >= TARGETS["scale_two_workers"] and sc["same_decisions"],
        )
    if "recommendations" in report:
        q, b, served = (report["recommendations"][k] for k in ("quality", "build", "serving"))
        model, best, rand = q["model"], q["best_sellers"], q["random"]
        row(
            f"recommendations: hit rate@4 on the next order ({q['cases']:,} demo customers)",
            f"hit rate {model['hit_rate']:.2f}, NDCG@4 {model['ndcg']:.2f}",
            f"best sellers {best['hit_rate']:.2f}, NDCG@4 {best['ndcg']:.2f}; random "
            f"{rand['hit_rate']:.2f}, {rand['ndcg']:.2f} (model/random {q['hit_rate_vs_random']:.1f}×)",
            q["hit_rate_vs_best_sellers"],
            f"≥ {TARGETS['recommendations_vs_best_sellers']:g}× best sellers",
            q["hit_rate_vs_best_sellers"] >= TARGETS["recommendations_vs_best_sellers"],
        )
        row(
            f"recommendation model built from {b['orders']:,} orders of {b['products']:,} products",
            f"{b['seconds']:.1f} s ({b['pairs']:,} pairs; rescore {b['rescore_seconds']:.1f} s; "
            f"snapshot {b['snapshot_mb']:.0f} MB, loaded in {b['from_json_seconds']:.1f} s)",
            f"counting sales: {b['baseline_seconds']:.2f} s",
            b["ratio"],
            f"< {TARGETS['recommendations_build_seconds']:g} s",
            b["seconds"] < TARGETS["recommendations_build_seconds"],
        )
        also, fallback = served["also_bought"], served["best_sellers"]
        row(
            f"a recommendation served ({served['queries']:,} also-bought queries of 4)",
            f"p50 {also['cpu_p50_ms']:.3f} ms, p99 {also['cpu_p99_ms']:.3f} ms CPU "
            f"(wall p99 {also['p99_ms']:.2f} ms on this machine)",
            f"best sellers p99 {fallback['cpu_p99_ms']:.3f} ms CPU",
            served["cpu_p99_ratio"],
            f"p99 < {TARGETS['recommendations_p99_ms']:g} ms CPU",
            also["cpu_p99_ms"] < TARGETS["recommendations_p99_ms"],
        )
    if "backtest" in report:
        b = report["backtest"]
        row(
            f"backtest: {b['days']} days of a {b['customers']:,}-customer store "
            f"({b['subjects']:,} checkouts), the live workflow and a stricter draft",
            f"{b['seconds']:.1f} s ({b['cpu_seconds']:.1f} s CPU), "
            f"{b['decisions_per_second']:,.0f} decisions/s "
            f"({b['cpu_decisions_per_second']:,.0f}/s of CPU)",
            f"rule evaluation alone {b['evaluation_decisions_per_second']:,.0f} decisions/s",
            b["ratio"],
            f"< {TARGETS['backtest_seconds']:g} s at 100,000 customers",
            b["seconds"] < TARGETS["backtest_seconds"] if b["customers"] >= 100_000 else None,
        )
    return rows


def print_report(console: Console, report: dict[str, Any]) -> None:
    m = report["machine"]
    table = Table(
        title=f"nudge bench ({report['size']}) — {m['cores']} cores, Python {m['python']}"
    )
    for column in ("goal", "Nudge", "baseline (same run)", "ratio", "target", "met"):
        table.add_column(column, justify="right" if column == "ratio" else "left")
    for r in report["summary"]:
        table.add_row(
            r["goal"],
            r["nudge"],
            r["baseline"],
            f"{r['ratio']:.2f}",
            r["target"],
            "—" if r["met"] is None else "yes" if r["met"] else "[red]no[/red]",
        )
    console.print(table)
    if "sweeps" in report:
        for name in ("reengagement", "purchase_cycle"):
            console.print(
                f"[bold]{name} sweep plan[/bold]: " + " | ".join(report["sweeps"][name]["plan"])
            )
