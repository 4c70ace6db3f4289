"""The embedded worker: inbox, recommendation models, sweeps, due steps and delivery, in
one loop."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from plugin.pipeline.delivery import DeliveryStats, deliver_pending
from plugin.pipeline.due_steps import RunStats, run_due
from plugin.pipeline.inbox import InboxStats, process_inbox
from plugin.pipeline.recommender import refresh_models
from plugin.pipeline.retention import purge
from plugin.pipeline.sweeps import sweep
from plugin.results.ab_winners import pick_winners
from plugin.services import Services
from plugin.shopify_app.tokens import renew_due
from plugin.storage.batch import begin_batch
from plugin.storage.models import Shop

log = logging.getLogger(__name__)


@dataclass
class PassStats:
    """What one pass of the worker did."""

    inbox: InboxStats
    swept: int
    steps: RunStats
    delivery: DeliveryStats


def sweep_all(services: Services, now: datetime) -> int:
    """Run the time-triggered workflows' sweeps for every active shop."""
    total = 0
    with services.sessions() as session:
        shop_ids = session.scalars(select(Shop.id).where(Shop.active.is_(True))).all()
    for shop_id in shop_ids:
        total += sweep_shop(services, shop_id, now)
    return total


def sweep_shop(services: Services, shop_id: int, now: datetime) -> int:
    """Run one shop's time-triggered sweeps, in a transaction, then decide its A/B tests."""
    with begin_batch(services.sessions) as batch:
        swept = sweep(batch, batch.session.get_one(Shop, shop_id), now)
    with services.sessions() as session, session.begin():
        pick_winners(session, session.get_one(Shop, shop_id), now)
    return swept


def run_once(
    services: Services,
    now: datetime | None = None,
    sweeps: bool = True,
    inbox_done: Callable[[], None] | None = None,
) -> PassStats:
    """Do everything that is due by ``now``, in pipeline order; ``inbox_done`` is called
    between the inbox and the rest (the replay benchmark lets its intake go on then)."""
    now = now or services.now()
    inbox = process_inbox(services, now)
    if inbox_done is not None:
        inbox_done()
    refresh_models(services, now)  # before the sweeps and steps that read the models
    swept = sweep_all(services, now) if sweeps else 0
    steps = run_due(services, now)
    delivery = deliver_pending(services, now)
    return PassStats(inbox, swept, steps, delivery)


# Net new container objects between young collections; CPython's default is 700. A worker
# makes and drops tens of thousands per batch (rows, events, statements): at the default
# the collector ran thousands of times in a replay (docs/performance.md).
COLLECT_EVERY = 10_000


def tune_collector() -> None:
    """Set up the garbage collector for a process that runs the pipeline: collect less
    often, and leave what start-up made (modules, the app, compiled statements) out of
    full collections, which otherwise walk all of it each time (``gc.freeze``; before a
    prefork worker forks, it also keeps those pages shared)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(COLLECT_EVERY, 10, 10)


def embedded_worker_wanted(settings: dict[str, Any]) -> bool:
    """With a broker, Celery workers run the pipeline (plugin.pipeline.tasks): the web process
    only stores and enqueues."""
    return bool(settings.get("EMBEDDED_WORKER")) and not settings.get("BROKER_URL")


def upkeep(services: Services, now: datetime) -> None:
    """The periodic work beside the pipeline: old webhook bodies and page views purged
    (plugin.pipeline.retention), Shopify token pairs renewed before they lapse
    (plugin.shopify_app.tokens.renew_due). Celery beat runs each as a task of its own."""
    try:
        purge(services, now)
    finally:  # a failed purge must not keep a shop's token from being renewed
        renew_due(services, now)


class EmbeddedWorker(threading.Thread):
    """Run the pipeline continuously on the real clock, inside the web process; the sweeps
    and the upkeep once every ``sweep_every``."""

    def __init__(
        self, services: Services, interval: float, sweep_every: timedelta = timedelta(hours=1)
    ):
        super().__init__(name="nudge-worker", daemon=True)
        self.services = services
        self.interval = interval
        self.sweep_every = sweep_every
        self.stopping = threading.Event()

    def run(self) -> None:
        tune_collector()
        last_sweep: datetime | None = None
        last_upkeep: datetime | None = None
        while not self.stopping.is_set():
            now = self.services.now()
            do_sweep = last_sweep is None or now - last_sweep >= self.sweep_every
            try:
                run_once(self.services, now, sweeps=do_sweep)
                if do_sweep:
                    last_sweep = now
            except Exception:  # keep the worker alive; the failed work stays pending
                log.exception("worker pass failed")
            if last_upkeep is None or now - last_upkeep >= self.sweep_every:
                last_upkeep = now  # tried once an interval, whatever the outcome
                try:
                    upkeep(self.services, now)
                except Exception:
                    log.exception("upkeep failed")
            self.services.work_arrived.wait(self.interval)
            self.services.work_arrived.clear()

    def stop(self) -> None:
        self.stopping.set()
        self.services.work_arrived.set()
