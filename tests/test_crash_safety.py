"""Crash safety: processes killed with SIGKILL lose no accepted webhook and send no email twice.

The fast tests kill a `nudge run-due` process at the worst moment — SendGrid has the
message, Nudge has not recorded it — and check what the next pass does. The slow test
kills `nudge serve` again and again while it takes webhooks and delivers, then compares
what reached the (local, fake) SendGrid with an uninterrupted run of the same webhooks.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from click.testing import CliRunner
from sqlalchemy import create_engine, select, update

from plugin import create_app
from plugin.cli import main
from plugin.pipeline.delivery import deliver_pending
from plugin.pipeline.worker import run_once
from plugin.storage.models import Delivery, OutboxMessage, Shop, Step
from tests.support import payloads
from tests.support.clock import T0
from tests.support.fake_sendgrid import FakeSendGrid
from tests.support.shop import SHOP_ADDRESS
from tests.support.webhooks import shopify_signature
from tests.support.workflows import queue_reminder

CLI = [sys.executable, "-m", "plugin.cli"]


def _email(services) -> OutboxMessage:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")).one()


def _killed_while_sending(services, sendgrid: FakeSendGrid, arrives: bool) -> None:  # type: ignore[no-untyped-def]
    """Run `nudge run-due` and SIGKILL it while SendGrid holds its request unanswered."""
    process: list[subprocess.Popen[bytes]] = []

    def kill_sender(_args: dict[str, str]) -> bool:
        process[0].kill()
        process[0].wait()
        return arrives  # True: SendGrid accepted it, the answer never got back

    sendgrid.on_send = kill_sender
    env = {
        **os.environ,
        "NUDGE_DATABASE_URL": services.settings["DATABASE_URL"],
        "NUDGE_SECRET_KEY": services.settings["SECRET_KEY"],
        "NUDGE_SENDGRID_API_KEY": "SG.fake",
        "NUDGE_SENDGRID_BASE_URL": sendgrid.url,
    }
    now = (T0 + timedelta(hours=4, minutes=2)).isoformat()
    process.append(subprocess.Popen([*CLI, "run-due", "--now", now], env=env))
    assert process[0].wait(timeout=60) == -signal.SIGKILL
    sendgrid.on_send = None
    services.settings["SENDGRID_API_KEY"] = "SG.fake"
    services.settings["SENDGRID_BASE_URL"] = sendgrid.url


@pytest.mark.parametrize("arrives", [True, False], ids=["sendgrid-has-it", "never-arrived"])
def test_a_send_cut_off_by_a_crash_is_looked_up_before_any_second_send(
    send_webhook, services, arrives
):
    message = queue_reminder(send_webhook, services)
    with FakeSendGrid() as sendgrid:
        _killed_while_sending(services, sendgrid, arrives)
        assert _email(services).state == "sending"
        # within the lease the dead worker's claim still stands: nobody touches it
        deliver_pending(services, T0 + timedelta(hours=4, minutes=3))
        assert (_email(services).state, sendgrid.lookups) == ("sending", 0)
        stats = deliver_pending(services, T0 + timedelta(hours=4, minutes=8))
        assert sendgrid.lookups == 1
        assert sendgrid.received == {message.idempotency_key: 1}
    assert _email(services).state == "sent"
    assert (stats.confirmed, stats.sent) == ((1, 0) if arrives else (0, 1))


def test_without_the_activity_api_a_cut_off_send_is_parked_for_a_person(
    send_webhook, services, monkeypatch
):
    message = queue_reminder(send_webhook, services)
    with FakeSendGrid(activity=False) as sendgrid:
        _killed_while_sending(services, sendgrid, arrives=True)
        stats = deliver_pending(services, T0 + timedelta(hours=4, minutes=8))
        parked = _email(services)
        assert (stats.failed, parked.state) == (1, "failed")
        assert "may have accepted it" in parked.last_error and "404" in parked.last_error
        assert sendgrid.received == {message.idempotency_key: 1}  # not sent a second time
        monkeypatch.setenv("NUDGE_DATABASE_URL", services.settings["DATABASE_URL"])
        listing = CliRunner().invoke(main, ["outbox", "--json"], catch_exceptions=False).output
        assert "nudge outbox --retry" in json.loads(listing.splitlines()[0])["last_error"]
        # a person who checked SendGrid's feed and found nothing sends it again by hand
        CliRunner().invoke(main, ["outbox", "--retry", str(parked.id)], catch_exceptions=False)
        deliver_pending(services, T0 + timedelta(hours=5))
        assert sendgrid.received == {message.idempotency_key: 2}
    assert _email(services).state == "sent"


@responses.activate
def test_a_read_timeout_is_looked_up_a_connect_failure_simply_retried(send_webhook, services):
    message = queue_reminder(send_webhook, services)
    services.settings.update(SENDGRID_API_KEY="SG.k", SENDGRID_BASE_URL="https://sendgrid.test")
    send_url, activity_url = (
        "https://sendgrid.test/v3/mail/send",
        "https://sendgrid.test/v3/messages",
    )
    now = T0 + timedelta(hours=4, minutes=2)
    responses.post(send_url, body=requests.exceptions.ReadTimeout("read timed out"))
    deliver_pending(services, now)
    timed_out = _email(services)
    assert timed_out.state == "uncertain" and timed_out.next_attempt_at >= now + timedelta(
        minutes=5
    )
    # the activity API is rate limited (6 a minute): a 429 means ask later, never send
    responses.get(activity_url, status=429, json={"errors": [{"message": "too many requests"}]})
    deliver_pending(services, timed_out.next_attempt_at)
    assert _email(services).state == "uncertain"
    responses.replace(
        responses.GET, activity_url, json={"messages": [{"msg_id": "sg-1", "status": "delivered"}]}
    )
    deliver_pending(services, _email(services).next_attempt_at)
    confirmed = _email(services)
    assert (confirmed.state, confirmed.provider_message_id) == ("sent", "sg-1")
    assert [c.request.method for c in responses.calls] == ["POST", "GET", "GET"]
    query = responses.calls[-1].request.params["query"]
    assert f"unique_args['nudge_key']=\"{message.idempotency_key}\"" in query

    # a connection that was never made cannot have delivered anything: plain retry
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    responses.add_passthru(closed)
    with services.sessions() as session, session.begin():
        session.execute(update(OutboxMessage).values(state="pending", next_attempt_at=None))
    services.settings["SENDGRID_BASE_URL"] = closed
    deliver_pending(services, now)
    refused = _email(services)
    assert refused.state == "pending" and "ConnectionError" in refused.last_error


# --- nudge serve, killed again and again --------------------------------------------------

SHOP_DOMAIN = "crash.myshopify.com"
SECRET = "crash-webhook-secret"
CUSTOMERS = 150


def _prepare_shop(database_url: str) -> None:
    """The same shop for both runs: workflows whose outcome does not depend on when a
    step is decided (no sweeps; a full-day send window; no frequency cap)."""
    env = {
        "NUDGE_DATABASE_URL": database_url,
        "NUDGE_SECRET_KEY": "crash-secret-0123456789abcdef-0123456789abcdef",
    }
    # no Admin API token: the discount codes stay local, so no request leaves the machine
    runner = CliRunner(env=env)
    for args in (
        ["shop", "add", SHOP_DOMAIN, "--webhook-secret", SECRET],
        ["workflows", "disable", SHOP_DOMAIN, "purchase_cycle"],
        ["workflows", "disable", SHOP_DOMAIN, "reengagement"],
    ):
        result = runner.invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    engine = create_engine(database_url)
    with engine.begin() as conn:
        settings = {
            "send_window": {"start_hour": 0, "end_hour": 24},
            "frequency_cap_hours": 0,
            "postal_address": SHOP_ADDRESS,
        }
        conn.execute(update(Shop).values(settings=settings))
    engine.dispose()


def _webhooks(base: datetime, rng: random.Random) -> list[tuple[str, str, bytes]]:
    """(webhook id, topic, body) for CUSTOMERS shoppers, each one of six stories whose
    outcome does not depend on how intake and due steps interleave."""
    hooks: list[tuple[str, dict[str, Any]]] = []
    for n in range(CUSTOMERS):
        cid, email = 9000 + n, f"shopper{n}@example.com"
        story = rng.choice(["big_cart", "cart", "tiny_cart", "no_consent", "bought", "fulfilled"])
        consent = ("customers_email_marketing_consent/update", payloads.consent(cid, email))
        cart_at = base - timedelta(hours=30)  # reminder and offer both due already
        if story in ("big_cart", "cart", "tiny_cart"):
            price = {"big_cart": "60.00", "cart": "30.00", "tiny_cart": "10.00"}[story]
            hooks += [
                consent,
                (
                    "checkouts/create",
                    payloads.checkout(f"t{n}", cart_at, price=price, email=email, customer_id=cid),
                ),
            ]
        elif story == "no_consent":
            checkout = payloads.checkout(
                f"t{n}", cart_at, email=email, customer_id=cid, accepts_marketing=False
            )
            hooks.append(("checkouts/create", checkout))
        elif story == "bought":  # the order arrives before its checkout: no reminder
            order = payloads.order(
                70000 + n, base - timedelta(hours=28), checkout_token=f"t{n}", customer_id=cid,
                email=email,
            )  # fmt: skip
            hooks += [
                consent,
                ("orders/create", order),
                (
                    "checkouts/create",
                    payloads.checkout(f"t{n}", cart_at, email=email, customer_id=cid),
                ),
            ]
        else:  # fulfilled 8 days ago: the feedback request is due now
            order = payloads.order(
                70000 + n, base - timedelta(days=9), customer_id=cid, email=email,
                fulfilled_at=base - timedelta(days=8),
            )  # fmt: skip
            hooks += [consent, ("orders/create", order)]
    out = [(f"wh-{i}", topic, json.dumps(body).encode()) for i, (topic, body) in enumerate(hooks)]
    # Shopify repeats deliveries; a repeat carries the same webhook id
    repeats = [out[i] for i in sorted(rng.sample(range(len(out)), len(out) // 20))]
    for hook in repeats:
        out.insert(out.index(hook) + 1, hook)
    return out


def _headers(webhook_id: str, topic: str, body: bytes) -> dict[str, str]:
    return {
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": SHOP_DOMAIN,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Hmac-Sha256": shopify_signature(body, SECRET),
        "Content-Type": "application/json",
    }


def _stable(key: str) -> str:
    """An outbox key without its database ids (shop, episode), comparable across runs."""
    _shop, workflow, customer, _episode, step, index = key.split(":")
    return f"{workflow}:{customer}:{step}:{index}"


def _expected_emails(
    tmp_path: Path, hooks: list[tuple[str, str, bytes]], base: datetime
) -> set[str]:
    """The same webhooks, processed without any crash, in-process, in a fresh database."""
    database = f"sqlite:///{tmp_path / 'reference.sqlite3'}"
    _prepare_shop(database)
    app = create_app(
        {
            "DATABASE_URL": database,
            "SECRET_KEY": "crash-secret-0123456789abcdef-0123456789abcdef",
            "TESTING": True,
        }
    )
    client = app.test_client()
    for webhook_id, topic, body in hooks:
        response = client.post(
            "/webhooks/shopify", data=body, headers=_headers(webhook_id, topic, body)
        )
        assert response.status_code == 200
    services = app.extensions["nudge"]
    run_once(services, base)
    run_once(services, base + timedelta(days=30))
    with services.sessions() as session:
        keys = session.scalars(
            select(OutboxMessage.idempotency_key).where(
                OutboxMessage.kind == "email", OutboxMessage.state == "kept"
            )
        ).all()
    services.engine.dispose()
    return {_stable(k) for k in keys}


def _wait_for(condition: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "nudge serve did not finish its due work"
        time.sleep(0.05)


def _work_left(database: str) -> bool:
    """Deliveries to process, steps due or emails ready to send, by the real clock (the
    one `nudge serve` runs on): decided later, a step would see other facts."""
    engine = create_engine(database)
    with engine.connect() as conn:
        inbox = conn.scalar(select(Delivery.id).where(Delivery.status == "pending").limit(1))
        due = conn.scalar(
            select(Step.id)
            .where(Step.state.in_(("pending", "running")), Step.due_at <= datetime.now(UTC))
            .limit(1)
        )
        ready = conn.scalar(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.state == "pending",
                OutboxMessage.next_attempt_at <= datetime.now(UTC),
            )
            .limit(1)
        )
    engine.dispose()
    return inbox is not None or due is not None or ready is not None


class Server:
    """`nudge serve` as a process that the test kills and starts again on one port."""

    def __init__(self, env: dict[str, str], log: Path):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.env, self.log = env, log.open("ab")
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.lock = threading.RLock()  # kills come from timers and the fake SendGrid too

    def start(self) -> None:
        with self.lock:
            self._start()

    def _start(self) -> None:
        self.process = subprocess.Popen(
            [*CLI, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            assert self.process.poll() is None, "nudge serve exited on start"
            assert time.monotonic() < deadline, "nudge serve did not come up"
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, whatever the server was doing."""
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                self.process.send_signal(signal.SIGKILL)
                self.kills += 1
            if self.process is not None:
                self.process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@pytest.fixture
def fake_sendgrid() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as sendgrid:
        yield sendgrid


@pytest.mark.slow
def test_serve_killed_during_intake_and_delivery_loses_nothing_and_sends_once(
    tmp_path, fake_sendgrid
):
    rng = random.Random(20260302)
    base = datetime.now(UTC).replace(microsecond=0)
    hooks = _webhooks(base, rng)
    expected = _expected_emails(tmp_path, hooks, base)

    database = f"sqlite:///{tmp_path / 'crash.sqlite3'}"
    _prepare_shop(database)
    env = {
        **os.environ,
        "NUDGE_DATABASE_URL": database,
        "NUDGE_SECRET_KEY": "crash-secret-0123456789abcdef-0123456789abcdef",
        "NUDGE_SENDGRID_API_KEY": "SG.fake",
        "NUDGE_SENDGRID_BASE_URL": fake_sendgrid.url,
        "NUDGE_WORKER_INTERVAL_SECONDS": "0.05",
    }
    server = Server(env, tmp_path / "serve.log")
    cut_off = {"accepted": 0, "dropped": 0}

    def arm_kill_on_send(accept: bool) -> None:
        """Kill the server the moment its next email reaches SendGrid, before the answer."""

        def hook(_args: dict[str, str]) -> bool:
            fake_sendgrid.on_send = None
            server.kill()
            cut_off["accepted" if accept else "dropped"] += 1
            return accept

        fake_sendgrid.on_send = hook

    # seeded kill points: some at a random moment of intake, some in the middle of a send
    kill_at = dict.fromkeys(rng.sample(range(20, len(hooks) - 20), 4), "intake")
    kill_at.update(dict.fromkeys(rng.sample(range(20, len(hooks) - 20), 4), "delivery"))
    answered: set[str] = set()
    server.start()
    try:
        for index, (webhook_id, topic, body) in enumerate(hooks):
            if kill_at.get(index) == "intake":
                threading.Timer(rng.uniform(0, 0.03), server.kill).start()
            elif kill_at.get(index) == "delivery":
                arm_kill_on_send(accept=rng.random() < 0.75)
            while True:  # like Shopify: a delivery not answered 200 is sent again
                try:
                    response = requests.post(
                        f"{server.url}/webhooks/shopify",
                        data=body,
                        headers=_headers(webhook_id, topic, body),
                        timeout=10,
                    )
                    assert response.status_code == 200, response.text  # never refused
                    answered.add(webhook_id)
                    break
                except requests.RequestException:  # killed mid-request: no answer
                    pass
                time.sleep(0.02)  # let a kill in progress finish
                if not server.alive():
                    server.kill()
                    server.start()
        # let the server deliver what is due, killed once more in the middle of it
        arm_kill_on_send(accept=True)
        _wait_for(lambda: fake_sendgrid.on_send is None or not _work_left(database))
        if not server.alive():  # up again, to finish what is due now before the last kill
            server.start()
            _wait_for(lambda: not _work_left(database))
        server.kill()
    finally:
        server.kill()
        server.log.close()

    # then everything due, far ahead: one run killed mid-delivery, then a clean one
    far = base + timedelta(days=30)
    cli_env = {k: v for k, v in env.items() if k != "NUDGE_WORKER_INTERVAL_SECONDS"}
    runs: list[subprocess.Popen[bytes]] = []

    def kill_run(_args: dict[str, str]) -> bool:
        fake_sendgrid.on_send = None
        runs[0].kill()
        cut_off["accepted"] += 1
        return True

    fake_sendgrid.on_send = kill_run
    runs.append(subprocess.Popen([*CLI, "run-due", "--now", far.isoformat()], env=cli_env))
    assert runs[0].wait(timeout=300) == -signal.SIGKILL
    final = subprocess.run(
        [*CLI, "run-due", "--now", (far + timedelta(hours=1)).isoformat()],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert final.returncode == 0, final.stderr

    engine = create_engine(database)
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(Delivery.delivery_id, Delivery.status)).all())
        emails = conn.execute(
            select(OutboxMessage.idempotency_key, OutboxMessage.state).where(
                OutboxMessage.kind == "email"
            )
        ).all()
        undecided = conn.execute(
            select(Step.id).where(Step.state.in_(("pending", "running")), Step.due_at <= far)
        ).all()
    engine.dispose()

    # the faults happened: kills during intake and at the worst moment of a send
    assert server.kills >= 8 and cut_off["accepted"] >= 3, (server.kills, cut_off)
    # every webhook answered 200 was processed
    assert answered == {webhook_id for webhook_id, _, _ in hooks}
    assert {statuses.get(w) for w in answered} == {"processed"}
    assert undecided == []
    # every email that should be sent was sent, each exactly once
    assert {state for _, state in emails} == {"sent"}
    assert sorted(fake_sendgrid.received) == sorted(key for key, _ in emails)
    assert set(fake_sendgrid.received.values()) == {1}, [
        key for key, count in fake_sendgrid.received.items() if count > 1
    ]
    assert {_stable(key) for key, _ in emails} == expected
    assert len(expected) > CUSTOMERS // 2  # the stories do send mail
    # and each send cut off by a kill was looked up, not repeated blindly
    assert fake_sendgrid.lookups >= cut_off["accepted"]
