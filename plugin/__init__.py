"""Nudge, the store app: Flask app factory wiring connectors to rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify

from plugin.config import load_config
from plugin.dev_clock import clock_from_settings
from plugin.services import Services


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the app: defaults, then NUDGE_* environment variables, then ``config``."""
    app = Flask(__name__, instance_relative_config=True)
    settings = load_config(app.instance_path, config)
    app.config.update(settings)
    app.config["MAX_CONTENT_LENGTH"] = settings["MAX_WEBHOOK_BYTES"]
    app.secret_key = settings["SECRET_KEY"]

    clock = clock_from_settings(settings)  # before the database: a refusal leaves nothing open
    services = Services.init_app(app, settings)
    services.clock = clock or services.clock

    from plugin import api, app_page, install, storefront, unsubscribe, webhooks

    webhooks.init_app(app)
    unsubscribe.init_app(app)
    api.init_app(app)
    app_page.init_app(app)
    storefront.init_app(app)
    install.init_app(app)

    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        Services.of(app).ping()
        return jsonify(status="ok")

    return app
