"""Token buckets: how the storefront endpoints stay cheap under abuse.

The single-process default keeps them in memory (``TokenBuckets``). At scale, with a Redis
broker, they live in Redis (``RedisTokenBuckets``), one bucket per key for every gunicorn
worker and machine: four workers allow what one would, not four times it. Both fill and
drain alike, so a limit means the same thing in either.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rate:
    """A bucket of ``burst`` tokens refilled at ``per_second``."""

    burst: float
    per_second: float


class Buckets(Protocol):
    def take(self, key: Hashable, rate: Rate) -> float:
        """Take one token; return 0 when allowed, else the seconds until one is free."""
        ...


class TokenBuckets:
    """Buckets by key in this process's memory; the least recently used are forgotten beyond ``max_keys``."""

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


# One bucket, refilled and taken from in one atomic step on the Redis server, on the
# server's clock (the web's machines need not agree on the time). The same arithmetic as
# TokenBuckets.take; a bucket left alone until it would be full again expires.
_TAKE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local burst, per_second = tonumber(ARGV[1]), tonumber(ARGV[2])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(held[1]) or burst
local stamp = tonumber(held[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * per_second)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / per_second end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / per_second) + 1)
return tostring(wait)
"""
KEY_PREFIX = "nudge:rate:"


class RedisTokenBuckets:
    """Buckets shared by every process that uses the same Redis database.

    Redis out of reach must not turn a flood guard into errors: the buckets of this
    process then stand in (limits per process, as in the default) until it answers again.
    """

    def __init__(self, url: str, fallback: TokenBuckets | None = None):
        import redis

        self._errors = redis.RedisError
        self._client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self._take: Any = self._client.register_script(_TAKE)
        self._fallback = fallback or TokenBuckets()

    def take(self, key: Hashable, rate: Rate) -> float:
        name = KEY_PREFIX + ":".join(str(part) for part in _parts(key))
        try:
            return float(self._take(keys=[name], args=[rate.burst, rate.per_second]))
        except self._errors as exc:
            log.warning("rate limits in this process only; Redis did not answer: %s", exc)
            return self._fallback.take(key, rate)


def _parts(key: Hashable) -> tuple[object, ...]:
    return key if isinstance(key, tuple) else (key,)


def buckets_for(settings: dict[str, Any]) -> Buckets:
    """Shared buckets on the broker's Redis when there is one; this process's otherwise."""
    broker = settings.get("BROKER_URL") or ""
    if broker.startswith(("redis://", "rediss://")):
        return RedisTokenBuckets(broker)
    return TokenBuckets()
