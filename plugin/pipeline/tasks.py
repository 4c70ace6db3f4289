"""The pipeline as Celery tasks: ``celery -A plugin.pipeline.tasks worker`` and ``... beat``.

With ``NUDGE_BROKER_URL`` set, the web process stores each webhook and enqueues
``nudge.process_inbox``; workers do the rest, and beat re-asks every tick, so a lost
message only delays work. Every task is idempotent: it claims what is due in the
database (a claim is atomic; see plugin.storage.db.claim_rows and plugin.pipeline.delivery) and finds
nothing to do when the work is already done. A worker killed mid-task loses nothing:
its transaction rolls back (inbox, steps) or its claim's lease runs out (outbox).

Applying deliveries and enrolling (inbox, sweeps) happens in one worker at a time, and so
does deciding due steps: both read across a customer's rows (is an episode already open
for this checkout? when did this customer last get a marketing email?) before writing,
which two transactions at once could both answer "no". A PostgreSQL advisory lock keeps
each stage in one worker, in arrival order, as the embedded worker does; sending, the
slow part, runs in every worker at once. SQLite serializes writers by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from sqlalchemy import func, select

from plugin.pipeline.celery_app import app, make_celery
from plugin.pipeline.delivery import deliver_pending
from plugin.pipeline.due_steps import run_due
from plugin.pipeline.inbox import process_inbox
from plugin.pipeline.recommender import refresh_models
from plugin.pipeline.retention import purge
from plugin.pipeline.worker import sweep_all
from plugin.services import Services
from plugin.shopify_app.tokens import renew_due
from plugin.storage.models import Delivery, Step

__all__ = ["app", "bind", "enqueue"]

log = logging.getLogger(__name__)

# pg advisory lock keys ("nudg" + a stage number): one worker per stage at a time
ENROLLMENT_LOCK = 0x6E756467_0001
DECISION_LOCK = 0x6E756467_0002

# how often a task looks again after releasing its lock (work that arrives later still
# has its own message, and beat's tick)
ROUNDS = 50

QUEUED = "nudge:queued:"  # + task name: a message for it waits in the queue
QUEUED_FOR = 60  # seconds; a mark whose message was lost expires (beat covers meanwhile)

_services: Services | None = None
_senders: dict[str, Celery] = {}
_redis: dict[str, Any] = {}


def bind(services: Services | None) -> None:
    """Use ``services`` in this process's tasks (tests; workers build their own)."""
    global _services
    _services = services


def worker_services() -> Services:
    """This worker process's app services, created on its first task (after any fork)."""
    global _services
    if _services is None:
        from plugin import create_app

        _services = Services.of(create_app())
    return _services


def enqueue(settings: dict[str, Any], task: str) -> None:
    """Ask the workers to look for work now, unless that request is already queued.

    A task that looks "now" covers everything stored before it starts, so one queued
    message per task is enough: a burst of webhooks makes one message, not thousands. The
    mark is cleared when the task starts (``_started``), before it looks. A broker that is
    down only delays the work until beat's next tick finds it in the database.
    """
    url = settings["BROKER_URL"]
    try:
        marks = _marks(url)
        if marks is not None and not marks.set(QUEUED + task, 1, nx=True, ex=QUEUED_FOR):
            return  # already asked, and not started yet
        sender = app if url == app.conf.broker_url else _senders.get(url)
        if sender is None:
            sender = _senders[url] = make_celery(settings)
        sender.send_task(task, retry=False)
    except Exception:  # the webhook is stored; never fail its request over the broker
        log.warning("could not enqueue %s; beat's next tick will find the work", task)


def _marks(url: str) -> Any:
    """A Redis client on the broker, where "already queued" marks are kept (None when the
    broker is not Redis: then every request is sent)."""
    if not url.startswith(("redis://", "rediss://")):
        return None
    if url not in _redis:
        import redis

        _redis[url] = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    return _redis[url]


def _started(services: Services, task: str) -> None:
    """Clear the task's "already queued" mark: what arrives from now on asks again."""
    marks = _marks(services.settings.get("BROKER_URL") or "")
    if marks is not None:
        marks.delete(QUEUED + task)


@contextmanager
def exclusive(services: Services, key: int, wait: bool = False) -> Iterator[bool]:
    """Hold a PostgreSQL advisory lock for the block; yields False if another worker holds
    it (and ``wait`` is off). The lock lives on its own connection, so it is released if
    the process dies. SQLite needs none: its writers already take turns."""
    if services.engine.dialect.name != "postgresql":
        yield True
        return
    with services.engine.connect() as connection:
        if wait:
            connection.execute(select(func.pg_advisory_lock(key)))
            held = True
        else:
            held = bool(connection.scalar(select(func.pg_try_advisory_lock(key))))
        connection.commit()
        try:
            yield held
        finally:
            if held:
                connection.execute(select(func.pg_advisory_unlock(key)))
                connection.commit()


def _pending_deliveries(services: Services) -> bool:
    with services.sessions() as session:
        return (
            session.scalar(select(Delivery.id).where(Delivery.status == "pending").limit(1))
            is not None
        )


def _due_steps(services: Services) -> bool:
    now = services.now()
    with services.sessions() as session:
        due = (Step.state == "pending") & (Step.due_at <= now)
        return session.scalar(select(Step.id).where(due).limit(1)) is not None


@app.task(name="nudge.process_inbox")
def process_inbox_task() -> int:
    """Turn stored webhooks into facts and enrollments, then ask for the due steps."""
    services = worker_services()
    _started(services, "nudge.process_inbox")
    processed = 0
    for _ in range(ROUNDS):
        with exclusive(services, ENROLLMENT_LOCK) as held:
            if not held:
                break  # the holder looks again after releasing (below), so nothing waits
            processed += process_inbox(services, services.now()).processed
            # the models count the orders just stored, one worker at a time (under the lock)
            refresh_models(services, services.now())
        # a delivery stored while the lock was held had its task turned away: look again
        if not _pending_deliveries(services):
            break
    if processed:
        enqueue(services.settings, "nudge.run_due")
    return processed


@app.task(name="nudge.sweep")
def sweep_task() -> int:
    """Enroll customers found by the time-triggered workflows' sweeps."""
    services = worker_services()
    with exclusive(services, ENROLLMENT_LOCK, wait=True):  # hourly: waiting is cheap
        swept = sweep_all(services, services.now())
    if swept:
        enqueue(services.settings, "nudge.run_due")
    return swept


@app.task(name="nudge.run_due")
def run_due_task() -> int:
    """Decide every step that is due now; then ask for delivery of what they wrote."""
    services = worker_services()
    _started(services, "nudge.run_due")
    fired = 0
    for _ in range(ROUNDS):
        with exclusive(services, DECISION_LOCK) as held:
            if not held:
                break  # the holder looks again after releasing
            fired += run_due(services, services.now()).fired
        if not _due_steps(services):
            break
    if fired:
        enqueue(services.settings, "nudge.deliver")
    return fired


@app.task(name="nudge.deliver")
def deliver_task() -> int:
    """Send every outbox row that is ready; any number of workers share the rows."""
    services = worker_services()
    _started(services, "nudge.deliver")
    stats = deliver_pending(services, services.now())
    return stats.sent + stats.kept + stats.recorded


@app.task(name="nudge.purge")
def purge_task() -> int:
    """Delete applied webhook bodies and page views past their retention periods."""
    services = worker_services()
    purged = purge(services, services.now())
    return purged.deliveries + purged.page_views


@app.task(name="nudge.renew_tokens")
def renew_tokens_task() -> int:
    """Renew every Shopify token pair whose refresh token lapses soon, or that must carry
    newly granted scopes."""
    services = worker_services()
    return renew_due(services, services.now()).renewed
