"""Celery wiring on a real Redis broker: what the web process enqueues, what workers do
with it (idempotently), how they are configured, and when worker and beat refuse to start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from plugin import create_app
from plugin.config import DEFAULTS
from plugin.dev_clock import DevClockRefused, FileClock, clock_from_settings
from plugin.pipeline.worker import embedded_worker_wanted
from plugin.services import Services
from plugin.storage.models import Delivery, OutboxMessage, Shop, Step
from plugin.storage.schema import head_revision
from tests.support import payloads
from tests.support.clock import T0
from tests.support.fake_sendgrid import FakeSendGrid
from tests.support.scale_services import redis_url
from tests.support.shop import SHOP, SHOP_ADDRESS, SHOP_SECRET
from tests.support.webhooks import WebhookSender

celery = pytest.importorskip("celery")

REDIS_DB = 15  # the scale integration test uses 14
TASKS = (
    "nudge.process_inbox",
    "nudge.run_due",
    "nudge.deliver",
    "nudge.sweep",
    "nudge.purge",
    "nudge.renew_tokens",
)


def queued(broker: str) -> list[str]:
    """Task names waiting in the nudge queue, oldest first."""
    import redis

    client = redis.Redis.from_url(broker)
    try:
        messages = client.lrange("nudge", 0, -1)
    finally:
        client.close()
    return [json.loads(m)["headers"]["task"] for m in reversed(messages)]


def test_tasks_are_acknowledged_late_one_at_a_time_and_beat_only_ticks():
    from plugin.pipeline.celery_app import make_celery

    app = make_celery({**DEFAULTS, "BROKER_URL": "redis://127.0.0.1:6379/15"})
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    schedule = {entry["task"]: entry for entry in conf.beat_schedule.values()}
    assert set(schedule) == set(TASKS)
    for task in ("nudge.sweep", "nudge.purge", "nudge.renew_tokens"):
        assert schedule[task]["schedule"] == DEFAULTS["SWEEP_SECONDS"]
    for task in ("nudge.process_inbox", "nudge.run_due", "nudge.deliver"):
        assert schedule[task]["schedule"] == DEFAULTS["TICK_SECONDS"]
    for entry in schedule.values():  # a tick carries no payload and no far-future ETA
        assert entry.get("args", ()) == () and set(entry["options"]) == {"expires"}
    import plugin.pipeline.tasks

    assert set(TASKS) <= set(plugin.pipeline.tasks.app.tasks)


def test_with_a_broker_the_web_process_stores_and_enqueues_once_per_burst(database_url, clock):
    broker = redis_url(REDIS_DB)
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key-0123456789abcdef",
            "BROKER_URL": broker,
        }
    )
    services = Services.of(app)
    services.clock = clock
    assert not embedded_worker_wanted(services.settings)  # `nudge serve` starts no worker
    _add_shop(services)
    send = WebhookSender(app.test_client())
    for n in range(5):
        assert (
            send("customers/create", payloads.customer(100 + n, f"c{n}@x.com")).status_code == 200
        )
    with services.sessions() as session:
        statuses = session.scalars(select(Delivery.status)).all()
    assert statuses == ["pending"] * 5  # stored, not processed: that is the workers' job
    assert queued(broker) == ["nudge.process_inbox"]  # one pass covers the whole burst
    services.engine.dispose()


def _add_shop(services: Services) -> None:
    with services.sessions() as session, session.begin():
        session.add(
            Shop(
                domain=SHOP,
                platform="shopify",
                access_token="t",
                webhook_secret=SHOP_SECRET,
                settings={"postal_address": SHOP_ADDRESS},
            )
        )


def test_a_worker_runs_the_pipeline_and_repeated_tasks_send_nothing_twice(database_url, clock):
    from celery.contrib.testing.worker import start_worker

    import plugin.pipeline.tasks as tasks

    broker = redis_url(REDIS_DB)
    with FakeSendGrid() as sendgrid:
        app = create_app(
            {
                "DATABASE_URL": database_url,
                "SECRET_KEY": "test-secret-key-0123456789abcdef",
                "BROKER_URL": broker,
                "SENDGRID_API_KEY": "SG.fake",
                "SENDGRID_BASE_URL": sendgrid.url,
            }
        )
        services = Services.of(app)
        services.clock = clock
        _add_shop(services)
        send = WebhookSender(app.test_client())
        clock.now = T0
        for n in range(3):
            email = f"c{n}@example.com"
            send("customers_email_marketing_consent/update", payloads.consent(1000 + n, email))
            send(
                "checkouts/create",
                payloads.checkout(f"tok-{n}", T0, email=email, customer_id=1000 + n),
            )
        previous = tasks.app.conf.broker_url
        tasks.app.conf.broker_url = broker
        tasks.bind(services)
        try:
            with start_worker(tasks.app, pool="solo", perform_ping_check=False):
                _wait_for(lambda: _count(services, Step) == 6, "the inbox to enroll")
                assert _count(services, OutboxMessage) == 0  # the reminders are 4 h away
                clock.now = T0 + timedelta(hours=4, minutes=5)
                for _ in range(3):  # a tick, repeated: beat and a redelivered message
                    for task in ("nudge.run_due", "nudge.deliver"):
                        tasks.app.send_task(task)
                _wait_for(lambda: len(sendgrid.received) == 3, "three reminders sent")
                for _ in range(3):
                    tasks.app.send_task("nudge.deliver")
                _wait_for(lambda: not queued(broker), "the queue to drain")
        finally:
            tasks.bind(None)
            tasks.app.conf.broker_url = previous
            services.engine.dispose()
    assert sorted(sendgrid.received.values()) == [1, 1, 1]


def _count(services: Services, model: type) -> int:
    with services.sessions() as session:
        return len(session.scalars(select(model.id)).all())


def _wait_for(condition, what: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited too long for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("command", ["worker", "beat"])
def test_worker_and_beat_refuse_an_outdated_schema(tmp_path, command):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    create_app({"DATABASE_URL": url, "SECRET_KEY": "test-secret-key-0123456789abcdef"}).extensions[
        "nudge"
    ].engine.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    engine.dispose()
    env = {
        **os.environ,
        "NUDGE_DATABASE_URL": url,
        "NUDGE_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "NUDGE_BROKER_URL": "redis://127.0.0.1:6379/15",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    celery_bin = str(Path(sys.executable).parent / "celery")
    argv = [celery_bin, "-A", "plugin.pipeline.tasks", command]
    if command == "beat":
        argv += ["-s", str(tmp_path / "beat-schedule")]
    refused = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert refused.returncode != 0
    assert (
        f"refusing to start: the database schema is at revision 0000, the code needs "
        f"{head_revision()}: run `nudge db upgrade`" in refused.stderr
    )


def test_the_file_clock_is_shared_and_only_for_local_development(tmp_path):
    path = tmp_path / "clock"
    FileClock(path).set(datetime(2026, 9, 1, 12, tzinfo=UTC))
    local = {"DEV_CLOCK_FILE": str(path), "APP_URL": "http://127.0.0.1:8000"}
    reader = clock_from_settings(local)
    assert reader is not None and reader() == datetime(2026, 9, 1, 12, tzinfo=UTC)
    FileClock(path).set(datetime(2026, 9, 3, tzinfo=UTC))  # another process moves it
    assert reader() == datetime(2026, 9, 3, tzinfo=UTC)
    assert clock_from_settings({"APP_URL": "https://nudge.example"}) is None
    with pytest.raises(DevClockRefused, match="development and tests only"):
        clock_from_settings({**local, "APP_URL": "https://nudge.example"})
    with pytest.raises(FileNotFoundError):
        clock_from_settings({**local, "DEV_CLOCK_FILE": str(tmp_path / "missing")})


def test_a_worker_killed_while_sending_loses_nothing_and_sends_nothing_twice(tmp_path):
    """SIGKILL a worker while SendGrid holds its request: the outbox row's lease runs out,
    the next worker asks SendGrid's activity feed first, then sends it, once."""
    import threading

    from plugin.pipeline.delivery import ACTIVITY_LAG, LEASE
    from plugin.pipeline.tasks import enqueue

    broker = redis_url(REDIS_DB)
    clock = FileClock(tmp_path / "clock")
    clock.set(T0)
    arrived, release = threading.Event(), threading.Event()

    def hold_first_send(_args: dict[str, str]) -> bool:
        if release.is_set():
            return True
        arrived.set()
        release.wait(30)
        return False  # the worker died waiting: this request never arrived

    with FakeSendGrid(on_send=hold_first_send) as sendgrid:
        settings = {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'nudge.sqlite3'}",
            "SECRET_KEY": "test-secret-key-0123456789abcdef",
            "BROKER_URL": broker,
            "SENDGRID_API_KEY": "SG.fake",
            "SENDGRID_BASE_URL": sendgrid.url,
            "DEV_CLOCK_FILE": str(clock.path),
            "APP_URL": "http://127.0.0.1:8000",
        }
        app = create_app(settings)
        services = Services.of(app)
        _add_shop(services)
        send = WebhookSender(app.test_client())
        send("customers_email_marketing_consent/update", payloads.consent(7, "kim@example.com"))
        send(
            "checkouts/create",
            payloads.checkout("tok-7", T0, email="kim@example.com", customer_id=7),
        )
        clock.set(T0 + timedelta(hours=4, minutes=5))  # the reminder is due
        env = {
            **os.environ,
            **{f"NUDGE_{key}": str(value) for key, value in settings.items()},
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        }
        argv = [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "plugin.pipeline.tasks",
            "worker",
        ]
        argv += ["--pool", "solo", "--without-gossip", "--without-mingle", "-l", "warning"]
        first = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL)
        try:
            assert arrived.wait(60), "the first worker never sent"
        finally:
            first.kill()  # SIGKILL, mid-send: no clean-up of any kind
            first.wait()
        release.set()
        with services.sessions() as session:
            message = session.scalars(select(OutboxMessage)).one()
        assert message.state == "sending" and not sendgrid.received
        clock.set(T0 + timedelta(hours=4, minutes=6) + max(LEASE, ACTIVITY_LAG))
        second = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL)
        try:
            enqueue(settings, "nudge.deliver")  # what beat's next tick would send
            _wait_for(lambda: bool(sendgrid.received), "the second worker to send", timeout=60)
            _wait_for(lambda: _state(services, message.id) == "sent", "the row to settle")
        finally:
            second.terminate()
            second.wait(30)
        services.engine.dispose()
    assert sendgrid.received == {message.idempotency_key: 1}
    assert sendgrid.lookups >= 1  # it asked SendGrid before sending again


def _state(services: Services, message_id: int) -> str:
    with services.sessions() as session:
        return session.get_one(OutboxMessage, message_id).state
