"""Shops split into partitions, so that the deciding stages run in many workers at once.

Applying webhooks and deciding due steps read across a customer's rows before writing (is
an episode already open for this checkout? when did this customer last get a marketing
email?), so two transactions about the same shop must not run at once. Everything they read
belongs to one shop; so each shop falls in one of ``PARTITIONS`` partitions, and a worker
works on a partition only while it holds that partition's PostgreSQL advisory lock (one lock
per stage and partition). Each shop's work stays in one worker at a time, in arrival order,
as in the embedded worker; different partitions go on in parallel.

A worker goes round the partitions that have work, taking one bounded batch per shop in each
(``rounds``): a shop with a backlog gets a batch per round like every other shop, so it
cannot starve them. Email events (SendGrid's batches mix shops; their deliveries name none)
are applied in a lane of their own.

The partition of a shop is its id modulo ``PARTITIONS``: ids are handed out in sequence, so
shops spread evenly, and every process computes the same partition (it is a constant of the
code, not a setting two processes could disagree on).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import func, select

from plugin.pipeline.due_steps import due_shops, run_due
from plugin.pipeline.inbox import NO_SHOP, Scope, pending_shops, process_inbox
from plugin.pipeline.worker import sweep_shop
from plugin.services import Services
from plugin.shopify_app import catalog_sync
from plugin.storage.models import Shop

log = logging.getLogger(__name__)

PARTITIONS = 64
EMAIL_LANE = PARTITIONS  # deliveries that name no shop (email events)

# PostgreSQL advisory lock keys: "nudg", then the stage, then the partition
_KEY_BASE = 0x6E756467 << 32
INBOX = 1  # applying webhooks and sweeps (both enroll)
DECISIONS = 2  # deciding due steps
CATALOG = 3  # moving the shops' catalog syncs on (one lock for all shops)


def partition_of(shop_id: int | None) -> int:
    """The partition whose worker handles ``shop_id``; the email lane for no shop."""
    return EMAIL_LANE if shop_id is None else shop_id % PARTITIONS


def lock_key(stage: int, partition: int) -> int:
    return _KEY_BASE | (stage << 16) | partition


def by_partition(shop_ids: Iterable[int | None]) -> dict[int, list[int | None]]:
    """Shops grouped by partition, each group in id order (no shop first)."""
    grouped: dict[int, list[int | None]] = {}
    for shop_id in sorted(set(shop_ids), key=lambda s: -1 if s is None else s):
        grouped.setdefault(partition_of(shop_id), []).append(shop_id)
    return grouped


def rotated(partitions: Iterable[int], start: int) -> list[int]:
    """``partitions`` in order, beginning at the first one from ``start`` on: workers start
    at different places, so they do not all queue for the same lock first."""
    ordered = sorted(partitions)
    return [p for p in ordered if p >= start] + [p for p in ordered if p < start]


@contextmanager
def exclusive(services: Services, key: int, wait: bool = False) -> Iterator[bool]:
    """Hold a PostgreSQL advisory lock for the block; yields False if another worker holds
    it (and ``wait`` is off). The lock lives on its own connection, so it is released if
    the process dies. SQLite needs none: its writers already take turns."""
    if services.engine.dialect.name != "postgresql":
        yield True
        return
    # autocommit: a session-level lock needs no transaction around it (no BEGIN or COMMIT
    # round trips, and no snapshot held open while the block runs)
    with services.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if wait:
            connection.execute(select(func.pg_advisory_lock(key)))
            held = True
        else:
            held = bool(connection.scalar(select(func.pg_try_advisory_lock(key))))
        try:
            yield held
        finally:
            if held:
                connection.execute(select(func.pg_advisory_unlock(key)))


@dataclass
class Rounds:
    """What ``rounds`` did: the work done, and whether it stopped with work left (its time
    was up: the caller asks again)."""

    done: int = 0
    unfinished: bool = False


def rounds(
    services: Services,
    stage: int,
    shops_with_work: Callable[[], Iterable[int | None]],
    one_batch: Callable[[int | None], int],
    seconds: float = 60.0,
) -> Rounds:
    """Go round the partitions that have work, one bounded batch per shop in each partition
    whose lock this worker gets, until a round finds no partition it can take.

    A partition held by another worker is left to it: the holder goes round again after
    releasing it (it did work in that round), and its next round sees what arrived while
    it held the lock. So work stored before this call starts is done by someone without
    waiting for beat, and work stored later has its own message.
    """
    result = Rounds()
    deadline = time.monotonic() + seconds
    start = random.randrange(PARTITIONS + 1)  # noqa: S311 (spreading workers, not secrecy)
    while True:
        work = by_partition(shops_with_work())
        took_any = False
        for partition in rotated(work, start):
            with exclusive(services, lock_key(stage, partition)) as held:
                if not held:
                    continue
                took_any = True
                for shop_id in work[partition]:
                    result.done += one_batch(shop_id)
        if not took_any:
            return result
        if time.monotonic() > deadline:
            result.unfinished = True
            return result


def apply_inbox(services: Services, seconds: float = 60.0) -> Rounds:
    """Apply the pending deliveries of every partition this worker can take."""

    def one_batch(shop_id: int | None) -> int:
        scope: Scope = NO_SHOP if shop_id is None else shop_id
        return process_inbox(services, services.now(), scope=scope, batches=1).processed

    done = rounds(services, INBOX, lambda: pending_shops(services), one_batch, seconds)
    with exclusive(services, lock_key(CATALOG, 0)) as held:
        if held:  # one worker moves the shops' catalog syncs on; the others need not wait
            try:
                catalog_sync.run_queued(services, services.now())
            except Exception:  # never holds the inbox up (plugin.pipeline.inbox)
                log.exception("catalog work failed; it is asked for again later")
    return done


def decide_due(services: Services, seconds: float = 60.0) -> Rounds:
    """Decide the due steps of every partition this worker can take."""

    def one_batch(shop_id: int | None) -> int:
        assert shop_id is not None  # every step belongs to a shop
        return run_due(services, services.now(), shop=shop_id, batches=1).fired

    return rounds(
        services, DECISIONS, lambda: due_shops(services, services.now()), one_batch, seconds
    )


def sweep_partition(services: Services, partition: int) -> int:
    """Run the sweeps of one partition's active shops, under its inbox lock (sweeping
    enrolls, as applying webhooks does); waits for the lock."""
    with exclusive(services, lock_key(INBOX, partition), wait=True):
        now = services.now()
        with services.sessions() as session:
            shop_ids = session.scalars(
                select(Shop.id).where(Shop.active.is_(True)).order_by(Shop.id)
            ).all()
        return sum(
            sweep_shop(services, shop_id, now)
            for shop_id in shop_ids
            if partition_of(shop_id) == partition
        )


def active_partitions(services: Services) -> list[int]:
    """The partitions that hold an active shop."""
    with services.sessions() as session:
        shop_ids = session.scalars(select(Shop.id).where(Shop.active.is_(True))).all()
    return sorted(by_partition(shop_ids))
