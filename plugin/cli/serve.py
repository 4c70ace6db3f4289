"""`nudge serve`: the web app on gunicorn, with the embedded worker and scheduler.

Gunicorn runs one worker process, its requests on threads; that process also runs the
embedded worker (none when a broker is set: Celery workers do that work), so a webhook's
request wakes it directly and there is exactly one. The app is made in the master first,
so a refused setting stops the start before anything forks. The worker process dies with
the master (Linux): a `nudge serve` killed with SIGKILL leaves nothing behind that holds
the port or goes on sending, as when it was one process. ``--dev`` runs Werkzeug's
development server instead, in one process.
"""

from __future__ import annotations

import ctypes
import os
import signal
from typing import Any

import click
from flask import Flask

from plugin.cli.loading import load_app
from plugin.config import setting_warnings
from plugin.pipeline.worker import EmbeddedWorker, embedded_worker_wanted
from plugin.services import Services

# Requests served at once. One process: SQLite has one writer, and the embedded worker must
# be alone; threads are enough for webhooks, which are stored and answered in microseconds.
THREADS = 8
# How long a stopping server lets the embedded worker finish its pass.
WORKER_STOP_SECONDS = 10
PR_SET_PDEATHSIG = 1  # prctl(2)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--dev", is_flag=True, help="Werkzeug's development server instead of gunicorn.")
def serve(host: str, port: int, dev: bool) -> None:
    """Run the web app with the embedded worker and scheduler (none with a broker set)."""
    app = load_app()
    services = Services.of(app)
    embedded = embedded_worker_wanted(services.settings)
    server = (
        "Werkzeug's development server (--dev: not for production)"
        if dev
        else f"gunicorn, one worker process with {THREADS} threads"
    )
    pipeline = (
        "the embedded worker and scheduler in it"
        if embedded
        else "no embedded worker (NUDGE_BROKER_URL is set: Celery workers run the pipeline)"
    )
    click.echo(f"nudge serve: {server}; {pipeline}", err=True)
    click.echo(f"nudge serve: listening on http://{bind_address(host, port)}", err=True)
    for warning in setting_warnings(services.settings):
        click.echo(f"warning: {warning.message}", err=True)
    if dev:
        serve_development(app, services, host, port, embedded)
    else:
        services.dispose()  # before the fork: the worker process opens its own connections
        run_gunicorn(app, gunicorn_options(services, host, port, embedded))


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def serve_development(app: Flask, services: Services, host: str, port: int, embedded: bool) -> None:
    from werkzeug.serving import run_simple

    worker = start_worker(services) if embedded else None
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        if worker is not None:
            worker.stop()


def start_worker(services: Services) -> EmbeddedWorker:
    worker = EmbeddedWorker(services, float(services.settings["WORKER_INTERVAL_SECONDS"]))
    worker.start()
    return worker


def gunicorn_options(services: Services, host: str, port: int, embedded: bool) -> dict[str, Any]:
    """Gunicorn's settings: one worker process, threads, and the embedded worker's hooks."""
    running: list[EmbeddedWorker] = []  # the worker process's own, once it has started it

    def post_fork(server: Any, _worker: Any) -> None:
        die_with_master(server.pid)

    def post_worker_init(_worker: Any) -> None:
        if embedded:
            running.append(start_worker(services))

    def worker_exit(_server: Any, _worker: Any) -> None:
        for thread in running:
            thread.stop()
            thread.join(WORKER_STOP_SECONDS)

    return {
        "bind": [bind_address(host, port)],
        "workers": 1,
        "worker_class": "gthread",
        "threads": THREADS,
        "preload_app": True,  # made (and its settings checked) in the master, before forking
        "accesslog": "-",
        "proc_name": "nudge",
        # gunicorn's control socket is one per user ($HOME/.gunicorn): two servers would share it
        "control_socket_disable": True,
        "post_fork": post_fork,
        "post_worker_init": post_worker_init,
        "worker_exit": worker_exit,
    }


def die_with_master(master_pid: int) -> None:
    """Have the kernel kill this process when the master dies (Linux's PR_SET_PDEATHSIG).

    Elsewhere gunicorn's worker notices within a second that its master is gone and exits.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != master_pid:  # the master died before the request was made
        os._exit(1)


def run_gunicorn(app: Flask, options: dict[str, Any]) -> None:
    """Run gunicorn from code (its ``BaseApplication``) on an app already made."""
    from gunicorn.app.base import BaseApplication  # only `serve` pays for importing it

    class NudgeServer(BaseApplication):  # type: ignore[misc]  # gunicorn has no type hints
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return app

    NudgeServer().run()
