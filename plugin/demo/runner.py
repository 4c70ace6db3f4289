"""`nudge demo`: replay a generated store history through the real app on a simulated clock."""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select

from connectors import shopify
from plugin import create_app
from plugin.cli.report import print_report as print_results
from plugin.demo.history import PAGE_VIEW, SimulatedDelivery, generate_history
from plugin.demo.mailbox import Mailbox
from plugin.demo.offer_census import offer_counts
from plugin.demo.product_payloads import catalog_deliveries
from plugin.identity import visitor_token
from plugin.pipeline.product_picks import CARD_SOURCES
from plugin.pipeline.worker import run_once
from plugin.results.report import shop_report
from plugin.services import Services
from plugin.shop_settings.workflows import save_workflow, set_enabled, shop_workflows
from plugin.storage.models import Episode, OutboxMessage, Shop, Step
from rules.evaluation import reason_group

DEMO_SHOP = "nudge-demo.myshopify.com"
DEMO_SECRET = "demo-webhook-secret"  # signs the replayed webhooks; local only
DEMO_SECRET_KEY = "demo-secret-key-0123456789abcdef"  # the app's own key: signs the visitor tokens
DEMO_STAFF = "sales@northwind-coffee.example"  # where the sales-rep alerts go
# what its marketing email shows (without one, marketing email is held)
DEMO_ADDRESS = "120 Roastery Lane, Portland, OR 97209, United States"
DEMO_START = datetime(2026, 9, 1, tzinfo=UTC)
TICK = timedelta(hours=1)
SWEEP_EVERY = 24  # ticks: the sweeps look for day-sized gaps
AFTERMATH = timedelta(days=10)  # keep the clock running after the history ends
PREVIEWS_PER_TEMPLATE = 3
# the share of cart-abandonment shoppers the demo shop holds out, so its report shows a lift
CART_HOLDOUT_PERCENT = 25


class SimulatedClock:
    """A clock the demo moves by hand."""

    def __init__(self, start: datetime):
        self.current = start

    def __call__(self) -> datetime:
        return self.current


@dataclass
class WorkflowReport:
    """One row of the demo's report."""

    enrolled: int = 0
    holdout: int = 0
    emails: int = 0
    with_products: int = 0  # emails that showed products chosen for the customer
    actions: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    exited: int = 0
    converted: int = 0


def run_demo(
    out: Path,
    customers: int = 2000,
    days: int = 60,
    seed: int = 7,
    console: Console | None = None,
) -> dict[str, WorkflowReport]:
    """Run the whole demo into ``out`` and print the report; return it too."""
    console = console or Console()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    clock = SimulatedClock(DEMO_START)
    mailbox = Mailbox(seed, DEMO_SHOP)
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{(out / 'nudge.sqlite3').resolve()}",
            "SENDGRID_API_KEY": None,  # nothing leaves the machine
            "SENDGRID_EVENT_PUBLIC_KEY": mailbox.public_key,  # the mailbox's events are signed
            "SECRET_KEY": DEMO_SECRET_KEY,
            "EMBEDDED_WORKER": False,
        }
    )
    services = Services.of(app)
    services.clock = clock
    shop_id = _add_demo_shop(services)
    history = list(
        generate_history(
            seed=seed,
            customers=customers,
            days=days,
            start=DEMO_START,
            shop_domain=DEMO_SHOP,
            storefront=True,
            reminder_holdout_percent=CART_HOLDOUT_PERCENT,
        )
    )
    first = history[0].at if history else DEMO_START
    # the catalog first (the products the orders name, and those launched meanwhile): a
    # stable sort keeps it ahead of the history's deliveries of the same moment
    catalog = catalog_deliveries(DEMO_START, min(first, DEMO_START), days)
    deliveries = sorted([*catalog, *history], key=lambda delivery: delivery.at)
    end = DEMO_START + timedelta(days=days) + AFTERMATH
    total_ticks = int((end - DEMO_START) / TICK)
    client = app.test_client()
    replayed: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        replay = progress.add_task("deliveries replayed", total=len(deliveries))
        ticks = progress.add_task("simulated hours", total=total_ticks)
        tick = 0
        next_tick = DEMO_START
        for delivery in deliveries:
            while next_tick <= delivery.at:
                kept = _advance(services, clock, next_tick, tick)
                mailbox.deliver(client, services, next_tick, kept)
                tick += 1
                next_tick += TICK
                progress.advance(ticks)
            clock.current = max(clock.current, delivery.at)
            if delivery.topic == PAGE_VIEW:
                status, kind = _view(client, delivery, shop_id), "view"
            else:
                status, kind = _post(client, delivery), "webhook"
            replayed[kind] += 1
            rejected[kind] += status != 200
            progress.advance(replay)
        while next_tick <= end:
            kept = _advance(services, clock, next_tick, tick)
            mailbox.deliver(client, services, next_tick, kept)
            tick += 1
            next_tick += TICK
            progress.advance(ticks)
    report = collect_report(services)
    previews = write_previews(services, out / "previews")
    print_report(console, report, replayed, rejected, previews, out)
    with services.sessions() as session:
        shop = session.get_one(Shop, shop_id)
        results = shop_report(session, shop, clock.current, days=int((end - DEMO_START).days) + 1)
    # said before the numbers: "delivered" beside "sent 0" would otherwise read as mail sent
    console.print(
        "What the emails brought, as if they had been sent: the demo's stand-in for "
        f"recipients' mailboxes posted {mailbox.posted} signed delivery, open and click events "
        "for the kept emails to POST /webhooks/sendgrid, and its shoppers answer reminders "
        f"(the shop holds out {CART_HOLDOUT_PERCENT} % of cart-abandonment shoppers)."
    )
    print_results(results, console)
    console.print(
        f"The same report: NUDGE_DATABASE_URL=sqlite:///{(out / 'nudge.sqlite3').resolve()} "
        f"nudge report {DEMO_SHOP} --days {results['days']} "
        f"--now {clock.current.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )
    (out / "report.json").write_text(json.dumps(_report_json(report), indent=2))
    with services.sessions() as session:
        offers = offer_counts(session)
    (out / "offers.json").write_text(json.dumps(offers, indent=2))
    console.print(
        f"Discount codes: {offers['customers_with_codes']} customers got one; "
        f"{offers['more_than_one']} more than one, {offers['two_within_14_days']} two within "
        f"14 days (the shop's offer policy: plugin.pipeline.offers). Counts: "
        f"{(out / 'offers.json').resolve()}"
    )
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return report


def _add_demo_shop(services: Services) -> int:
    """The demo shop, with every workflow on (also those that ship switched off); its id."""
    with services.sessions() as session, session.begin():
        shop = Shop(
            domain=DEMO_SHOP,
            platform="shopify",
            access_token="demo-token",
            webhook_secret=DEMO_SECRET,
            settings={
                "name": "Northwind Coffee & Tea",
                "timezone": "America/New_York",
                "staff_email": DEMO_STAFF,
                "postal_address": DEMO_ADDRESS,
            },
        )
        session.add(shop)
        session.flush()
        for name, shop_workflow in shop_workflows(session, shop.id).items():
            if not shop_workflow.enabled:
                set_enabled(session, shop.id, name, True)
        cart = shop_workflows(session, shop.id)["cart_abandonment"].definition
        save_workflow(session, shop.id, {**cart, "holdout_percent": CART_HOLDOUT_PERCENT})
        return shop.id


def _advance(services: Services, clock: SimulatedClock, at: datetime, tick: int) -> bool:
    """Run the pass due at ``at``; whether it kept any message (SendGrid is not set)."""
    clock.current = at
    return run_once(services, at, sweeps=tick % SWEEP_EVERY == 0).delivery.kept > 0


def _post(client: Any, delivery: SimulatedDelivery) -> int:
    body = json.dumps(delivery.payload).encode()
    headers = {
        "X-Shopify-Topic": delivery.topic,
        "X-Shopify-Shop-Domain": DEMO_SHOP,
        "X-Shopify-Webhook-Id": delivery.webhook_id,
        "X-Shopify-Hmac-Sha256": shopify.sign(body, DEMO_SECRET),
        "Content-Type": "application/json",
    }
    response = client.post("/webhooks/shopify", data=body, headers=headers)
    return int(response.status_code)


def _view(client: Any, delivery: SimulatedDelivery, shop_id: int) -> int:
    """Post a storefront page view as the script would, for a visitor logged in to the
    storefront: with the token Nudge signs for them, from an address of their own.

    The endpoint's rate limits count real seconds, not simulated ones; a few shoppers'
    views, each shopper on an address of their own, stay far below them."""
    body = dict(delivery.payload)
    if delivery.signed_in_as is not None:
        body["t"] = visitor_token(DEMO_SECRET_KEY, shop_id, str(delivery.signed_in_as))
    response = client.post(
        f"/storefront/{DEMO_SHOP}/events",
        data=json.dumps(body),
        content_type="text/plain",
        environ_base={"REMOTE_ADDR": _address(body["vid"])},
    )
    return int(response.status_code)


def _address(vid: str) -> str:
    """A visitor's IP address (in the documentation range 198.51.100.0/24)."""
    return f"198.51.100.{int(vid[-2:], 16) % 254 + 1}"


def collect_report(services: Services) -> dict[str, WorkflowReport]:
    """Count, per workflow: enrolled, emails, skips by reason, exits and conversions."""
    report: dict[str, WorkflowReport] = defaultdict(WorkflowReport)
    with services.sessions() as session:
        for workflow, state, holdout, converted, count in session.execute(
            select(
                Episode.workflow,
                Episode.state,
                Episode.holdout,
                Episode.converted_at.is_not(None),
                func.count(),
            ).group_by(
                Episode.workflow, Episode.state, Episode.holdout, Episode.converted_at.is_not(None)
            )
        ):
            row = report[workflow]
            row.enrolled += count
            row.holdout += count if holdout else 0
            row.exited += count if state == "exited" else 0
            row.converted += count if converted else 0
        for workflow, kind, count in session.execute(
            select(OutboxMessage.workflow, OutboxMessage.kind, func.count())
            .where(OutboxMessage.state.in_(("sent", "kept", "recorded")))
            .group_by(OutboxMessage.workflow, OutboxMessage.kind)
        ):
            if kind == "email":
                report[workflow].emails += count
            else:
                report[workflow].actions += count
        for workflow, params in session.execute(
            select(OutboxMessage.workflow, OutboxMessage.params).where(
                OutboxMessage.kind == "email",
                OutboxMessage.state.in_(("sent", "kept")),
            )
        ):
            context = (params or {}).get("context") or {}
            if any(context.get(source) for source in CARD_SOURCES):
                report[workflow].with_products += 1
        for workflow, reason, count in session.execute(
            select(Episode.workflow, Step.reason, func.count())
            .join(Episode, Episode.id == Step.episode_id)
            .where(Step.state == "skipped")
            .group_by(Episode.workflow, Step.reason)
        ):
            report[workflow].skipped[reason_group(reason or "unknown")] += count
    return dict(sorted(report.items()))


def write_previews(services: Services, folder: Path) -> int:
    """Write a few rendered emails (staff alerts too) per workflow and template as HTML."""
    folder.mkdir(parents=True, exist_ok=True)
    written: Counter[tuple[str, str]] = Counter()
    with services.sessions() as session:
        messages = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind.in_(("email", "notify_staff")))
            .order_by(OutboxMessage.id)
        )
        for message in messages:
            key = (message.workflow, message.template or message.kind)
            if written[key] >= PREVIEWS_PER_TEMPLATE or not message.preview_html:
                continue
            written[key] += 1
            name = f"{message.workflow}-{key[1]}-{message.id}.html"
            (folder / name).write_text(message.preview_html)
    return sum(written.values())


def print_report(
    console: Console,
    report: dict[str, WorkflowReport],
    replayed: Counter[str],
    rejected: Counter[str],
    previews: int,
    out: Path,
) -> None:
    table = Table(title="Nudge demo: what each workflow did")
    for column in (
        "workflow",
        "enrolled",
        "emails",
        "with products",
        "other actions",
        "skipped",
        "exited",
        "converted",
    ):
        table.add_column(
            column,
            justify="left" if column == "workflow" else "right",
            no_wrap=column == "workflow",
        )
    for name, row in report.items():
        table.add_row(
            name,
            str(row.enrolled),
            str(row.emails),
            str(row.with_products),
            str(row.actions),
            str(sum(row.skipped.values())),
            str(row.exited),
            str(row.converted),
        )
    console.print(table)
    console.print(
        "with products: emails that showed products picked for the customer from the "
        "shop's own orders (bought together, best sellers, new arrivals, due for re-order)"
    )
    reasons = Table(title="Skipped steps, by reason")
    reasons.add_column("workflow")
    reasons.add_column("reason")
    reasons.add_column("steps", justify="right")
    for name, row in report.items():
        for reason, count in row.skipped.most_common(6):
            reasons.add_row(name, reason, str(count))
    console.print(reasons)
    console.print(
        f"{replayed['webhook']} webhooks replayed through POST /webhooks/shopify "
        f"({rejected['webhook']} rejected).\n"
        f"{replayed['view']} page views posted to POST /storefront/{DEMO_SHOP}/events "
        f"({rejected['view']} rejected).\n"
        f"No email left this machine (no SendGrid key).\n"
        f"{previews} rendered email previews in {(out / 'previews').resolve()}\n"
        f"Database: {(out / 'nudge.sqlite3').resolve()}  Report: {(out / 'report.json').resolve()}"
    )


def _report_json(report: dict[str, WorkflowReport]) -> dict[str, Any]:
    return {
        name: {
            "enrolled": row.enrolled,
            "holdout": row.holdout,
            "emails": row.emails,
            "emails_with_products": row.with_products,
            "other_actions": row.actions,
            "skipped": dict(row.skipped),
            "exited": row.exited,
            "converted": row.converted,
        }
        for name, row in report.items()
    }
