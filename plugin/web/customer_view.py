"""The settings page's customer view and the editor's impact preview, as JSON.

- ``GET /api/customers/explain?email=`` — every workflow for one customer of the session
  token's shop: enrolled or why not, each decision with its values, each message's state.
- ``POST /api/workflows/<name>/backtest`` — ``{"definition": {...}, "days": N}`` (both
  optional): the last N days of stored facts replayed through the live definition and the
  draft, before the draft is saved. Nothing is sent or written.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request

from connectors import untrusted_json
from connectors.untrusted_json import UnreadableJson
from plugin.pipeline.backtest import BacktestUnsupported, backtest
from plugin.pipeline.explain import CustomerUnknown, explain_customer
from plugin.services import Services
from plugin.shop_settings.workflows import shop_workflows
from plugin.web.merchant_auth import require_merchant
from rules.definitions import WorkflowInvalid, parse_workflow

bp = Blueprint("customer_view", __name__, url_prefix="/api")

MAX_EMAIL = 320
DEFAULT_DAYS, MAX_DAYS = 60, 365


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _error(status: int, message: str, **extra: Any):  # type: ignore[no-untyped-def]
    response = jsonify(error=message, **extra)
    response.status_code = status
    return response


@bp.errorhandler(UnreadableJson)
def _unreadable(exc: UnreadableJson):  # type: ignore[no-untyped-def]
    return _error(400, f"malformed JSON body: {exc}")


@bp.get("/customers/explain")
@require_merchant
def explain():  # type: ignore[no-untyped-def]
    email = (request.args.get("email") or "").strip()
    if "@" not in email or len(email) > MAX_EMAIL or not email.isprintable():
        return _error(422, "email: an email address")
    services = Services.of(current_app)
    with services.sessions() as session:
        try:
            result = explain_customer(session, g.shop, email, services.now())
        except CustomerUnknown:
            return _error(
                404, "not found", detail="no customer, checkout or order has that address"
            )
    return jsonify(result)


@bp.post("/workflows/<name>/backtest")
@require_merchant
def preview_impact(name: str):  # type: ignore[no-untyped-def]
    raw = request.get_data()
    body = untrusted_json.parse(raw) if raw.strip() else {}  # a 400 for what is not JSON
    if not isinstance(body, dict):
        return _error(422, "body: expected a JSON object")
    days = body.get("days", DEFAULT_DAYS)
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        return _error(422, f"days: a whole number from 1 to {MAX_DAYS}")
    services = Services.of(current_app)
    with services.sessions() as session:
        current = shop_workflows(session, g.shop.id).get(name)
        if current is None:
            return _error(404, "not found", detail=name)
        draft = None
        if "definition" in body:
            definition = body["definition"]
            if not isinstance(definition, dict) or definition.get("name") != name:
                return _error(422, f"definition: a definition of {name!r}")
            try:
                draft = parse_workflow(definition)
            except WorkflowInvalid as exc:
                return _error(422, "invalid", errors=exc.errors)
        try:
            result = backtest(session, g.shop.id, current.workflow, draft, days, services.now())
        except BacktestUnsupported as exc:
            return _error(422, str(exc))
    return jsonify(result)
