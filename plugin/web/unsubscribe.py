"""One-click unsubscribe (RFC 8058): no login, recorded at once, idempotent."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, render_template_string, request

from plugin.pipeline.consent_writes import queue_consent_write
from plugin.pipeline.inbox import apply_event
from plugin.pipeline.outbox import read_unsubscribe_token
from plugin.services import Services
from plugin.shop_settings.policies import shop_settings
from plugin.storage import facts_store
from plugin.storage.batch import Batch
from plugin.storage.models import OutboxMessage, Shop
from rules.events import EMAIL_SUPPRESSED, Event
from rules.facts import Engagement

bp = Blueprint("unsubscribe", __name__)

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }}</title>
<style>body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,sans-serif;background:#f6f6f7;
color:#202223;display:flex;justify-content:center;padding:48px 16px}main{background:#fff;border-radius:12px;
box-shadow:0 1px 3px rgba(0,0,0,.12);padding:32px;max-width:420px}button{background:#202223;color:#fff;
border:0;border-radius:8px;padding:10px 18px;font-size:15px;cursor:pointer}</style></head><body><main>
<h1>{{ title }}</h1><p>{{ message }}</p>
{% if confirm %}<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button></form>{% endif %}</main></body></html>"""


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):  # type: ignore[no-untyped-def]
    """GET and HEAD ask for confirmation (mail scanners prefetch links with either); only
    POST unsubscribes, the RFC 8058 one-click POST included."""
    services = Services.of(current_app)
    target = read_unsubscribe_token(services.settings["SECRET_KEY"], token)
    if target is None:
        return render_template_string(
            PAGE,
            title="Link not valid",
            message="This unsubscribe link is not valid.",
            confirm=False,
        ), 404
    shop_id, email = target
    if request.method != "POST":
        return render_template_string(
            PAGE, title="Unsubscribe", message=f"Stop marketing emails to {email}?", confirm=True
        )
    now = services.now()
    with services.sessions() as session, session.begin():
        shop = session.get(Shop, shop_id)
        if shop is None:
            return render_template_string(
                PAGE, title="Link not valid", message="This shop is gone.", confirm=False
            ), 404
        event = Event(
            EMAIL_SUPPRESSED,
            occurred_at=now,
            engagement=Engagement(kind="unsubscribe", email=email, occurred_at=now),
            data={"sg_event_id": f"nudge-unsubscribe:{shop_id}:{email}:{now.isoformat()}"},
        )
        apply_event(Batch.of(session), shop, event, now)
        # the shop's own record follows, through the worker (the page does not wait for it)
        queue_consent_write(
            session,
            shop,
            customer_external_id=facts_store.find_customer_by_email(session, shop_id, email),
            email=email,
            subscribed=False,
            origin="unsubscribe",
            now=now,
        )
        group = shop_settings(shop.settings).get("asm_group_id")
        if group:  # mirror it, so mail sent outside Nudge respects it too
            session.add(
                OutboxMessage(
                    shop_id=shop.id,
                    idempotency_key=f"{shop.id}:unsubscribe:{email}:{group}",
                    kind="sendgrid_unsubscribe",
                    workflow="unsubscribe",
                    category="transactional",
                    to_email=email,
                    params={"group_id": group},
                    state="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    services.work_arrived.set()
    return render_template_string(
        PAGE,
        title="You are unsubscribed",
        message=f"{email} will get no more marketing emails.",
        confirm=False,
    )
