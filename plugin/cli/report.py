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
    """The report as tables: messages and revenue, then each holdout comparison."""
    windows = result["attribution"]
    table = Table(
        title=f"Last {result['days']} days, to {result['until'][:16]} UTC",
        caption=(
            f"An order is credited to the last message clicked within "
            f"{windows['click_window_days']:g} days or delivered within "
            f"{windows['delivery_window_days']:g} days before it. "
            "Kept: never left this machine (SendGrid not configured)."
        ),
    )
    columns = ("workflow", "sent", "kept", "delivered", "opened", "clicked")
    for column in (*columns, "converted", "revenue", "per recipient"):
        table.add_column(column, justify="left" if column == "workflow" else "right")
    table.columns[0].no_wrap = True
    for name, row in result["workflows"].items():
        per = row["revenue_per_recipient"]
        table.add_row(
            name,
            *(str(row[c]) for c in columns[1:]),
            f"{row['converted']} of {row['recipients']}",
            f"{row['revenue']:,.2f}",
            "—" if per is None else f"{per:,.2f}",
        )
    out.print(table)
    lifts = Table(title="Lift against the holdout group (95 % intervals)")
    for column in ("workflow", "treated", "holdout", "conversion lift", "revenue per person"):
        lifts.add_column(column, justify="left" if column == "workflow" else "right")
    lifts.columns[0].no_wrap = True
    for name, row in result["workflows"].items():
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
