"""`nudge report SHOP`: per workflow, what its messages did and what they brought."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from plugin.cli.loading import console, find_shop, load_services, parse_now
from plugin.results.report import DEFAULT_DAYS, shop_report


@click.command()
@click.argument("shop_domain", metavar="SHOP")
@click.option("--days", default=DEFAULT_DAYS, show_default=True, type=click.IntRange(1, 3650))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON")
@click.option(
    "--now", "now_text", default=None, help="ISO-8601 end of the period (default: the real clock)"
)
def report(shop_domain: str, days: int, as_json: bool, now_text: str | None) -> None:
    """Per workflow over the last DAYS days: sent, delivered, opened, clicked, converted,
    revenue credited by last touch, and the lift against the holdout group."""
    services = load_services()
    shop = find_shop(services, shop_domain)
    now = parse_now(now_text) or services.now()
    with services.sessions() as session:
        result = shop_report(session, shop, now, days)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    print_report(result, console)


def print_report(result: dict[str, Any], out: Console) -> None:
    """The report as tables: what the emails did, what they brought, then each holdout
    comparison (narrow tables: each fits a terminal 80 columns wide)."""
    windows = result["attribution"]
    workflows = result["workflows"]
    emails = Table(title=f"Emails, last {result['days']} days to {result['until'][:16]} UTC")
    counts = ("sent", "kept", "delivered", "opened", "clicked")
    _columns(emails, ("workflow", *counts))
    for name, row in workflows.items():
        emails.add_row(name, *(str(row[c]) for c in counts))
    out.print(emails)
    out.print("Kept: written, never sent (SendGrid not configured).")
    orders = Table(title="Orders credited to the emails (last touch)")
    _columns(
        orders, ("workflow", "recipients", "who ordered", "orders", "revenue", "per recipient")
    )
    for name, row in workflows.items():
        rate, per = row["conversion_rate"], row["revenue_per_recipient"]
        orders.add_row(
            name,
            str(row["recipients"]),
            f"{row['converted']}" + ("" if rate is None else f" ({rate:.1%})"),
            str(row["orders"]),
            f"{row['revenue']:,.2f}",
            "—" if per is None else f"{per:,.2f}",
        )
    out.print(orders)
    out.print(
        f"An order is credited to the last email clicked within "
        f"{_days(windows['click_window_days'])} or delivered within "
        f"{_days(windows['delivery_window_days'])} before it."
    )
    lifts = Table(title="Lift against the holdout group (95 % intervals)")
    _columns(lifts, ("workflow", "treated", "holdout", "conversion lift", "revenue per person"))
    for name, row in workflows.items():
        lift = row["lift"]
        if lift is None:
            continue
        lifts.add_row(
            name,
            f"{lift['treated_converted']}/{lift['treated']} ({lift['treated_rate']:.1%})",
            f"{lift['holdout_converted']}/{lift['holdout']} ({lift['holdout_rate']:.1%})",
            conversion_words(lift),
            revenue_words(lift["revenue_per_recipient"]),
        )
    if lifts.row_count:
        out.print(lifts)
    else:
        out.print("No workflow has a holdout group in this period.")


def _days(count: float) -> str:
    return f"{count:g} day" if count == 1 else f"{count:g} days"


def _columns(table: Table, names: tuple[str, ...]) -> None:
    """The workflow's name on the left, whole; the numbers on the right."""
    for name in names:
        table.add_column(name, justify="left" if name == "workflow" else "right")
    table.columns[0].no_wrap = True


def conversion_words(lift: dict[str, Any]) -> str:
    """'+12.3 points (+4.1 to +20.0)', or why there is no interval yet."""
    points = f"{lift['difference'] * 100:+.1f} points"
    if lift["ci95"] is None:
        return f"{points}, not enough data yet"
    low, high = lift["ci95"]
    return f"{points} ({low * 100:+.1f} to {high * 100:+.1f})"


def revenue_words(revenue: dict[str, Any]) -> str:
    text = f"{revenue['difference']:+,.2f}"
    if revenue["ci95"] is None:
        return text
    low, high = revenue["ci95"]
    return f"{text} ({low:+,.2f} to {high:+,.2f})"
