"""`nudge serve` as a real process: HTTP intake, and the embedded worker processing it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import requests
from sqlalchemy import create_engine, text

from tests.support.network import free_port
from tests.support.webhooks import shopify_signature


def test_serve_accepts_webhooks_and_the_embedded_worker_processes_them(tmp_path):
    database = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    env = {
        **os.environ,
        "NUDGE_DATABASE_URL": database,
        "NUDGE_SECRET_KEY": "k",
        "NUDGE_WORKER_INTERVAL_SECONDS": "0.2",
    }
    cli = [sys.executable, "-m", "plugin.cli"]
    subprocess.run(
        [*cli, "shop", "add", "serve.myshopify.com", "--webhook-secret", "s3cret"],
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
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
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
