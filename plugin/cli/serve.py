"""`nudge serve`: the web app with the embedded worker and scheduler."""

from __future__ import annotations

import click

from plugin.cli.loading import load_app
from plugin.pipeline.worker import EmbeddedWorker, embedded_worker_wanted
from plugin.services import Services


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run the web app with the embedded worker and scheduler (none with a broker set)."""
    from werkzeug.serving import run_simple

    app = load_app()
    services = Services.of(app)
    worker = None
    if embedded_worker_wanted(services.settings):
        worker = EmbeddedWorker(services, float(services.settings["WORKER_INTERVAL_SECONDS"]))
        worker.start()
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        if worker is not None:
            worker.stop()
