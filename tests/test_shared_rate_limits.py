"""Storefront rate limits shared across processes: token buckets on the broker's Redis, the
same arithmetic as the in-memory default; Redis out of reach falls back to this process's."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from plugin.storefront.rate_limit import Rate, RedisTokenBuckets, TokenBuckets, buckets_for
from plugin.storefront.routes import PER_VISITOR
from tests.support.network import free_port
from tests.support.processes import Processes
from tests.support.scale_services import redis_url

REDIS_DB = 12  # test_celery uses 15, the scale integration test 14, the README's 13
SLOW_REFILL = Rate(burst=5, per_second=0.01)  # nothing refills within a test


def test_the_buckets_follow_the_broker():
    assert isinstance(buckets_for({"BROKER_URL": None}), TokenBuckets)
    assert isinstance(buckets_for({"BROKER_URL": "redis://127.0.0.1:6379/0"}), RedisTokenBuckets)


def test_two_processes_buckets_on_redis_share_one_limit():
    url = redis_url(REDIS_DB)
    first, second = RedisTokenBuckets(url), RedisTokenBuckets(url)  # as two workers hold them
    taken = [first.take(("visitor", "shop", "v1"), SLOW_REFILL) for _ in range(3)]
    taken += [second.take(("visitor", "shop", "v1"), SLOW_REFILL) for _ in range(3)]
    assert taken[:5] == [0.0] * 5
    # the sixth waits for one token at the refill rate, as the in-memory bucket says
    assert 99 < taken[5] <= 100
    assert second.take(("visitor", "shop", "v2"), SLOW_REFILL) == 0.0  # others are not held up


def test_the_redis_bucket_refills_as_the_in_memory_one_does():
    url = redis_url(REDIS_DB)
    shared = RedisTokenBuckets(url)
    fast = Rate(burst=2, per_second=20)
    assert [shared.take("k", fast) for _ in range(2)] == [0.0, 0.0]
    assert 0 < shared.take("k", fast) <= 0.05
    time.sleep(0.1)  # two tokens' worth
    assert shared.take("k", fast) == 0.0


def test_redis_out_of_reach_limits_in_this_process(caplog):
    caplog.set_level(logging.WARNING, logger="plugin.storefront.rate_limit")  # whatever an
    # earlier test left the logging at
    unreachable = RedisTokenBuckets(f"redis://127.0.0.1:{free_port()}/0")
    taken = [unreachable.take("k", SLOW_REFILL) for _ in range(6)]
    assert taken[:5] == [0.0] * 5 and taken[5] > 0
    assert "Redis did not answer" in caplog.text


SHOP = "limits.myshopify.com"
VISITOR_BURST = int(PER_VISITOR.burst)


@pytest.mark.slow
def test_two_gunicorn_workers_allow_one_visitor_what_one_worker_would(tmp_path):
    broker = redis_url(REDIS_DB)
    # one server of two workers, as the Procfile runs it (the kernel picks which worker
    # takes each connection, so this alone cannot show that both took part)
    allowed, seconds = flood(tmp_path / "workers", broker, servers=1, workers=2)
    assert VISITOR_BURST <= allowed <= VISITOR_BURST + refills(seconds)
    # two servers of one worker each, the flood alternating between them: each process
    # takes half of it for certain
    allowed, seconds = flood(tmp_path / "servers", broker, servers=2, workers=1)
    assert VISITOR_BURST <= allowed <= VISITOR_BURST + refills(seconds)
    # the same without Redis: each process keeps a bucket of its own
    allowed, _ = flood(tmp_path / "per-process", None, servers=2, workers=1)
    assert allowed >= 2 * VISITOR_BURST


def refills(seconds: float) -> int:
    """Tokens one bucket can regain while a flood runs (0.5 a second; on a loaded machine
    the flood can take seconds), and one that may land as it starts."""
    return 1 + math.floor(seconds * PER_VISITOR.per_second)


def flood(folder: Path, broker: str | None, *, servers: int, workers: int) -> tuple[int, float]:
    """Requests of one visitor's flood that the servers let through, and the seconds it took
    (a visitor of its own each time, so the buckets an earlier flood left in Redis do not
    count)."""
    folder.mkdir()
    bin_dir = Path(sys.executable).parent
    env = {name: value for name, value in os.environ.items() if not name.startswith("NUDGE_")}
    env |= {
        "NUDGE_DATABASE_URL": f"sqlite:///{folder / 'nudge.sqlite3'}",
        "NUDGE_SECRET_KEY": "limits-secret-0123456789abcdef-0123456789abcdef",
        "NUDGE_EMBEDDED_WORKER": "0",
    }
    if broker:
        env["NUDGE_BROKER_URL"] = broker
    added = subprocess.run(
        [str(bin_dir / "nudge"), "shop", "add", SHOP],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert added.returncode == 0, added.stderr
    processes = Processes(env, folder)
    bases = []
    for server in range(servers):
        port = free_port()
        bind = f"127.0.0.1:{port}"
        gunicorn = [str(bin_dir / "gunicorn"), "-w", str(workers), "-b", bind]
        processes.start(f"web{server}", *gunicorn, "plugin:create_app()")
        bases.append(f"http://127.0.0.1:{port}")
    try:
        for server, base in enumerate(bases):
            processes.wait_healthy(base, f"web{server}")
        visitor = f"flooding-visitor-{folder.name}"
        body = json.dumps({"vid": visitor, "type": "page_view", "path": "/"})

        def post(number: int) -> int:
            url = f"{bases[number % servers]}/storefront/{SHOP}/events"
            headers = {"Content-Type": "text/plain", "Connection": "close"}
            return requests.post(url, data=body, headers=headers, timeout=10).status_code

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(post, range(100)))
        seconds = time.monotonic() - started
        processes.check_alive()
    finally:
        processes.stop()
    assert set(codes) <= {200, 429}, codes
    return codes.count(200), seconds
