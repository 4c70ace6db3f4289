"""In-memory token buckets: how the storefront endpoints stay cheap under abuse.

Per process (each gunicorn worker keeps its own), so a limit of N is N per worker; fine
for a flood guard, not an exact quota. A shared limit would live in Redis.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """A bucket of ``burst`` tokens refilled at ``per_second``."""

    burst: float
    per_second: float


class TokenBuckets:
    """Buckets by key; the least recently used are forgotten beyond ``max_keys``."""

    def __init__(self, max_keys: int = 50_000, clock: Callable[[], float] = time.monotonic):
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_keys = max_keys
        self._clock = clock

    def take(self, key: Hashable, rate: Rate) -> float:
        """Take one token; return 0 when allowed, else the seconds until one is free."""
        now = self._clock()
        with self._lock:
            tokens, stamp = self._buckets.pop(key, (rate.burst, now))
            tokens = min(rate.burst, tokens + (now - stamp) * rate.per_second)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / rate.per_second
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        return wait
