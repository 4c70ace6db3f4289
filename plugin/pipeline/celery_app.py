"""The Celery application: its settings, its periodic schedule, and the start-up checks.

Everything a task does is decided from the database: a task carries no payload and only
says "look now". Delays live in ``steps.due_at``; beat asks for due work every
``NUDGE_TICK_SECONDS``, so no message ever waits for a far-future ETA in Redis.
"""

from __future__ import annotations

import sys
from typing import Any

from celery import Celery, signals
from celery.worker import WorkController

from plugin.config import environment_settings

QUEUE = "nudge"


def make_celery(settings: dict[str, Any]) -> Celery:
    """A Celery app for ``settings``' broker, configured for work that must not be lost."""
    tick = float(settings["TICK_SECONDS"])
    sweep = float(settings["SWEEP_SECONDS"])
    # no broker: this app is only imported (a worker or beat refuses to start without one)
    app = Celery("nudge", broker=settings.get("BROKER_URL") or "redis://127.0.0.1:6379/0")
    app.conf.update(
        task_default_queue=QUEUE,
        # A task is acknowledged when it has finished, and given back to the broker if its
        # worker process dies: a crash re-runs it. Tasks claim their rows in the database,
        # so running one twice does nothing twice.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a busy worker does not hoard messages
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        # An unacknowledged message of a worker killed outright comes back after this;
        # beat's next tick has found the work in the database long before.
        broker_transport_options={"visibility_timeout": 3600},
        worker_hijack_root_logger=False,
        beat_schedule={
            # "expires": a tick not run before the next one is dropped, not piled up
            "inbox": _every(tick, "nudge.process_inbox"),
            "due-steps": _every(tick, "nudge.run_due"),
            "delivery": _every(tick, "nudge.deliver"),
            "sweeps": _every(sweep, "nudge.sweep"),
            # retention and token renewal: hourly is plenty (days count, not seconds)
            "retention": _every(sweep, "nudge.purge"),
            "token-renewal": _every(sweep, "nudge.renew_tokens"),
        },
    )
    return app


def _every(seconds: float, task: str) -> dict[str, Any]:
    return {"task": task, "schedule": seconds, "options": {"expires": seconds}}


settings = environment_settings()
app = make_celery(settings)


def refuse_to_start(sender: Any = None, **_: Any) -> None:
    """Before a worker or beat started from the command line: exit, saying what to do, when
    no broker is set or the database schema is behind the code."""
    from celery.apps.worker import Worker

    from plugin import create_app
    from plugin.dev_clock import DevClockRefused
    from plugin.services import Services
    from plugin.storage.schema import SchemaOutdated

    if getattr(sender, "app", None) is not app:
        return  # another Celery app in this process
    if isinstance(sender, WorkController) and not isinstance(sender, Worker):
        return  # a worker embedded in a test, which brings its own services
    try:
        if not settings.get("BROKER_URL"):
            raise ValueError("NUDGE_BROKER_URL is not set: workers and beat need the broker")
        flask_app = create_app()
    except (SchemaOutdated, DevClockRefused, ValueError) as exc:
        print(f"nudge: refusing to start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None  # Celery logs and ignores other exceptions in signals
    # a prefork worker forks after this: its children must not share these connections
    Services.of(flask_app).dispose()


def tune_worker(sender: Any = None, **_: Any) -> None:
    """A worker started from the command line sets up its garbage collector before its
    pool forks (plugin.pipeline.worker.tune_collector): the children inherit it."""
    from celery.apps.worker import Worker

    from plugin.pipeline.worker import tune_collector

    if isinstance(sender, Worker) and getattr(sender, "app", None) is app:
        tune_collector()


signals.worker_init.connect(refuse_to_start, weak=False)
signals.worker_init.connect(tune_worker, weak=False)
signals.beat_init.connect(refuse_to_start, weak=False)
