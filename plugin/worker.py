"""The embedded worker: inbox, sweeps, due steps and delivery, in one loop."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from plugin.delivery import DeliveryStats, deliver_pending
from plugin.enrollment import sweep
from plugin.inbox import InboxStats, process_inbox
from plugin.models import Shop
from plugin.services import Services
from plugin.steps import RunStats, run_due

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
        with services.sessions() as session, session.begin():
            total += sweep(session, session.get_one(Shop, shop_id), now)
    return total


def run_once(services: Services, now: datetime | None = None, sweeps: bool = True) -> PassStats:
    """Do everything that is due by ``now``, in pipeline order."""
    now = now or services.now()
    inbox = process_inbox(services, now)
    swept = sweep_all(services, now) if sweeps else 0
    steps = run_due(services, now)
    delivery = deliver_pending(services, now)
    return PassStats(inbox, swept, steps, delivery)


def embedded_worker_wanted(settings: dict[str, Any]) -> bool:
    """With a broker, Celery workers run the pipeline (plugin.tasks): the web process
    only stores and enqueues."""
    return bool(settings.get("EMBEDDED_WORKER")) and not settings.get("BROKER_URL")


class EmbeddedWorker(threading.Thread):
    """Run the pipeline continuously on the real clock, inside the web process."""

    def __init__(
        self, services: Services, interval: float, sweep_every: timedelta = timedelta(hours=1)
    ):
        super().__init__(name="nudge-worker", daemon=True)
        self.services = services
        self.interval = interval
        self.sweep_every = sweep_every
        self.stopping = threading.Event()

    def run(self) -> None:
        last_sweep: datetime | None = None
        while not self.stopping.is_set():
            now = self.services.now()
            do_sweep = last_sweep is None or now - last_sweep >= self.sweep_every
            try:
                run_once(self.services, now, sweeps=do_sweep)
                if do_sweep:
                    last_sweep = now
            except Exception:  # keep the worker alive; the failed work stays pending
                log.exception("worker pass failed")
            self.services.work_arrived.wait(self.interval)
            self.services.work_arrived.clear()

    def stop(self) -> None:
        self.stopping.set()
        self.services.work_arrived.set()
