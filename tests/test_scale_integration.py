"""Nudge at scale, as real processes: the Procfile's web, two of its Celery workers and
beat, on PostgreSQL and Redis, against the embedded default (one process, SQLite) on the
same input.

Seeded store histories of several shops (every core workflow acts in them), merged in
arrival order, are replayed in phases: the shared clock moves to the start of a window,
that window's webhooks are posted signed, then the sweeps run. After the history the clock
keeps moving for the workflows' later steps. The embedded run does the same in-process.
The shops fall in different partitions (plugin.pipeline.partitions), so the two workers
apply webhooks and decide steps at once. Every email the embedded run decides must reach
the fake SendGrid exactly once from the scaled run, and each workflow's report (enrolled,
emails, skips by reason, exits, conversions) must be the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, or_, select

from connectors import shopify
from plugin import create_app
from plugin.demo.history import generate_history
from plugin.demo.runner import collect_report
from plugin.demo.store import SimulatedDelivery
from plugin.dev_clock import FileClock
from plugin.pipeline.partitions import partition_of
from plugin.pipeline.worker import run_once
from plugin.services import Services
from plugin.storage.models import Delivery, Episode, OutboxMessage, Shop, Step
from tests.support.fake_sendgrid import FakeSendGrid
from tests.support.network import free_port
from tests.support.processes import Processes
from tests.support.procfile import procfile_commands, with_option
from tests.support.scale_services import postgres_database, redis_url
from tests.support.shop import SHOP_ADDRESS

pytestmark = pytest.mark.slow

SHOPS = [f"scale-{name}.myshopify.com" for name in ("north", "south", "east", "west")]
SHOP_TIMEZONES = ["America/New_York", "America/Chicago", "Asia/Tokyo", "America/Los_Angeles"]
START = datetime.fromisoformat("2026-09-01T00:00:00+00:00")
CUSTOMERS, DAYS, SEED = 125, 10, 11  # per shop; about 3,000 deliveries in all
WINDOW = timedelta(hours=24)  # webhooks posted per phase
# after the history: far enough for re-engagement's last touch (+44 days)
AFTERMATH = [START + timedelta(days=DAYS + n) for n in (1, 2, 4, 7, 10, 15, 20, 30, 40, 50, 56)]
# With two workers an email can be claimed before its discount code's row is done; it is
# put back a few seconds on the clock (plugin.shopify_app.shop_actions). The test's clock only moves
# between phases, so after the last one it moves this much more to let such emails go.
# Nothing else may fall due in that time: the reports below would differ if it did.
SETTLE = timedelta(minutes=1)
REDIS_DB = 14
QUEUE_KEYS = ("nudge", "unacked")  # kombu's queue and its unacknowledged messages


@dataclass(frozen=True)
class ShopDelivery:
    """A simulated webhook and the shop it is sent for."""

    shop: str
    delivery: SimulatedDelivery

    @property
    def at(self) -> datetime:
        return self.delivery.at


def secret_of(shop: str) -> str:
    return f"{shop}-webhook-secret"


def histories() -> list[ShopDelivery]:
    """Every shop's history, merged in arrival order (a shop's own order kept)."""
    merged = [
        ShopDelivery(shop, delivery)
        for n, shop in enumerate(SHOPS)
        for delivery in generate_history(
            seed=SEED + n, customers=CUSTOMERS, days=DAYS, start=START, shop_domain=shop
        )
    ]
    return sorted(merged, key=lambda d: d.at)  # stable: each shop's ties keep their order


def phases(deliveries: list[Any]) -> list[tuple[datetime, list[Any]]]:
    """(clock, deliveries posted at it): one per window of the history, then the aftermath."""
    plan: list[tuple[datetime, list[Any]]] = []
    at = START
    index = 0
    while at < START + timedelta(days=DAYS):
        batch = []
        while index < len(deliveries) and deliveries[index].at < at + WINDOW:
            batch.append(deliveries[index])
            index += 1
        plan.append((at, batch))
        at += WINDOW
    assert index == len(deliveries)
    return plan + [(moment, []) for moment in AFTERMATH]


def signed(sent: ShopDelivery) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(sent.delivery.payload).encode()
    return body, {
        "X-Shopify-Topic": sent.delivery.topic,
        "X-Shopify-Shop-Domain": sent.shop,
        "X-Shopify-Webhook-Id": sent.delivery.webhook_id,
        "X-Shopify-Hmac-Sha256": shopify.sign(body, secret_of(sent.shop)),
        "Content-Type": "application/json",
    }


def add_shops(services: Services) -> None:
    with services.sessions() as session, session.begin():
        for shop, timezone in zip(SHOPS, SHOP_TIMEZONES, strict=True):
            session.add(
                Shop(
                    domain=shop,
                    platform="shopify",
                    access_token="t",
                    webhook_secret=secret_of(shop),
                    settings={
                        "name": shop.split(".")[0],
                        "timezone": timezone,
                        "postal_address": SHOP_ADDRESS,
                    },
                )
            )


def canonical_emails(services: Services, states: tuple[str, ...]) -> dict[str, str]:
    """idempotency key -> a key that does not depend on row ids: shop, workflow, customer,
    subject, which episode of that subject, step and action index."""
    with services.sessions() as session:
        domains = {
            shop_id: domain for shop_id, domain in session.execute(select(Shop.id, Shop.domain))
        }
        episodes = session.execute(
            select(Episode.id, Episode.shop_id, Episode.workflow, Episode.subject).order_by(
                Episode.id
            )
        ).all()
        ordinal: dict[int, int] = {}
        seen: Counter[tuple[int, str, str]] = Counter()
        for episode_id, shop_id, workflow, subject in episodes:
            ordinal[episode_id] = seen[(shop_id, workflow, subject)]
            seen[(shop_id, workflow, subject)] += 1
        subjects = {e.id: e.subject for e in episodes}
        rows = session.execute(
            select(
                OutboxMessage.idempotency_key,
                OutboxMessage.shop_id,
                OutboxMessage.workflow,
                OutboxMessage.customer_external_id,
                OutboxMessage.episode_id,
                OutboxMessage.step_id,
            ).where(OutboxMessage.kind == "email", OutboxMessage.state.in_(states))
        ).all()
    return {
        key: f"{domains[shop]}:{workflow}:{customer}:{subjects[episode]}#{ordinal[episode]}:"
        f"{step}:" + key.rsplit(":", 1)[1]
        for key, shop, workflow, customer, episode, step in rows
    }


def embedded_run(tmp_path: Path, plan: list[tuple[datetime, list[Any]]]) -> Services:
    """The default: one process, SQLite, the pipeline run in-process at each phase."""
    now = {"at": START}
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'embedded.sqlite3'}",
            "SECRET_KEY": "scale-secret-0123456789abcdef-0123456789abcdef",
            "SENDGRID_API_KEY": None,  # emails are kept: this run decides, it does not send
            "EMBEDDED_WORKER": False,
        }
    )
    services = Services.of(app)
    services.clock = lambda: now["at"]
    add_shops(services)
    client = app.test_client()
    for at, batch in plan:
        now["at"] = at
        run_once(services, at, sweeps=False)  # what fell due as the clock moved
        for delivery in batch:
            body, headers = signed(delivery)
            assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
        run_once(services, at, sweeps=False)  # what the webhooks brought
        run_once(services, at, sweeps=True)
    return services


def wait_quiet(services: Services, redis: Any, processes: Processes, timeout: float = 60) -> None:
    """Wait until no message is queued or being worked on and nothing is due by the clock
    (seen twice in a row: a worker could be between taking a message and marking it)."""
    deadline = time.monotonic() + timeout
    quiet_checks = 0
    while quiet_checks < 2:
        processes.check_alive()
        assert time.monotonic() < deadline, "the workers did not finish the due work"
        now = services.now()
        queued = redis.llen("nudge") + redis.hlen("unacked")
        with services.sessions() as session:
            busy = (
                session.scalar(
                    select(func.count()).select_from(Delivery).where(Delivery.status == "pending")
                )
                or session.scalar(
                    select(func.count())
                    .select_from(Step)
                    .where(Step.state.in_(("pending", "running")), Step.due_at <= now)
                )
                or session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(
                        OutboxMessage.state.in_(("pending", "uncertain", "sending", "checking")),
                        or_(
                            OutboxMessage.next_attempt_at.is_(None),
                            OutboxMessage.next_attempt_at <= now,
                        ),
                    )
                )
            )
        quiet_checks = quiet_checks + 1 if not queued and not busy else 0
        time.sleep(0.1)


@pytest.fixture
def disposing():  # type: ignore[no-untyped-def]
    """Services whose database connections close when the test ends, passed or failed."""
    opened: list[Services] = []
    yield opened
    for services in opened:
        services.engine.dispose()


def test_two_celery_workers_and_beat_send_what_the_embedded_run_decides(tmp_path, disposing):
    pytest.importorskip("celery")
    broker = redis_url(REDIS_DB)
    database = postgres_database("nudge_scale")
    deliveries = histories()
    plan = phases(deliveries)
    assert len(deliveries) > 2000
    assert len({partition_of(shop_id) for shop_id in range(1, len(SHOPS) + 1)}) == len(SHOPS)

    embedded = embedded_run(tmp_path, plan)
    disposing.append(embedded)
    expected_report = collect_report(embedded)
    expected = Counter(canonical_emails(embedded, ("kept",)).values())
    core = {"cart_abandonment", "upsell", "purchase_cycle", "feedback_request", "reengagement"}
    assert all(expected_report[name].emails > 0 for name in core), expected_report
    assert {key.split(":", 1)[0] for key in expected} == set(SHOPS)  # every shop sends

    scaled, received = scaled_run(tmp_path, plan, database, broker, disposing)
    sent = canonical_emails(scaled, ("sent",))
    with scaled.sessions() as session:
        unsent = session.execute(
            select(OutboxMessage.id, OutboxMessage.state, OutboxMessage.last_error).where(
                OutboxMessage.kind == "email", OutboxMessage.state != "sent"
            )
        ).all()
    assert unsent == []  # every email decided was sent
    assert set(received.values()) == {1}  # each reached SendGrid exactly once
    assert set(received) == set(sent)  # and nothing else did
    assert Counter(sent[key] for key in received) == expected  # the same emails as embedded
    assert collect_report(scaled) == expected_report  # and the same decisions, per workflow
    assert both_workers_decided(tmp_path)  # in parallel: the work did not all go to one


def scaled_run(
    tmp_path: Path,
    plan: list[tuple[datetime, list[Any]]],
    database: str,
    broker: str,
    disposing: list[Services],
) -> tuple[Services, Counter[str]]:
    """The Procfile's release command, web, two of its workers and beat on PostgreSQL and
    Redis, one shared clock; returns the database's services and how often each message key
    reached SendGrid."""
    import redis as redis_client

    port = free_port()
    clock = FileClock(tmp_path / "clock")
    clock.set(START)
    bin_dir = Path(sys.executable).parent
    with FakeSendGrid() as sendgrid:
        env = {
            **os.environ,
            "NUDGE_DATABASE_URL": database,
            "NUDGE_BROKER_URL": broker,
            "NUDGE_SECRET_KEY": "scale-secret-0123456789abcdef-0123456789abcdef",
            "NUDGE_APP_URL": f"http://127.0.0.1:{port}",
            "NUDGE_SENDGRID_API_KEY": "SG.fake",
            "NUDGE_SENDGRID_BASE_URL": sendgrid.url,
            "NUDGE_DEV_CLOCK_FILE": str(clock.path),
            "NUDGE_TICK_SECONDS": "0.25",
            "NUDGE_SWEEP_SECONDS": "1000000",  # sweeps are sent by the test, after each window
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        }
        procfile = procfile_commands()
        assert set(procfile) == {"release", "web", "worker", "beat"}
        upgraded = subprocess.run(
            in_venv(procfile["release"], bin_dir), env=env, capture_output=True, text=True
        )
        assert upgraded.returncode == 0, upgraded.stderr
        scaled = Services.of(
            create_app(
                {
                    "DATABASE_URL": database,
                    "SECRET_KEY": "scale-secret-0123456789abcdef-0123456789abcdef",
                    "BROKER_URL": None,
                }
            )
        )
        disposing.append(scaled)
        scaled.clock = clock
        add_shops(scaled)

        processes = Processes(env, tmp_path)
        # the Procfile's commands; only what a 2-core test machine needs differs: fewer
        # processes, a loopback port, names for the two workers, and quieter logs
        web = with_option(in_venv(procfile["web"], bin_dir), ("-w",), "2")
        web = with_option(web, ("-b", "--bind"), f"127.0.0.1:{port}")
        worker = with_option(in_venv(procfile["worker"], bin_dir), ("--concurrency", "-c"), "1")
        worker = with_option(worker, ("-l", "--loglevel"), "info")
        quiet = ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        beat = in_venv(procfile["beat"], bin_dir) + ["-s", str(tmp_path / "beat-schedule")]
        sender = make_sender(broker)
        redis = redis_client.Redis.from_url(broker)
        http = requests.Session()
        try:
            processes.start("web", *web)
            for n in (1, 2):
                processes.start(f"worker{n}", *worker, "-n", f"scale{n}@%h", *quiet)
            processes.start("beat", *beat)
            base = f"http://127.0.0.1:{port}"
            processes.wait_healthy(base, "web")
            for at, batch in plan:
                clock.set(at)
                wait_quiet(scaled, redis, processes)  # beat's tick finds what fell due
                for delivery in batch:
                    body, headers = signed(delivery)
                    response = http.post(
                        f"{base}/webhooks/shopify", data=body, headers=headers, timeout=10
                    )
                    assert response.status_code == 200, response.text
                wait_quiet(scaled, redis, processes)
                sender.send_task("nudge.sweep")
                wait_quiet(scaled, redis, processes)
            clock.set(plan[-1][0] + SETTLE)
            wait_quiet(scaled, redis, processes)
            processes.check_alive()
        finally:
            processes.stop()
            http.close()
            redis.close()
            sender.close()
        return scaled, Counter(sendgrid.received)


def in_venv(argv: list[str], bin_dir: Path) -> list[str]:
    """The command as the Procfile gives it, run from this virtualenv."""
    return [str(bin_dir / argv[0]), *argv[1:]]


def both_workers_decided(folder: Path) -> bool:
    """Whether each worker's log shows it both applied webhooks and decided steps."""
    stages = ("nudge.process_inbox", "nudge.run_due")
    logs = [(folder / f"worker{n}.log").read_text(errors="replace") for n in (1, 2)]
    return all(
        any(
            f"Task {stage}[" in line and "succeeded" in line and not line.endswith(": 0")
            for line in log.splitlines()
        )
        for log in logs
        for stage in stages
    )


def make_sender(broker: str):  # type: ignore[no-untyped-def]
    from plugin.config import DEFAULTS
    from plugin.pipeline.celery_app import make_celery

    return make_celery({**DEFAULTS, "BROKER_URL": broker})
