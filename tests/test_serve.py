"""`nudge serve` as a real process: gunicorn (or, with --dev, Werkzeug's server), HTTP
intake, the embedded worker processing it, what it says at start, and a SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from tests.support.network import free_port
from tests.support.shop import SHOP_ADDRESS
from tests.support.webhooks import shopify_signature

CLI = [sys.executable, "-m", "plugin.cli"]


def serve_env(tmp_path: Path) -> dict[str, str]:
    """This process's environment without its NUDGE_* variables, plus a database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUDGE_")}
    return {
        **env,
        "NUDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        "NUDGE_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "NUDGE_WORKER_INTERVAL_SECONDS": "0.2",
    }


@contextmanager
def serving(
    tmp_path: Path, env: dict[str, str], *args: str
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """`nudge serve` on a free port, answering /healthz: (process, base URL, its log)."""
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except requests.ConnectionError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise
                    time.sleep(0.1)
            yield server, base, log_path
        finally:
            if server.poll() is None:
                server.terminate()
            server.wait(timeout=20)


def test_serve_accepts_webhooks_and_the_embedded_worker_processes_them(tmp_path):
    env = serve_env(tmp_path)
    database = env["NUDGE_DATABASE_URL"]
    subprocess.run(
        [
            *CLI,
            "shop",
            "add",
            "serve.myshopify.com",
            "--webhook-secret",
            "s3cret",
            "--address",
            SHOP_ADDRESS,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    with serving(tmp_path, env) as (_server, base, log):
        body = json.dumps(
            {
                "id": 42,
                "email": "ann@example.com",
                "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
            }
        ).encode()
        headers = {
            "X-Shopify-Topic": "customers/create",
            "X-Shopify-Shop-Domain": "serve.myshopify.com",
            "X-Shopify-Webhook-Id": "w-1",
            "X-Shopify-Hmac-Sha256": shopify_signature(body, "s3cret"),
        }
        assert (
            requests.post(
                f"{base}/webhooks/shopify", data=body, headers=headers, timeout=5
            ).status_code
            == 200
        )
        bad = requests.post(
            f"{base}/webhooks/shopify",
            data=body,
            headers={**headers, "X-Shopify-Hmac-Sha256": "AAAA"},
            timeout=5,
        )
        assert bad.status_code == 401
        engine = create_engine(database)
        deadline = time.monotonic() + 20
        while True:
            with engine.connect() as conn:
                status = conn.execute(text("SELECT status FROM deliveries")).scalar()
                email = conn.execute(
                    text("SELECT email FROM customers WHERE external_id = '42'")
                ).scalar()
            if status == "processed" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        engine.dispose()
        assert (status, email) == ("processed", "ann@example.com")
    started = log.read_text()
    assert "nudge serve: gunicorn, one worker process" in started
    assert "the embedded worker and scheduler in it" in started
    assert len(re.findall(r"Booting worker with pid", started)) == 1


def test_serve_says_at_start_which_settings_a_live_shop_needs(tmp_path):
    with serving(tmp_path, serve_env(tmp_path)) as (_server, _base, log):
        started = log.read_text()
    warnings = [line for line in started.splitlines() if line.startswith("warning: ")]
    assert [line.split()[1] for line in warnings] == [
        "NUDGE_SENDGRID_API_KEY",
        "NUDGE_APP_URL",
        "NUDGE_FROM_EMAIL",
    ]
    assert "emails are kept on this machine and never sent" in warnings[0]
    env = {
        **serve_env(tmp_path),
        "NUDGE_SENDGRID_API_KEY": "SG.key",
        "NUDGE_APP_URL": "https://nudge.example.com",
        "NUDGE_FROM_EMAIL": "news@shop.example",
        "NUDGE_DEV_SESSION_TOKENS": "1",
    }
    with serving(tmp_path, env) as (_server, _base, log):
        started = log.read_text()
    warnings = [line for line in started.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "NUDGE_DEV_SESSION_TOKENS is on, but" in warnings[0]


def test_serve_dev_runs_the_development_server(tmp_path):
    with serving(tmp_path, serve_env(tmp_path), "--dev") as (_server, base, log):
        assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
        started = log.read_text()
    assert "nudge serve: Werkzeug's development server" in started
    assert "gunicorn" not in started


def test_a_killed_serve_leaves_no_worker_process_behind(tmp_path):
    with serving(tmp_path, serve_env(tmp_path)) as (server, base, log):
        [worker_pid] = re.findall(r"Booting worker with pid: (\d+)", log.read_text())
        server.send_signal(signal.SIGKILL)
        server.wait()
        # the worker process holds the listening socket too: the port frees when it is gone
        port = int(base.rsplit(":", 1)[1])
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                    break
                except OSError:
                    assert time.monotonic() < deadline, f"worker {worker_pid} outlived serve"
                    time.sleep(0.05)
        # killed with it by the kernel, it ran no shutdown of its own (no last pass, no send)
        after = log.read_text()
        assert "Parent changed" not in after and "Worker exiting" not in after
