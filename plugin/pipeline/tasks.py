"""The pipeline as Celery tasks: ``celery -A plugin.pipeline.tasks worker`` and ``... beat``.

With ``NUDGE_BROKER_URL`` set, the web process stores each webhook and enqueues
``nudge.process_inbox``; workers do the rest, and beat re-asks every tick, so a lost
message only delays work. Every task is idempotent: it claims what is due in the
database (a claim is atomic; see plugin.storage.db.claim_rows and plugin.pipeline.delivery) and finds
nothing to do when the work is already done. A worker killed mid-task loses nothing:
its transaction rolls back (inbox, steps) or its claim's lease runs out (outbox).

Applying deliveries and enrolling (inbox, sweeps) and deciding due steps read across a
customer's rows (is an episode already open for this checkout? when did this customer last
get a marketing email?) before writing, which two transactions at once could both answer
"no". Everything they read belongs to one shop, so shops are split into partitions
(plugin.pipeline.partitions): a partition is worked on by one worker at a time, under a
PostgreSQL advisory lock per stage and partition, in arrival order, as the embedded worker
does; different partitions go on in every worker at once, and so does sending. SQLite
serializes writers by itself.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery

from plugin.pipeline import partitions
from plugin.pipeline.celery_app import app, make_celery
from plugin.pipeline.delivery import deliver_pending
from plugin.pipeline.recommender import refresh_models
from plugin.pipeline.retention import purge
from plugin.services import Services
from plugin.shopify_app.tokens import renew_due

__all__ = ["app", "bind", "enqueue"]

log = logging.getLogger(__name__)

# how long a task goes round the partitions before handing the rest to a fresh message (a
# long backlog then never holds one message for hours)
TASK_SECONDS = 60.0

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
        _sender(settings).send_task(task, retry=False)
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


def _sender(settings: dict[str, Any]) -> Celery:
    """A Celery app on ``settings``' broker, made once per broker."""
    url = settings["BROKER_URL"]
    sender = app if url == app.conf.broker_url else _senders.get(url)
    if sender is None:
        sender = _senders[url] = make_celery(settings)
    return sender


def _send(settings: dict[str, Any], task: str, args: list[Any]) -> None:
    """Send ``task`` with ``args`` (no "already queued" mark: each one is its own work)."""
    try:
        _sender(settings).send_task(task, args=args, retry=False)
    except Exception:  # beat's next sweep asks again
        log.warning("could not send %s%s", task, args)


@app.task(name="nudge.process_inbox")
def process_inbox_task() -> int:
    """Turn stored webhooks into facts and enrollments, partition by partition, then ask
    for the due steps."""
    services = worker_services()
    _started(services, "nudge.process_inbox")
    done = partitions.apply_inbox(services, TASK_SECONDS)
    # the models count the orders just stored; two workers refreshing one shop's model at
    # once is safe: the later one finds it overtaken (plugin.pipeline.recommender)
    refresh_models(services, services.now())
    if done.unfinished:
        enqueue(services.settings, "nudge.process_inbox")
    if done.done:
        enqueue(services.settings, "nudge.run_due")
    return done.done


@app.task(name="nudge.sweep")
def sweep_task() -> int:
    """Ask for the sweeps of every partition that has an active shop, each a task of its
    own, so that all workers sweep at once."""
    services = worker_services()
    wanted = partitions.active_partitions(services)
    for partition in wanted:
        _send(services.settings, "nudge.sweep_partition", [partition])
    return len(wanted)


@app.task(name="nudge.sweep_partition")
def sweep_partition_task(partition: int) -> int:
    """Enroll the customers found by the sweeps of one partition's shops."""
    services = worker_services()
    swept = partitions.sweep_partition(services, partition)
    if swept:
        enqueue(services.settings, "nudge.run_due")
    return swept


@app.task(name="nudge.run_due")
def run_due_task() -> int:
    """Decide the steps that are due now, partition by partition; then ask for delivery
    of what they wrote."""
    services = worker_services()
    _started(services, "nudge.run_due")
    done = partitions.decide_due(services, TASK_SECONDS)
    if done.unfinished:
        enqueue(services.settings, "nudge.run_due")
    if done.done:
        enqueue(services.settings, "nudge.deliver")
    return done.done


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
