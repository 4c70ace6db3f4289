"""`nudge demo` and `nudge bench`: a store of their own, replayed and measured."""

from __future__ import annotations

from pathlib import Path

import click

from plugin.bench import ON_REQUEST, PARTS
from plugin.cli.loading import console


@click.command()
@click.option("--customers", default=2000, show_default=True, type=int)
@click.option("--days", default=60, show_default=True, type=int)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--out", default="nudge-demo", show_default=True, type=click.Path(path_type=Path))
def demo(customers: int, days: int, seed: int, out: Path) -> None:
    """Replay a realistic store history through the real pipeline and report per workflow."""
    from plugin.demo.runner import run_demo

    run_demo(out, customers=customers, days=days, seed=seed, console=console)


@click.command()
@click.option("--quick", is_flag=True, help="Smaller sizes that finish in about a minute.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write results here.")
@click.option(
    "--part",
    "parts",
    multiple=True,
    type=click.Choice(PARTS + ON_REQUEST),
    help="Run only these parts (repeatable); all but scale by default (scale: two workers "
    "against one on PostgreSQL, the server NUDGE_BENCH_DATABASE_URL names or the local one).",
)
@click.option(
    "--replay-customers",
    type=int,
    help="Size the end-to-end replay's store (default 100,000 customers; 300 with --quick).",
)
def bench(
    quick: bool, json_path: Path | None, parts: tuple[str, ...], replay_customers: int | None
) -> None:
    """Measure rule evaluation, intake, replay, scheduling and sweeps against baselines."""
    from plugin.bench import PARTS, run_bench

    run_bench(
        quick=quick,
        json_path=json_path,
        parts=parts or PARTS,
        console=console,
        replay_customers=replay_customers,
    )
