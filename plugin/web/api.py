"""The JSON API behind the settings page. Every route is scoped to the shop of the session
token (Shopify) or of the session cookie (WooCommerce): plugin.web.merchant_auth."""

from __future__ import annotations

import copy
import math
import re
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, current_app, g, jsonify, request
from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from connectors import untrusted_json
from connectors.untrusted_json import UnreadableJson
from plugin.config import setting_warnings
from plugin.emails.designs import design_json
from plugin.emails.sample import NoRecipient, queue_test_email
from plugin.pipeline.enrollment import normalize_topic
from plugin.pipeline.explain import customer_keys
from plugin.pipeline.held import held_steps, release_held
from plugin.pipeline.outbox import kept_reason, message_json, retry_failed
from plugin.results.report import DEFAULT_DAYS as DEFAULT_REPORT_DAYS
from plugin.results.report import shop_report
from plugin.services import Services
from plugin.shop_settings.policies import (
    DEFAULT_SETTINGS,
    OVERLAY_TEXTS,
    postal_address,
    shop_settings,
)
from plugin.shop_settings.workflows import (
    TRANSACTIONAL_CONSEQUENCE,
    RelabelNotConfirmed,
    save_workflow,
    shop_workflows,
    workflow_versions,
)
from plugin.shopify_app import manifest, tokens
from plugin.storage.models import Episode, OutboxMessage, Shop, Step
from plugin.web import customer_view, staff_address
from plugin.web.email_preview import (
    CUSTOMER_TEMPLATES,
    PreviewLimit,
    email_errors,
    find_step_email,
    preview_email,
    preview_errors,
)
from plugin.web.merchant_auth import require_merchant
from rules.catalog import rule_catalog
from rules.definitions import WorkflowInvalid
from rules.email_content import editor_catalog
from rules.evaluation import reason_group
from rules.validation import (
    ANCHORS,
    DELAY_UNITS,
    optional_email,
    optional_group_id,
    postal_address_error,
    validate_workflow,
)
from rules.validation import (
    NAME as WORKFLOW_NAME,
)

bp = Blueprint("api", __name__, url_prefix="/api")

# the shipped catch-all series a new topic's own series starts as a copy of
TOPIC_TEMPLATE = "topic_nurture"
PATH = re.compile(r"^(?P<path>[\w\[\].]+): (?P<message>.*)$", re.S)


TEST_EMAILS_PER_HOUR = 10  # per shop: each goes to its staff address, subject as drafted


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.extensions["nudge_preview_limit"] = PreviewLimit()
    staff_address.init_app(app)  # the staff address's confirmation link, which settings send
    customer_view.init_app(app)  # /api/customers/explain and /api/workflows/<name>/backtest


def _invalid(errors: list[str]):  # type: ignore[no-untyped-def]
    """422 with each error split into the field path it concerns and the message."""
    fields = []
    for error in errors:
        match = PATH.match(error)
        fields.append(
            {"path": match["path"], "message": match["message"]}
            if match
            else {"path": "", "message": error}
        )
    response = jsonify(error="invalid", errors=fields)
    response.status_code = 422
    return response


def _not_found(what: str):  # type: ignore[no-untyped-def]
    response = jsonify(error="not found", detail=what)
    response.status_code = 404
    return response


@bp.errorhandler(UnreadableJson)
def _unreadable(exc: UnreadableJson):  # type: ignore[no-untyped-def]
    response = jsonify(error=f"malformed JSON body: {exc}")
    response.status_code = 400
    return response


def _json_body() -> dict[str, Any] | None:
    """The body's JSON object, None for an empty body or another JSON value; a body that is
    not JSON at all (or nested too deep, or holding a lone surrogate) is a 400."""
    raw = request.get_data()
    if not raw.strip():
        return None
    body = untrusted_json.parse(raw)
    return body if isinstance(body, dict) else None


@bp.get("/catalog")
@require_merchant
def catalog():  # type: ignore[no-untyped-def]
    """Variables, operators per type and actions: what the rule editor is built from.

    Beside business-rules' export: the built-in email templates (``email_designs``: the
    subject, preheader and blocks each starts from; ``email_content``: the placeholders,
    block types and product sources an email may use), delay units and anchors, and the
    time zones the shop settings accept.
    """
    from zoneinfo import available_timezones

    return jsonify(
        {
            **rule_catalog(),
            "email_templates": CUSTOMER_TEMPLATES,
            "email_designs": design_json(),
            "email_content": editor_catalog(),
            "delay_units": list(DELAY_UNITS),
            "delay_anchors": sorted(ANCHORS),
            "timezones": sorted(available_timezones()),
        }
    )


@bp.get("/workflows")
@require_merchant
def list_workflows():  # type: ignore[no-untyped-def]
    """Every workflow of the shop, with its definition and counts."""
    services = Services.of(current_app)
    with services.sessions() as session:
        items = shop_workflows(session, g.shop.id)
        stats = workflow_stats(session, g.shop.id)
    return jsonify(
        workflows=[_workflow_json(item, stats.get(name)) for name, item in sorted(items.items())]
    )


@bp.get("/workflows/<name>")
@require_merchant
def get_workflow(name: str):  # type: ignore[no-untyped-def]
    services = Services.of(current_app)
    with services.sessions() as session:
        item = shop_workflows(session, g.shop.id).get(name)
        if item is None:
            return _not_found(name)
        versions = [_version_json(v) for v in workflow_versions(session, g.shop.id, name)]
        stats = workflow_stats(session, g.shop.id).get(name)
    return jsonify(workflow=_workflow_json(item, stats), versions=versions)


@bp.put("/workflows/<name>")
@require_merchant
def put_workflow(name: str):  # type: ignore[no-untyped-def]
    """Save a new version: ``{"definition": {...}, "enabled": bool}`` (either may be omitted).

    Relabelling a marketing workflow as transactional is refused with 409 (the message
    names what it does) unless the body also says ``"confirm_transactional": true``.
    """
    body = _json_body()
    if body is None:
        return _invalid(["body: expected a JSON object"])
    services = Services.of(current_app)
    with services.sessions() as session, session.begin():
        current = shop_workflows(session, g.shop.id).get(name)
        if current is None:
            return _not_found(name)
        definition = body.get("definition", current.definition)
        enabled = body.get("enabled", current.enabled)
        if not isinstance(definition, dict):
            return _invalid(["definition: expected a JSON object"])
        if not isinstance(enabled, bool):
            return _invalid(["enabled: expected true or false"])
        if definition.get("name") != name:
            return _invalid([f"name: must stay {name!r}"])
        if errors := email_errors(definition):  # with the rest, so every problem shows at once
            return _invalid(validate_workflow(definition) + errors)
        try:
            saved = save_workflow(
                session,
                g.shop.id,
                definition,
                enabled=enabled,
                confirm_transactional=body.get("confirm_transactional") is True,
            )
        except WorkflowInvalid as exc:
            return _invalid(exc.errors)
        except RelabelNotConfirmed as exc:
            return _relabel_refused(exc)
    return jsonify(workflow=_workflow_json(saved, None))


def _relabel_refused(exc: RelabelNotConfirmed):  # type: ignore[no-untyped-def]
    """409: the save would relabel a marketing workflow transactional, unconfirmed."""
    response = jsonify(
        error=str(exc),
        confirm="confirm_transactional",
        consequence=TRANSACTIONAL_CONSEQUENCE,
    )
    response.status_code = 409
    return response


@bp.post("/topics")
@require_merchant
def add_topic():  # type: ignore[no-untyped-def]
    """Start a series of its own for one signup topic: ``{"topic": "Skin care"}``.

    The new workflow ``topic_<topic>`` is a copy of the shop's ``topic_nurture`` (its
    emails, delays and conditions) whose trigger names the topic; from then on that
    topic's signups get this series instead of the catch-all one. It is edited like any
    other workflow afterwards.
    """
    body = _json_body()
    raw = body.get("topic") if body else None
    topic = normalize_topic(raw)
    if topic is None or topic == "*":
        return _invalid(["topic: a name with letters or digits, such as 'skincare'"])
    name = "topic_" + topic.replace("-", "_")  # workflow names have no hyphens
    services = Services.of(current_app)
    with services.sessions() as session, session.begin():
        workflows = shop_workflows(session, g.shop.id)
        if name in workflows:
            return _invalid([f"topic: {topic!r} already has its series ({name})"])
        definition = copy.deepcopy(workflows[TOPIC_TEMPLATE].definition)
        definition.update(
            name=name,
            title=f"Topic: {str(raw).strip()[:60]}",
            description=f"Signups for the topic {topic!r} get these emails until they order.",
        )
        definition.pop("default_enabled", None)
        definition["trigger"]["topic"] = topic
        try:
            saved = save_workflow(session, g.shop.id, definition, enabled=True)
        except WorkflowInvalid as exc:
            return _invalid(exc.errors)
    response = jsonify(workflow=_workflow_json(saved, None))
    response.status_code = 201
    return response


@bp.post("/workflows/<name>/versions/<int:version>/restore")
@require_merchant
def restore_version(name: str, version: int):  # type: ignore[no-untyped-def]
    """Save an earlier version's definition again as the newest version (restoring a
    transactional one over a marketing one takes ``{"confirm_transactional": true}``)."""
    body = _json_body() or {}
    services = Services.of(current_app)
    with services.sessions() as session, session.begin():
        old = next(
            (v for v in workflow_versions(session, g.shop.id, name) if v.version == version), None
        )
        if old is None:
            return _not_found(f"{name} version {version}")
        try:
            saved = save_workflow(
                session,
                g.shop.id,
                old.definition,
                enabled=old.enabled,
                confirm_transactional=body.get("confirm_transactional") is True,
            )
        except WorkflowInvalid as exc:  # the catalog may have changed since
            return _invalid(exc.errors)
        except RelabelNotConfirmed as exc:
            return _relabel_refused(exc)
    return jsonify(workflow=_workflow_json(saved, None))


@bp.post("/workflows/<name>/test-email")
@require_merchant
def test_email(name: str):  # type: ignore[no-untyped-def]
    """Queue a step's email, with sample data, to the shop's staff address.

    Body: ``{"step": "<step id>"}`` (default: the first step that emails), and optionally
    ``"definition"``: an unsaved draft to try out (validated, not saved).
    """
    body = _json_body()
    if body is None:
        return _invalid(["body: expected a JSON object"])
    services = Services.of(current_app)
    with services.sessions() as session, session.begin():
        current = shop_workflows(session, g.shop.id).get(name)
        if current is None:
            return _not_found(name)
        if (wait := _test_email_wait(session, g.shop.id, services.now())) is not None:
            minutes = max(1, round(wait / 60))
            response = jsonify(
                error=f"too many test emails: at most {TEST_EMAILS_PER_HOUR} an hour for a "
                f"shop; the next in {minutes} minute{'s' if minutes != 1 else ''}",
                retry_after=wait,
            )
            response.status_code = 429
            response.headers["Retry-After"] = str(wait)
            return response
        definition = body.get("definition", current.definition)
        if not isinstance(definition, dict) or definition.get("name") != name:
            return _invalid([f"definition: a definition of {name!r}"])
        if errors := validate_workflow(definition) + email_errors(definition):
            return _invalid(errors)
        wanted = body.get("step")
        step = next(
            (
                s
                for s in definition["steps"]
                if wanted in (None, s["id"])
                and any(a["name"] == "send_email" for a in s["actions"])
            ),
            None,
        )
        if step is None:
            return _invalid([f"step: no step {wanted!r} that sends an email"])
        shop = session.get_one(Shop, g.shop.id)
        try:
            row = queue_test_email(
                session, shop, name, step, services.now(), services.settings["APP_URL"]
            )
        except NoRecipient as exc:
            return _invalid([f"staff_email: {exc}"])
        queued = {
            "id": row.id,
            "to": row.to_email,
            "subject": row.subject,
            "step": step["id"],
            # None: it goes to SendGrid; else why it stays on this machine
            "kept_because": None
            if services.settings.get("SENDGRID_API_KEY")
            else kept_reason(services.settings),
        }
        preview = row.preview_html
    services.work_arrived.set()  # the embedded worker delivers it now, not at its next tick
    return jsonify(queued=queued, preview_html=preview)


def _test_email_wait(session: Session, shop_id: int, now: datetime) -> int | None:
    """Seconds until the shop may queue another test email, or None when it may now."""
    hour_ago = now - timedelta(hours=1)
    recent = session.scalars(
        select(OutboxMessage.created_at)
        .where(
            OutboxMessage.shop_id == shop_id,
            # queue_test_email's keys: each test is a message of its own
            OutboxMessage.idempotency_key.startswith(f"{shop_id}:test:"),
            OutboxMessage.created_at > hour_ago,
        )
        .order_by(OutboxMessage.created_at.desc())
        .limit(TEST_EMAILS_PER_HOUR)
    ).all()
    if len(recent) < TEST_EMAILS_PER_HOUR:
        return None
    return max(1, math.ceil((recent[-1] - hour_ago).total_seconds()))


@bp.post("/workflows/<name>/preview")
@require_merchant
def preview(name: str):  # type: ignore[no-untyped-def]
    """Render a step's email as it would go out; nothing is saved or sent.

    Body: ``{"step": "<step id>"}`` (default: the first step that emails), and optionally
    ``"definition"`` (an unsaved draft to take the step from), ``"params"`` (the email's
    draft params, replacing the step's) and ``"customer": "sample"`` (a made-up customer
    rather than the workflow's latest). Answers ``subject``, ``preheader``, ``html``,
    ``text`` and ``customer`` (``kind``: enrolled or sample, and a ``label``); a draft
    whose email is invalid gets 422 with each error's path, like a save.
    """
    body = _json_body()
    if body is None:
        return _invalid(["body: expected a JSON object"])
    services = Services.of(current_app)
    wait = current_app.extensions["nudge_preview_limit"].wait(g.shop.id)
    if wait:
        response = jsonify(error="too many previews", retry_after=round(wait, 1))
        response.status_code = 429
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    with services.sessions() as session:
        saved = shop_workflows(session, g.shop.id).get(name)
        if saved is None:
            return _not_found(name)
        definition = body.get("definition", saved.definition)
        if not isinstance(definition, dict) or definition.get("name") != name:
            return _invalid([f"definition: a definition of {name!r}"])
        email = find_step_email(definition, body.get("step"))
        if email is None:
            return _invalid([f"step: no step {body.get('step')!r} that sends an email"])
        params = body.get("params", email.params)
        if not isinstance(params, dict):
            return _invalid([f"{email.path}: expected an object"])
        email = replace(email, params=params)
        if errors := preview_errors(email):
            return _invalid(errors)
        shop = session.get_one(Shop, g.shop.id)
        rendered = preview_email(
            session, services, shop, saved, email, sample=body.get("customer") == "sample"
        )
    return jsonify(
        step=email.step_id,
        subject=rendered.subject,
        preheader=rendered.preheader,
        html=rendered.html,
        text=rendered.text,
        customer=rendered.customer,
        # a SendGrid dynamic template is sent instead of this design, given its context
        sendgrid_template=params.get("template_id"),
    )


@bp.get("/settings")
@require_merchant
def get_settings():  # type: ignore[no-untyped-def]
    """The shop's policies; ``warnings``: each app setting a live shop should not run with
    (``{"setting", "message"}``), for the page's banner; ``delivery``: whether SendGrid is
    configured, and why a kept message was not sent; ``access``: the scopes the app asks
    for that the shop has not granted, and where the merchant grants them."""
    settings = shop_settings(g.shop.settings)
    services = Services.of(current_app)
    app_settings = services.settings
    held = None
    if postal_address(settings) is None:
        with services.sessions() as session:
            held = held_steps(session, g.shop.id)
    return jsonify(
        settings=settings,
        staff_email_confirmed=_staff_email_confirmed(g.shop, settings),
        warnings=shop_warnings(settings, held),
        access=shop_access(g.shop, app_settings),
        # None: the shop has its postal address; else how many marketing steps wait for it
        held_for_postal_address=held,
        # what the page says of messages that never left the machine
        delivery={
            "sendgrid": bool(app_settings.get("SENDGRID_API_KEY")),
            "kept_because": kept_reason(app_settings),
        },
    )


def shop_access(shop: Shop, app_settings: dict[str, Any]) -> dict[str, Any]:
    """What the shop's token may not do: ``missing_scopes`` (empty when nothing is missing,
    or when the shop gave no token at all) and ``reauthorize_url``, Shopify's page where
    the merchant approves the app's scopes again (then ``app/scopes_update`` arrives and
    the token pair is renewed to carry them)."""
    if shop.platform != "shopify" or not tokens.has_credentials(shop):
        return {"missing_scopes": [], "reauthorize_url": None}
    missing = manifest.known_missing_scopes(manifest.load(), shop.scopes)
    api_key = app_settings.get("SHOPIFY_API_KEY") or ""
    # Shopify's own install link: for an installed app it asks only for what is new
    url = f"https://{shop.domain}/admin/oauth/install?{urlencode({'client_id': api_key})}"
    return {"missing_scopes": missing, "reauthorize_url": url if missing and api_key else None}


def shop_warnings(settings: dict[str, Any], held: int | None = None) -> list[dict[str, str]]:
    """The app's setting warnings that concern this shop (a sender of its own makes the
    missing default sender moot), and the shop's own: no postal address (``held``: how
    many marketing steps wait for it)."""
    warnings = [
        {"setting": warning.setting, "message": warning.message}
        for warning in setting_warnings(Services.of(current_app).settings)
        if not (warning.setting == "NUDGE_FROM_EMAIL" and settings.get("from_email"))
    ]
    if postal_address(settings) is None:
        waiting = f" ({held} waiting now)" if held else ""
        warnings.append(
            {
                "setting": "postal_address",
                "message": "Your shop has no postal address. The law (CAN-SPAM) requires one "
                "in every marketing email, so marketing emails are held, not sent"
                f"{waiting}, until you add it under Shop-wide settings: Postal address. "
                "Transactional emails still go.",
            }
        )
    return warnings


@bp.put("/settings")
@require_merchant
def put_settings():  # type: ignore[no-untyped-def]
    """Change shop-wide policies; every field is validated, nothing is saved on error."""
    body = _json_body()
    if body is None:
        return _invalid(["body: expected a JSON object"])
    merged = shop_settings({**shop_settings(g.shop.settings), **body})
    errors = validate_settings(merged)
    unknown = sorted(set(body) - set(DEFAULT_SETTINGS))  # what was sent, not what is stored
    if unknown:
        errors.append(f"body: unknown settings {', '.join(unknown)}")
    if errors:
        return _invalid(errors)
    services = Services.of(current_app)
    with services.sessions() as session, session.begin():
        shop = session.get_one(Shop, g.shop.id)
        sent = staff_address.address_changed(
            session,
            shop,
            shop_settings(shop.settings).get("staff_email"),
            merged.get("staff_email"),
            secret_key=services.settings["SECRET_KEY"],
            app_url=services.settings["APP_URL"],
            now=services.now(),
        )
        had_address = postal_address(shop_settings(shop.settings)) is not None
        shop.settings = merged
        confirmed = _staff_email_confirmed(shop, merged)
        # what waited for the address goes at once, not at its next look
        released = 0
        if not had_address and postal_address(merged) is not None:
            released = release_held(session, shop.id, services.now())
    if sent or released:
        services.work_arrived.set()
    return jsonify(
        settings=merged,
        staff_email_confirmed=confirmed,
        # a new staff address gets a link to confirm it before anything is sent to it
        staff_email_confirmation_sent=sent,
        # marketing steps held for the postal address, made due now that it is set
        released_for_postal_address=released,
    )


def _staff_email_confirmed(shop: Shop, settings: dict[str, Any]) -> bool | None:
    """Whether the staff address may receive test emails and alerts; None when unset."""
    staff = settings.get("staff_email")
    if not staff:
        return None
    return not staff_address.same_address(staff, shop.staff_email_unconfirmed)


@bp.get("/outbox")
@require_merchant
def outbox():  # type: ignore[no-untyped-def]
    """The shop's messages, newest first: ``?state=failed`` for those parked with an error
    (SendGrid refused them, or their discount code could not be created); ``?limit=``."""
    state = request.args.get("state")
    limit = max(1, min(request.args.get("limit", 50, type=int) or 50, 200))
    services = Services.of(current_app)
    query = select(OutboxMessage).where(OutboxMessage.shop_id == g.shop.id)
    if state:
        query = query.where(OutboxMessage.state == state)
    with services.sessions() as session:
        rows = session.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit)).all()
        failed = session.scalar(
            select(func.count()).where(
                OutboxMessage.shop_id == g.shop.id, OutboxMessage.state == "failed"
            )
        )
    return jsonify(messages=[message_json(m) for m in rows], failed=failed)


@bp.post("/outbox/<int:message_id>/retry")
@require_merchant
def retry_message(message_id: int):  # type: ignore[no-untyped-def]
    """Send a parked message again (only a failed one of this shop)."""
    services = Services.of(current_app)
    with services.sessions() as session, session.begin():
        if not retry_failed(session, [message_id], shop_id=g.shop.id):
            return _not_found(f"failed message {message_id}")
    services.work_arrived.set()
    return jsonify(retried=message_id)


@bp.get("/activity")
@require_merchant
def activity():  # type: ignore[no-untyped-def]
    """The latest decisions, each with its reason: why a customer got (or did not get) a message.

    ``?workflow=<name>`` keeps one workflow's; ``?customer=`` one customer's (their id, or
    their address, which also finds their guest checkouts); ``?limit=`` up to 200 (default 50).
    """
    services = Services.of(current_app)
    customer = (request.args.get("customer") or "").strip()
    with services.sessions() as session:
        keys = customer_keys(session, g.shop.id, customer) if customer else []
        rows = session.execute(
            select(Step, Episode)
            .join(Episode, Episode.id == Step.episode_id)
            .where(Step.shop_id == g.shop.id, Step.decided_at.is_not(None))
            .where(
                Episode.workflow == request.args["workflow"]
                if request.args.get("workflow")
                else true()
            )
            .where(Episode.customer_external_id.in_(keys) if customer else true())
            .order_by(Step.decided_at.desc(), Step.id.desc())
            .limit(max(1, min(request.args.get("limit", 50, type=int) or 50, 200)))
        ).all()
    return jsonify(
        activity=[
            {
                "workflow": episode.workflow,
                "step": step.step_id,
                "customer": episode.customer_external_id,
                "subject": episode.subject,
                "outcome": step.state,
                "reason": step.reason,
                "decided_at": step.decided_at.isoformat() if step.decided_at else None,
            }
            for step, episode in rows
        ]
    )


@bp.get("/report")
@require_merchant
def report():  # type: ignore[no-untyped-def]
    """What the workflows brought over the last ``?days=`` (1 to 3650, default 30): per
    workflow and step, messages and their engagement, credited orders, revenue, and the
    lift against the holdout group with its 95 % interval; skips as designed or blocked."""
    days_text = request.args.get("days", str(DEFAULT_REPORT_DAYS))
    if not re.fullmatch(r"[0-9]{1,4}", days_text) or not 1 <= int(days_text) <= 3650:
        return _invalid(["days: a whole number of days from 1 to 3650"])
    services = Services.of(current_app)
    with services.sessions() as session:
        return jsonify(shop_report(session, g.shop, services.now(), int(days_text)))


def validate_settings(settings: dict[str, Any]) -> list[str]:
    """Check shop-wide policies; errors name the field."""
    from zoneinfo import available_timezones

    errors = []
    window = settings.get("send_window")
    if not isinstance(window, dict) or set(window) - {"start_hour", "end_hour"}:
        errors.append("send_window: an object with start_hour and end_hour only")
        window = {}
    for key in ("start_hour", "end_hour"):
        value = window.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 24:
            errors.append(f"send_window.{key}: a whole hour from 0 to 24")
    cap = settings.get("frequency_cap_hours")
    if not isinstance(cap, int | float) or isinstance(cap, bool) or not 0 <= cap <= 24 * 30:
        errors.append("frequency_cap_hours: a number of hours from 0 to 720")
    if settings.get("capped_action") not in ("defer", "drop"):
        errors.append("capped_action: 'defer' or 'drop'")
    timezone = settings.get("timezone")
    if not isinstance(timezone, str) or timezone not in available_timezones():
        errors.append("timezone: an IANA time zone such as 'America/New_York'")
    for key in ("name", "from_name"):
        if not optional_line(settings.get(key), MAX_NAME):
            errors.append(f"{key}: text of at most {MAX_NAME} characters, on one line")
    for key in ("from_email", "reply_to", "staff_email"):
        value = settings.get(key)
        if not (optional_email(value) and optional_line(value, MAX_EMAIL)):
            errors.append(f"{key}: an email address")
    group = settings.get("asm_group_id")
    if not optional_group_id(group) or (group is not None and group > MAX_GROUP_ID):
        errors.append("asm_group_id: a SendGrid unsubscribe group id")
    if (problem := postal_address_error(settings.get("postal_address"))) is not None:
        errors.append(problem)
    return (
        errors
        + offer_policy_errors(settings.get("offers"))
        + attribution_errors(settings.get("attribution"))
        + overlay_errors(settings.get("storefront"))
    )


MAX_WINDOW_DAYS = 30


def attribution_errors(windows: object) -> list[str]:
    """The attribution windows: days after a click (more than 0) or a delivery (0: none)."""
    if not isinstance(windows, dict) or set(windows) != {
        "click_window_days",
        "delivery_window_days",
    }:
        return ["attribution: an object with click_window_days and delivery_window_days only"]
    errors = []
    for key, zero_allowed in (("click_window_days", False), ("delivery_window_days", True)):
        value = windows[key]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not (0 <= value <= MAX_WINDOW_DAYS and (zero_allowed or value > 0)):
            least = "0 or more" if zero_allowed else "more than 0"
            errors.append(
                f"attribution.{key}: a number of days, {least}, at most {MAX_WINDOW_DAYS}"
            )
    return errors


MAX_NAME = 100  # the shop's name and sender name, shown in every email's header and inbox
MAX_EMAIL = 254  # the longest address SMTP carries
MAX_GROUP_ID = 2**31 - 1
MAX_TOPIC = 100


def optional_line(value: object, longest: int) -> bool:
    """None (not set), or one line of printable text of at most ``longest`` characters."""
    if value is None:
        return True
    return isinstance(value, str) and 0 < len(value) <= longest and value.isprintable()


MAX_EXCLUSIVE_GROUPS = 10


def offer_policy_errors(offers: object) -> list[str]:
    """The shop's offer policy: how many open codes a customer may hold, how far apart new
    ones come, and which series end each other."""
    if not isinstance(offers, dict):
        return ["offers: expected an object"]
    errors = []
    most = offers.get("max_open_per_customer")
    if not isinstance(most, int) or isinstance(most, bool) or not 0 <= most <= 10:
        errors.append("offers.max_open_per_customer: a whole number from 0 to 10")
    gap = offers.get("min_days_between")
    if not isinstance(gap, int | float) or isinstance(gap, bool) or not 0 <= gap <= 365:
        errors.append("offers.min_days_between: a number of days from 0 to 365")
    groups = offers.get("exclusive_series")
    if not isinstance(groups, list) or len(groups) > MAX_EXCLUSIVE_GROUPS:
        errors.append(
            f"offers.exclusive_series: a list of at most {MAX_EXCLUSIVE_GROUPS} groups of workflow names"
        )
    else:
        for i, group in enumerate(groups):
            if not (
                isinstance(group, list)
                and 2 <= len(group) <= 20
                and all(isinstance(name, str) and WORKFLOW_NAME.match(name) for name in group)
            ):
                errors.append(
                    f"offers.exclusive_series[{i}]: a list of 2 to 20 workflow names, "
                    "such as ['welcome_series', 'lead_nurturing']"
                )
    unknown = sorted(set(offers) - set(DEFAULT_SETTINGS["offers"]))
    if unknown:
        errors.append(f"offers: unknown settings {', '.join(unknown)}")
    return errors


def overlay_errors(overlay: object) -> list[str]:
    """The storefront overlay's settings: what it says, when it shows, which topics."""
    if not isinstance(overlay, dict):
        return ["storefront: expected an object"]
    errors = []
    for key in ("overlay_enabled", "exit_intent"):
        if not isinstance(overlay.get(key), bool):
            errors.append(f"storefront.{key}: true or false")
    delay = overlay.get("delay_seconds")
    if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= 600:
        errors.append("storefront.delay_seconds: whole seconds from 0 to 600")
    for key, longest in OVERLAY_TEXTS.items():
        text = overlay.get(key)
        if not isinstance(text, str) or len(text) > longest:
            errors.append(f"storefront.{key}: text of at most {longest} characters")
    for key in ("headline", "button"):
        if isinstance(overlay.get(key), str) and not overlay[key].strip():
            errors.append(f"storefront.{key}: must not be empty")
    topics = overlay.get("topics")
    if not isinstance(topics, list) or len(topics) > 20:
        errors.append("storefront.topics: a list of at most 20 topics")
    else:
        for i, topic in enumerate(topics):
            if not optional_line(topic, MAX_TOPIC) or normalize_topic(topic) is None:
                errors.append(f"storefront.topics[{i}]: a name with letters or digits")
    unknown = sorted(set(overlay) - set(DEFAULT_SETTINGS["storefront"]))
    if unknown:
        errors.append(f"storefront: unknown settings {', '.join(unknown)}")
    return errors


def workflow_stats(session: Session, shop_id: int) -> dict[str, dict[str, Any]]:
    """Per workflow: enrolled, converted, emails sent (to SendGrid) and kept (never left:
    SendGrid was not configured), skipped steps by reason."""
    stats: dict[str, dict[str, Any]] = {}

    def row(name: str) -> dict[str, Any]:
        return stats.setdefault(name, empty_stats())

    for name, enrolled, converted in session.execute(
        select(Episode.workflow, func.count(), func.count(Episode.converted_at))
        .where(Episode.shop_id == shop_id)
        .group_by(Episode.workflow)
    ):
        row(name).update(enrolled=enrolled, converted=converted)
    for name, state, count in session.execute(
        select(OutboxMessage.workflow, OutboxMessage.state, func.count())
        .where(
            OutboxMessage.shop_id == shop_id,
            OutboxMessage.kind == "email",
            OutboxMessage.state.in_(("sent", "kept")),
            OutboxMessage.episode_id.is_not(None),  # not the merchant's own test emails
        )
        .group_by(OutboxMessage.workflow, OutboxMessage.state)
    ):
        row(name)[state] = count
    for name, reason, count in session.execute(
        select(Episode.workflow, Step.reason, func.count())
        .join(Episode, Episode.id == Step.episode_id)
        .where(Step.shop_id == shop_id, Step.state == "skipped")
        .group_by(Episode.workflow, Step.reason)
    ):
        row(name)["skipped"][reason_group(reason or "unknown")] += count
    return stats


def empty_stats() -> dict[str, Any]:
    return {"enrolled": 0, "converted": 0, "sent": 0, "kept": 0, "skipped": Counter()}


def _workflow_json(item: Any, stats: dict[str, Any] | None) -> dict[str, Any]:
    stats = stats or empty_stats()
    return {
        "name": item.name,
        "title": item.workflow.title,
        "category": item.workflow.category,
        "enabled": item.enabled,
        "version": item.version,
        "problems": list(getattr(item, "problems", ())),
        "definition": item.definition,
        "stats": {**stats, "skipped": dict(stats["skipped"])},
    }


def _version_json(row: Any) -> dict[str, Any]:
    return {
        "version": row.version,
        "enabled": row.enabled,
        "created_at": row.created_at.isoformat(),
        "note": row.note,
        "definition": row.definition,
    }
