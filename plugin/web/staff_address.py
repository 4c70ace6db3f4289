"""The staff address: test emails and alerts go only to an address its owner confirmed.

Anyone with the settings page could otherwise point ``staff_email`` at a stranger and mail
them test emails with any subject. So a new staff address set through the settings page
is kept unconfirmed (``Shop.staff_email_unconfirmed``) and sent one link (at most
``CONFIRMATIONS_PER_DAY`` a day per shop); until the link is POSTed, test emails and alerts
go to the shop owner's address from the install, if any (``staff_address`` in
plugin.shop_settings.policies). An address set by the operator (CLI, database) or the
owner's own needs no link.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from flask import Blueprint, Flask, current_app, render_template_string, request
from itsdangerous import BadData, URLSafeTimedSerializer
from jinja2 import Environment
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.services import Services
from plugin.shop_settings.policies import shop_settings
from plugin.storage.models import OutboxMessage, Shop

bp = Blueprint("staff_address", __name__)

WORKFLOW = "staff_email_confirm"  # the outbox rows of the confirmation emails
CONFIRMATIONS_PER_DAY = 3
LINK_MAX_AGE = 7 * 86_400  # seconds a confirmation link works
SALT = "nudge-staff-email"

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
button{font:inherit;padding:.6rem 1.2rem;border-radius:.4rem;border:0;background:#111827;color:#fff}</style>
</head><body><h1>{{ title }}</h1><p>{{ message }}</p>
{% if form %}<form method="post"><button type="submit" id="confirm">Confirm</button></form>{% endif %}
</body></html>"""
EMAIL_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{{ subject }}</title></head><body style="font-family:sans-serif;color:#1f2937">
<p>Someone with access to Nudge's settings for {{ shop }} asked for staff alerts and test
emails to go to this address.</p>
<p><a href="{{ url }}">Confirm this address</a></p>
<p>If that was not you or your team, ignore this email: nothing is sent here without it.</p>
</body></html>"""
EMAIL_TEXT = """Someone with access to Nudge's settings for {shop} asked for staff alerts and test
emails to go to this address.

Confirm this address: {url}

If that was not you or your team, ignore this email: nothing is sent here without it.
"""
_email_env = Environment(autoescape=True)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def same_address(a: str | None, b: str | None) -> bool:
    return bool(a and b and a.strip().lower() == b.strip().lower())


def address_changed(
    session: Session,
    shop: Shop,
    previous: str | None,
    address: str | None,
    *,
    secret_key: str,
    app_url: str,
    now: datetime,
) -> bool:
    """Record the shop's staff address as the settings page just set it; when it is new
    and not the owner's own, keep it unconfirmed and queue its link. True if one was sent."""
    if same_address(previous, address):
        return False
    if address is None or same_address(address, shop.email):
        shop.staff_email_unconfirmed = None
        return False
    shop.staff_email_unconfirmed = address
    sent_today = session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.shop_id == shop.id,
            OutboxMessage.workflow == WORKFLOW,
            OutboxMessage.created_at > now - timedelta(days=1),
        )
    )
    if (sent_today or 0) >= CONFIRMATIONS_PER_DAY:
        return False
    token = _serializer(secret_key).dumps({"s": shop.id, "e": address})
    url = f"{app_url.rstrip('/')}/staff-email/confirm/{token}"
    name = shop.domain
    subject = f"Confirm the staff address for {name} in Nudge"
    html = _email_env.from_string(EMAIL_HTML).render(subject=subject, shop=name, url=url)
    session.add(
        OutboxMessage(
            shop_id=shop.id,
            # a new message each time: the same address set again within a second has
            # the same token
            idempotency_key=f"{shop.id}:{WORKFLOW}:{secrets.token_hex(8)}",
            kind="email",
            workflow=WORKFLOW,
            category="transactional",
            to_email=address,
            subject=subject,
            preview_html=html,
            params={"text": EMAIL_TEXT.format(shop=name, url=url)},
            state="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return True


def _page(title: str, message: str, form: bool = False) -> str:
    return render_template_string(PAGE, title=title, message=message, form=form)


@bp.route("/staff-email/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):  # type: ignore[no-untyped-def]
    """GET and HEAD show a button (mail scanners prefetch links); POST confirms."""
    services = Services.of(current_app)
    try:
        data = _serializer(services.settings["SECRET_KEY"]).loads(token, max_age=LINK_MAX_AGE)
        shop_id, address = int(data["s"]), str(data["e"])
    except (BadData, KeyError, TypeError, ValueError):
        return _page("Link not valid", "This link is not valid, or it expired."), 404
    with services.sessions() as session, session.begin():
        shop = session.get(Shop, shop_id)
        current = shop_settings(shop.settings).get("staff_email") if shop else None
        if shop is None or not same_address(current, address):
            return _page("Link not valid", "The staff address has changed since."), 404
        if not same_address(shop.staff_email_unconfirmed, address):
            return _page("Confirmed", f"{address} receives {shop.domain}'s staff emails."), 200
        if request.method != "POST":
            message = f"Confirm that {address} should receive {shop.domain}'s staff emails."
            return _page("Confirm the staff address", message, form=True), 200
        shop.staff_email_unconfirmed = None
    return _page("Confirmed", f"{address} receives {shop.domain}'s staff emails."), 200
