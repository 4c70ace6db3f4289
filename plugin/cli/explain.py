"""`nudge explain` (one customer, every workflow: enrolled or why not, each decision with
its values) and `nudge backtest` (a workflow and a draft replayed over stored facts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from plugin.cli.loading import console, find_shop, load_services, parse_now

CHANGED_SINCE = (
    "re-checked on facts that changed since: some values below are today's, not those"
    " the step was decided on; the decision stands"
)


@click.command()
@click.argument("shop_domain")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON")
@click.option("--now", "now_text", default=None, help="ISO-8601 time to explain as of")
def explain(shop_domain: str, email: str, as_json: bool, now_text: str | None) -> None:
    """Every workflow for the customer at EMAIL: enrolled or why not, each step's decision
    with each condition's value, each message's state, orders after a message."""
    from plugin.pipeline.explain import CustomerUnknown, explain_customer

    services = load_services()
    shop = find_shop(services, shop_domain)
    with services.sessions() as session:
        try:
            result = explain_customer(session, shop, email, parse_now(now_text) or services.now())
        except CustomerUnknown as exc:
            raise click.ClickException(
                f"no customer, checkout or order of {shop.domain} has {exc}"
            ) from None
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
        return
    _print_explanation(result)


def _print_explanation(result: dict[str, Any]) -> None:
    customer = result["customer"]
    consent = {True: "yes", False: "no", None: "not known"}[
        customer["accepts_marketing"] if customer else None
    ]
    who = f"customer {customer['id']}" if customer else "a guest (no customer record)"
    console.print(f"[bold]{result['email']}[/bold] — {who}; marketing consent: {consent}")
    for item in result["workflows"]:
        state = "on" if item["enabled"] else "off"
        if not item["enrolled"]:
            refusal = item["latest_refusal"]
            when = (
                f" ({refusal['event']} of {refusal['event_at']}, refused {refusal['refused_at']})"
                if refusal
                else ""
            )
            console.print(
                f"\n[bold]{item['workflow']}[/bold] ({state}): not enrolled — "
                f"{item['why_not']}{when}"
            )
            continue
        console.print(
            f"\n[bold]{item['workflow']}[/bold] ({state}): enrolled {item['episodes_total']}×"
        )
        for episode in item["episodes"]:
            holdout = " [holdout: never messaged]" if episode["holdout"] else ""
            ended = f", {episode['exit_reason']}" if episode["exit_reason"] else ""
            console.print(
                f"  {episode['subject']}: {episode['state']}{ended}{holdout}, "
                f"enrolled {episode['enrolled_at']}"
                + (f", converted {episode['converted_at']}" if episode["converted_at"] else "")
            )
            for step in episode["steps"]:
                console.print(
                    f"    step {step['step']}: {step['state']}"
                    + (f" — {step['reason']}" if step["reason"] else "")
                )
                if (step["conditions"] or {}).get("changed_since"):
                    console.print(f"      ({CHANGED_SINCE})", markup=False)
                for check in (step["conditions"] or {}).get("checks", []):
                    mark = "✓" if check["passed"] else "✗"
                    console.print(f"      {mark} {check['words']}", markup=False)
            for message in episode["messages"]:
                seen = ", ".join(f"{e['state']} {e['at']}" for e in message["events"])
                console.print(
                    f"    email {message['id']} ({message['step']}): {message['state']}"
                    + (f"; {seen}" if seen else ""),
                    markup=False,
                )
    after = result["orders_after_messages"]
    console.print(
        f"\norders: {len(result['orders'])}; placed after a message (in time only, not an "
        f"attribution): {len(after)}"
    )
    for order in after:
        console.print(
            f"  {order['name'] or order['id']} {order['value']} {order['currency'] or ''} "
            f"{order['created_at']} after email {order['after_message']} ({order['workflow']})",
            markup=False,
        )


@click.command()
@click.argument("shop_domain")
@click.argument("workflow")
@click.option(
    "--definition",
    "definition_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A draft definition (JSON, as `nudge workflows show` prints it) to replay beside "
    "the live one",
)
@click.option("--days", default=60, show_default=True, type=click.IntRange(1, 3650))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON")
@click.option("--now", "now_text", default=None, help="ISO-8601 end of the replayed window")
def backtest(
    shop_domain: str,
    workflow: str,
    definition_file: Path | None,
    days: int,
    as_json: bool,
    now_text: str | None,
) -> None:
    """Replay the last DAYS of stored facts through WORKFLOW's live definition (and a
    draft): enrolled, would send, skipped by reason, converted. Nothing is sent or written."""
    from plugin.pipeline.backtest import BacktestUnsupported
    from plugin.pipeline.backtest import backtest as run_backtest
    from plugin.shop_settings.workflows import shop_workflows
    from rules.definitions import WorkflowInvalid, parse_workflow

    services = load_services()
    shop = find_shop(services, shop_domain)
    draft = None
    if definition_file is not None:
        try:
            data = json.loads(definition_file.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"{definition_file}: not JSON ({exc})") from None
        if isinstance(data, dict):  # what `nudge workflows show` prints beside the definition
            data.pop("enabled", None), data.pop("version", None)
        if not isinstance(data, dict) or data.get("name") != workflow:
            raise click.ClickException(f"{definition_file}: not a definition of {workflow!r}")
        try:
            draft = parse_workflow(data)
        except WorkflowInvalid as exc:
            raise click.ClickException(
                f"{definition_file}: invalid: " + "; ".join(exc.errors)
            ) from None
    with services.sessions() as session:
        live = shop_workflows(session, shop.id).get(workflow)
        if live is None:
            raise click.ClickException(f"no workflow {workflow!r}; see `nudge workflows list`")
        try:
            result = run_backtest(
                session, shop.id, live.workflow, draft, days, parse_now(now_text) or services.now()
            )
        except BacktestUnsupported as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    table = Table("", "live", *(["draft"] if result["draft"] else []))
    outcomes = [result["live"], *([result["draft"]] if result["draft"] else [])]
    for key in ("enrolled", "would_send", "converted", "not_due_yet"):
        table.add_row(key.replace("_", " "), *(str(o[key]) for o in outcomes))
    reasons = sorted({r for o in outcomes for r in o["skipped"]})
    for reason in reasons:
        table.add_row(f"skipped: {reason}", *(str(o["skipped"].get(reason, 0)) for o in outcomes))
    for reason in sorted({r for o in outcomes for r in o["held"]}):
        table.add_row(f"held: {reason}", *(str(o["held"].get(reason, 0)) for o in outcomes))
    console.print(
        f"{result['workflow']}: {result['subjects']} subjects in the last {days} days "
        f"({result['seconds']:.1f} s; nothing sent or written)"
    )
    console.print(table)
    if result["changed"]:
        console.print(f"outcome changed for {len(result['changed'])} (first 100):")
        for row in result["changed"][:10]:
            console.print(
                f"  {row['email'] or row['customer']}: {row['live']}  →  {row['draft']}",
                markup=False,
            )
