"""Webhook intake under load: `POST /webhooks/shopify` vs a bare Flask route, both on gunicorn.

Both servers run the same gunicorn configuration on this machine; the same load generator
(wrk, when installed, else a small Python one) sends the same signed body at the same
concurrency. Each request carries its own ``X-Shopify-Webhook-Id``, so every one is a new
delivery: signature check, durable insert, 200.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from flask import Flask

from connectors import shopify
from plugin.bench.measure import BENCH_SETTINGS

SHOP = "bench.myshopify.com"
SECRET = "bench-webhook-secret"
BODY = json.dumps(
    {
        "id": 820982911946154508,
        "email": "jon@example.com",
        "created_at": "2026-05-01T10:00:00-04:00",
        "updated_at": "2026-05-01T10:05:00-04:00",
        "total_price": "59.90",
        "currency": "USD",
        "customer": {"id": 115310627314723954, "email": "jon@example.com"},
        "line_items": [
            {"id": 1, "product_id": 2, "title": "Beans", "quantity": 2, "price": "29.95"}
        ],
    }
).encode()
HEADERS = {
    "Content-Type": "application/json",
    "X-Shopify-Topic": "orders/create",
    "X-Shopify-Shop-Domain": SHOP,
    "X-Shopify-Hmac-Sha256": shopify.sign(BODY, SECRET),
}
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = io.open(os.getenv("BENCH_BODY")):read("*a")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Connection"] = "close"
wrk.headers["X-Shopify-Topic"] = "orders/create"
wrk.headers["X-Shopify-Shop-Domain"] = os.getenv("BENCH_SHOP")
wrk.headers["X-Shopify-Hmac-Sha256"] = os.getenv("BENCH_HMAC")
local counter = 0
local thread_id = 0
function setup(thread) thread_id = thread_id + 1; thread:set("tid", thread_id) end
function request()
  counter = counter + 1
  wrk.headers["X-Shopify-Webhook-Id"] = "bench-" .. tid .. "-" .. counter .. "-" .. os.time()
  return wrk.format()
end
function done(summary, latency, requests)
  io.write(string.format('{"requests": %d, "seconds": %f, "errors": %d, "non2xx": %d, "p50_ms": %f, "p99_ms": %f}\\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def bare_app() -> Flask:
    """The floor: a Flask route that reads the body and answers 200."""
    app = Flask("bare")

    @app.post("/webhooks/shopify")
    def accept() -> tuple[str, int]:
        from flask import request

        request.get_data()
        return "{}", 200

    return app


def nudge_app() -> Flask:
    from plugin import create_app

    return create_app()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare_database(url: str) -> None:
    from plugin import create_app
    from plugin.services import Services
    from plugin.storage.models import Shop

    services = Services.of(create_app({"DATABASE_URL": url, "EMBEDDED_WORKER": False}))
    with services.sessions() as session, session.begin():
        session.add(
            Shop(domain=SHOP, platform="shopify", webhook_secret=SECRET, settings=BENCH_SETTINGS)
        )
    services.engine.dispose()


def _serve(app_spec: str, env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind",
            f"127.0.0.1:{port}", "--log-level", "warning", app_spec,
        ],
        env={**os.environ, **env},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _all_workers_answer(port, workers):
            return process, port
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"gunicorn did not start for {app_spec}")


def _all_workers_answer(port: int, workers: int) -> bool:
    """True once a burst of requests is answered at once: every worker has loaded its app.

    The port opens before the workers import the app; load sent earlier would wait for
    that import and count it as the app's latency.
    """
    answered: list[float] = []

    def ask() -> None:
        started = time.perf_counter()
        connection = HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/webhooks/shopify")  # 405: a worker with the app
            connection.getresponse().read()
            answered.append(time.perf_counter() - started)
        except OSError:
            pass  # not up yet, or too slow to count: the next burst asks again
        finally:
            connection.close()

    burst = [threading.Thread(target=ask) for _ in range(workers * 4)]
    for thread in burst:
        thread.start()
    for thread in burst:
        thread.join()
    return len(answered) == len(burst) and max(answered) < 0.25


def _load_wrk(port: int, seconds: int, connections: int, folder: Path) -> dict[str, Any]:
    script, body = folder / "post.lua", folder / "body.json"
    script.write_text(WRK_SCRIPT)
    body.write_bytes(BODY)
    env = {
        **os.environ,
        "BENCH_BODY": str(body),
        "BENCH_SHOP": SHOP,
        "BENCH_HMAC": HEADERS["X-Shopify-Hmac-Sha256"],
    }
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), f"http://127.0.0.1:{port}/webhooks/shopify"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _load_python(port: int, seconds: int, connections: int) -> dict[str, Any]:
    """A fallback load generator: ``connections`` threads, one request at a time each."""
    latencies: list[float] = []
    failures = [0]
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def worker(n: int) -> None:
        mine, count = [], 0
        while time.monotonic() < deadline:
            count += 1
            headers = {**HEADERS, "X-Shopify-Webhook-Id": f"bench-{n}-{count}-{time.time_ns()}"}
            started = time.perf_counter()
            connection = HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("POST", "/webhooks/shopify", BODY, headers)
                status = connection.getresponse().status
            finally:
                connection.close()
            mine.append(time.perf_counter() - started)
            if status != 200:
                with lock:
                    failures[0] += 1
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "errors": 0,
        "non2xx": failures[0],
        "p50_ms": pick(0.5),
        "p99_ms": pick(0.99),
    }


ROUNDS = 2  # each server is loaded this many times, in turn; its best round counts


def run(seconds: int, connections: int = 16, workers: int = 2) -> dict[str, Any]:
    generator = "wrk" if shutil.which("wrk") else "python"
    results: dict[str, Any] = {
        "generator": generator,
        "connections": connections,
        "gunicorn_workers": workers,
        "rounds": ROUNDS,
    }
    with tempfile.TemporaryDirectory(prefix="nudge-bench-intake-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'intake.sqlite3'}"
        _prepare_database(url)
        servers = {}
        answered = {"bare": 0, "nudge": 0}  # over every round: each answered one is stored
        try:
            for name, spec, env in (
                ("bare", "plugin.bench.intake:bare_app()", {}),
                (
                    "nudge",
                    "plugin.bench.intake:nudge_app()",
                    {"NUDGE_DATABASE_URL": url, "NUDGE_EMBEDDED_WORKER": "0"},
                ),
            ):
                servers[name] = _serve(spec, env, workers)
            # Both servers up, loaded in turn (an idle one costs nothing): a noisy neighbour
            # on a shared machine then slows a round, not one server's only measurement.
            for _ in range(ROUNDS):
                for name, (_process, port) in servers.items():
                    if generator == "wrk":
                        result = _load_wrk(port, seconds, connections, folder)
                    else:
                        result = _load_python(port, seconds, connections)
                    result["requests_per_second"] = result["requests"] / result["seconds"]
                    answered[name] += result["requests"]
                    best = results.get(name)
                    if best is None or result["requests_per_second"] > best["requests_per_second"]:
                        results[name] = result
        finally:
            for process, _port in servers.values():
                process.terminate()
                process.wait(timeout=30)
        results["stored"] = _stored(url)
        results["answered"] = answered
    results["ratio"] = (
        results["nudge"]["requests_per_second"] / results["bare"]["requests_per_second"]
    )
    return results


def _stored(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        count = int(conn.execute(text("SELECT count(*) FROM deliveries")).scalar_one())
    engine.dispose()
    return count
