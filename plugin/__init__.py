"""Nudge, the store app: Flask app factory wiring connectors to rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify, request
from flask.sessions import SecureCookieSessionInterface

from plugin.config import SettingRefused, load_config
from plugin.dev_clock import DevClockRefused, clock_from_settings
from plugin.services import Services


class NoCookieSessions(SecureCookieSessionInterface):
    """Flask's cookie sessions, never opened: every request gets the read-only null session."""

    def open_session(self, app: Flask, request: Any) -> Any:
        return self.make_null_session(app)


def _dev_clock(settings: dict[str, Any]) -> Any:
    """The development clock the settings ask for; any problem with it is a refused setting."""
    try:
        return clock_from_settings(settings)
    except DevClockRefused as exc:
        raise SettingRefused(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise SettingRefused(
            f"NUDGE_DEV_CLOCK_FILE is {settings['DEV_CLOCK_FILE']}, which does not hold a time "
            f"({exc}): write one ISO-8601 time in it, or unset it"
        ) from None


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the app: defaults, then NUDGE_* environment variables, then ``config``."""
    app = Flask(__name__, instance_relative_config=True)
    settings = load_config(app.instance_path, config)
    app.config.update(settings)
    app.config["MAX_CONTENT_LENGTH"] = settings["MAX_WEBHOOK_BYTES"]
    # Nudge keeps no Flask cookie session (the embedded admin authenticates every call with
    # Shopify's session token), so none is opened: a webhook request skips building a
    # signing serializer, and writing to `session` by mistake fails loudly.
    app.session_interface = NoCookieSessions()

    clock = _dev_clock(settings)  # before the database: a refusal leaves nothing open
    services = Services.init_app(app, settings)
    services.clock = clock or services.clock

    from plugin.shopify_app import install
    from plugin.storefront import proxy as storefront_proxy
    from plugin.storefront import routes as storefront
    from plugin.web import api, app_page, unsubscribe, webhooks
    from plugin.woocommerce_app import connect as woocommerce_connect
    from plugin.woocommerce_app import sessions as woocommerce_sessions

    webhooks.init_app(app)
    unsubscribe.init_app(app)
    api.init_app(app)
    app_page.init_app(app)
    storefront.init_app(app)
    storefront_proxy.init_app(app)
    install.init_app(app)
    woocommerce_connect.init_app(app)
    woocommerce_sessions.init_app(app)

    @app.before_request
    def refuse_nul_bytes():  # type: ignore[no-untyped-def]
        """A NUL byte in the URL, a header or the JSON of a form is never legitimate, and
        PostgreSQL refuses it in text: answer 400 before a route looks anything up with it."""
        environ = request.environ
        if (
            # the path (PATH_INFO, decoded), the raw query string and every header: the
            # environ's text values, read directly (building Headers costs more)
            any("\x00" in value for value in environ.values() if type(value) is str)
            or "%00" in environ.get("QUERY_STRING", "")
            # the settings page's JSON, stored as text (webhook bodies are kept raw and
            # verified first; the storefront reads its small bodies itself and refuses
            # control characters in every field)
            or (request.path.startswith("/api/") and b"\\u0000" in request.get_data())
        ):
            response = jsonify(error="malformed request: a NUL byte")
            response.status_code = 400
            return response
        return None

    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        Services.of(app).ping()
        return jsonify(status="ok")

    return app
