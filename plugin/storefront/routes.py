"""The storefront script's endpoints: page views, the engagement overlay, topic signups.

Everything here answers anonymous browsers on other sites, so: each request is scoped to
an installed shop, rate-limited (in-memory token buckets per shop and visitor, per shop,
and per address), size-limited, and malformed input gets a 4xx. The visitor id the script
sends is an opaque first-party id that proves nothing; a customer is named only by a
token Nudge signed (plugin.identity) or by a confirmed signup (plugin.storefront.signups).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template_string, request
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors import untrusted_json
from plugin import identity
from plugin.pipeline import enrollment, sweeps
from plugin.services import Services
from plugin.shop_settings.policies import shop_settings
from plugin.shop_settings.workflows import shop_workflows
from plugin.storage import facts_store
from plugin.storage.batch import Batch
from plugin.storage.browsing import intent_params
from plugin.storage.models import PageView, Shop, TopicSignup, Visitor
from plugin.storefront import signups
from plugin.storefront.rate_limit import Buckets, Rate, buckets_for

bp = Blueprint("storefront", __name__, url_prefix="/storefront")

MAX_BODY = 4096  # a page view or a signup is a few hundred bytes
MAX_DEPTH = 4  # and a flat object: nothing the script sends nests
VISITOR = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
PRODUCT = re.compile(r"^[0-9]{1,32}$")
KINDS = {"page_view": "page", "product_view": "product", "overlay_shown": None}
PER_VISITOR = Rate(burst=30, per_second=0.5)
PER_ADDRESS = Rate(burst=60, per_second=2)
PER_SHOP = Rate(burst=300, per_second=50)
SIGNUPS_PER_VISITOR = Rate(burst=5, per_second=1 / 60)
OVERLAY_SESSION = timedelta(minutes=30)  # shown again to the same visitor only after this
PROXY_MAX_AGE = 90  # seconds an app-proxy query's signed timestamp is good (as Shopify's libraries)


class BadInput(ValueError):
    """The request is malformed; the message says how."""


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.extensions["nudge_buckets"] = buckets_for(Services.of(app).settings)


def _error(status: int, message: str, **headers: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    response.headers.update(headers)
    return response


@bp.after_request
def _cors(response: Response) -> Response:
    # Storefronts live on their own (often custom) domains. Nothing here uses cookies or
    # trusts the caller, so any origin may call; credentials are never allowed.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = "86400"
    return response


@bp.route("/<path:shop>/events", methods=["OPTIONS"])
@bp.route("/<path:shop>/signup", methods=["OPTIONS"])
def _preflight(shop: str) -> Response:
    return Response(status=204)


def _services() -> Services:
    return Services.of(current_app)


def _shop(session: Session, domain: str) -> Shop | None:
    if len(domain) > 255:
        return None
    return session.scalar(select(Shop).where(Shop.domain == domain, Shop.active.is_(True)))


def _body() -> dict[str, Any]:
    """The JSON object in the body; sent as text/plain by the script to skip a CORS preflight."""
    if (request.content_length or 0) > MAX_BODY:
        raise OverflowError
    raw = request.stream.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise OverflowError
    try:
        return untrusted_json.parse_object(raw, max_depth=MAX_DEPTH)
    except untrusted_json.UnreadableJson as exc:
        raise BadInput(f"body: {exc}") from None


def _text(data: dict[str, Any], key: str, limit: int, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise BadInput(f"{key}: required")
        return None
    if not isinstance(value, str) or len(value) > limit or any(ord(c) < 32 for c in value):
        raise BadInput(f"{key}: text of at most {limit} characters")
    return value


def _visitor_id(data: dict[str, Any]) -> str:
    vid = data.get("vid")
    if not isinstance(vid, str) or not VISITOR.match(vid):
        raise BadInput("vid: 16 to 64 letters, digits, - or _")
    return vid


def _limited(shop: str, vid: str | None, extra: Rate | None = None) -> Response | None:
    buckets: Buckets = current_app.extensions["nudge_buckets"]
    # narrowest first: a refused request uses up nothing of the wider buckets
    checks: list[tuple[tuple[str | None, ...], Rate]] = []
    if vid is not None:
        if extra is not None:
            checks.append((("signup", shop, vid), extra))
        checks.append((("visitor", shop, vid), PER_VISITOR))
    checks += [(("addr", request.remote_addr), PER_ADDRESS), (("shop", shop), PER_SHOP)]
    for key, rate in checks:
        wait = buckets.take(key, rate)
        if wait:
            return _error(429, "too many requests", **{"Retry-After": str(int(wait) + 1)})
    return None


def _guarded(handler):  # type: ignore[no-untyped-def]
    """Map malformed and oversized bodies to 400 and 413."""

    def run(shop: str, **proxied):  # type: ignore[no-untyped-def]
        try:
            return handler(shop, **proxied)
        except OverflowError:
            return _error(413, f"body larger than {MAX_BODY} bytes")
        except BadInput as exc:
            return _error(400, str(exc))

    run.__name__ = handler.__name__
    return run


# --- the script ----------------------------------------------------------------------------


@bp.get("/<path:shop>/nudge.js")
def script(shop: str) -> Response:
    """The storefront script; it reads its shop and endpoints from its own URL."""
    with _services().sessions() as session:
        if _shop(session, shop) is None:
            return _error(404, "unknown shop")
    source = (resources.files("plugin") / "static" / "storefront" / "nudge.js").read_text("utf-8")
    response = Response(source, mimetype="application/javascript")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# --- events ----------------------------------------------------------------------------


@bp.post("/<path:shop>/events")
@_guarded
def events(shop: str, proxied: identity.ProxyRequest | None = None) -> Response:
    """Record a page or product view (or that the overlay was shown); say whether to show it.

    Body: ``{"vid", "type": "page_view"|"product_view"|"overlay_shown", "path", "title"?,
    "product_id"?, "t"?, "want_overlay"?}``. ``proxied``: the request came through Shopify's
    app proxy (plugin.storefront.proxy), which names the logged-in customer.
    """
    data = _body()
    vid = _visitor_id(data)
    if (limited := _limited(shop, vid)) is not None:
        return limited
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in KINDS:
        raise BadInput(f"type: one of {', '.join(sorted(KINDS))}")
    path = (_text(data, "path", 512, required=kind != "overlay_shown") or "/").split("?")[0]
    path = path.split("#")[0].lower()
    if not path.startswith("/"):
        raise BadInput("path: a path starting with /")
    title = _text(data, "title", 255)
    product_id = _text(data, "product_id", 32)
    if product_id is not None and not PRODUCT.match(product_id):
        raise BadInput("product_id: digits")
    services = _services()
    now = services.now()
    with services.sessions() as session, session.begin():
        shop_row = _shop(session, shop)
        if shop_row is None:
            return _error(404, "unknown shop")
        visitor = _visitor(session, shop_row.id, vid, now)
        customer = _identify(session, shop_row, visitor, data.get("t"), now, proxied)
        if kind == "overlay_shown":
            visitor.overlay_shown_at = now
            return jsonify(ok=True)
        session.execute(
            insert(PageView).values(
                shop_id=shop_row.id,
                visitor_id=vid,
                customer_external_id=customer,
                kind=KINDS[kind],
                path=path,
                product_id=product_id,
                title=title,
                viewed_at=now,
            )
        )
        if customer is not None and _high_intent(session, shop_row.id, path):
            sweeps.enroll_on_intent(Batch.of(session), shop_row, customer, now)
        config = storefront_config(session, shop_row)
        overlay = (
            _overlay(session, shop_row.id, visitor, customer, config, now)
            if data.get("want_overlay") is True
            else None
        )
        return jsonify(
            ok=True, identified=customer is not None, overlay=overlay, topics=config["topics"]
        )


def _visitor(session: Session, shop_id: int, vid: str, now: datetime) -> Visitor:
    statement = select(Visitor).where(Visitor.shop_id == shop_id, Visitor.visitor_id == vid)
    visitor = session.scalar(statement)
    if visitor is None:
        try:
            with session.begin_nested():
                visitor = Visitor(shop_id=shop_id, visitor_id=vid, first_seen_at=now)
                visitor.last_seen_at = now
                session.add(visitor)
        except IntegrityError:  # the same visitor's other tab got there first
            visitor = session.scalars(statement).one()
    visitor.last_seen_at = now
    return visitor


def _identify(
    session: Session,
    shop: Shop,
    visitor: Visitor,
    token: object,
    now: datetime,
    proxied: identity.ProxyRequest | None = None,
) -> str | None:
    """The customer this visitor is proved to be: the customer logged in to the storefront
    (Shopify's app proxy says so), a valid signed token, or an earlier proof."""
    secret = _services().settings["SECRET_KEY"]
    customer = proxied.customer if proxied else None
    if customer is None and token:
        customer = identity.read_visitor_token(secret, token, shop.id)
    if customer is not None and customer != visitor.customer_external_id:
        signups.link_visitor(session, shop.id, visitor.visitor_id, customer, now, signed_up=False)
    return customer or visitor.customer_external_id


def _high_intent(session: Session, shop_id: int, path: str) -> bool:
    for shop_workflow in shop_workflows(session, shop_id).values():
        workflow = shop_workflow.workflow
        if shop_workflow.enabled and workflow.trigger.sweep == "high_intent":
            if any(path.startswith(page) for page in intent_params(workflow)["pages"]):
                return True
    return False


def storefront_config(session: Session, shop: Shop) -> dict[str, Any]:
    """The overlay's settings, with the topics of the shop's enabled topic series."""
    config = dict(shop_settings(shop.settings)["storefront"])
    topics = [enrollment.normalize_topic(t) for t in config.get("topics") or []]
    for shop_workflow in shop_workflows(session, shop.id).values():
        topic = shop_workflow.workflow.trigger.params.get("topic")
        if shop_workflow.enabled and shop_workflow.workflow.trigger.event == "topic_signup":
            if isinstance(topic, str) and topic != "*":
                topics.append(topic)
    config["topics"] = list(dict.fromkeys(t for t in topics if t))
    return config


def _overlay(
    session: Session,
    shop_id: int,
    visitor: Visitor,
    customer: str | None,
    config: dict[str, Any],
    now: datetime,
) -> dict[str, Any] | None:
    """The overlay to show an anonymous visitor, or None (never to a subscriber)."""
    if not config.get("overlay_enabled") or visitor.signed_up_at is not None:
        return None
    shown = visitor.overlay_shown_at
    if shown is not None and now - shown < OVERLAY_SESSION:
        return None
    if customer is not None:
        known = facts_store.load_customer(Batch.of(session), shop_id, customer)
        if known is not None and known.accepts_marketing is True:
            return None
    keys = ("delay_seconds", "exit_intent", "headline", "text", "offer", "button")
    return {key: config.get(key) for key in keys}


# --- signups ---------------------------------------------------------------------------


@bp.post("/<path:shop>/signup")
@_guarded
def signup(shop: str, proxied: identity.ProxyRequest | None = None) -> Response:
    """Sign up for a topic: ``{"vid", "email", "topic"?, "first_name"?, "consent": true, "t"?}``.

    202 and a confirmation email, or 200 when the visitor is already proved to be the
    customer with that address.
    """
    data = _body()
    vid = _visitor_id(data)
    if (limited := _limited(shop, vid, SIGNUPS_PER_VISITOR)) is not None:
        return limited
    email = signups.valid_email(data.get("email"))
    if email is None:
        raise BadInput("email: a valid email address")
    if data.get("consent") is not True:
        raise BadInput("consent: the visitor must agree to receive emails")
    first_name = _text(data, "first_name", 100)
    topic = enrollment.normalize_topic(_text(data, "topic", 100))
    services = _services()
    now = services.now()
    with services.sessions() as session, session.begin():
        shop_row = _shop(session, shop)
        if shop_row is None:
            return _error(404, "unknown shop")
        if topic is not None and topic not in storefront_config(session, shop_row)["topics"]:
            raise BadInput("topic: not a topic this shop offers")
        visitor = _visitor(session, shop_row.id, vid, now)
        customer = _identify(session, shop_row, visitor, data.get("t"), now, proxied)
        batch = Batch.of(session)
        known = facts_store.load_customer(batch, shop_row.id, customer) if customer else None
        if known is not None and known.email == email:
            signups.subscribe(session, shop_row, known.id, email, first_name, topic, now)
            signups.link_visitor(session, shop_row.id, vid, known.id, now, signed_up=True)
            return jsonify(status="subscribed")
        # answered alike whether or not a confirmation email goes (see start_signup)
        signups.start_signup(
            session,
            shop_row,
            email=email,
            topic=topic,
            first_name=first_name,
            visitor_id=vid,
            # behind Shopify's app proxy, the confirmation link is on the shop's own domain
            confirm_base=(
                f"https://{shop_row.domain}{proxied.path_prefix}"
                if proxied and proxied.path_prefix
                else f"{services.settings['APP_URL'].rstrip('/')}/storefront/{shop_row.domain}"
            ),
            now=now,
        )
        visitor.signed_up_at = now
    services.work_arrived.set()
    response = jsonify(status="confirm")
    response.status_code = 202
    return response


CONFIRM_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
button{font:inherit;padding:.6rem 1.2rem;border-radius:.4rem;border:0;background:#111827;color:#fff}</style>
</head><body><h1>{{ title }}</h1><p>{{ message }}</p>
{% if form %}<form method="post"><button type="submit" id="confirm">Confirm</button></form>{% endif %}
</body></html>"""


@bp.route("/<path:shop>/confirm/<token>", methods=["GET", "POST"])
def confirm(shop: str, token: str) -> Response | tuple[str, int]:
    """A confirmation link: GET and HEAD show a button (mail scanners prefetch links with
    either), only POST confirms; a confirmed link confirms nothing again."""
    services = _services()
    now = services.now()
    with services.sessions() as session, session.begin():
        shop_row = _shop(session, shop)
        signup_row = (
            session.scalar(
                select(TopicSignup).where(
                    TopicSignup.token == token, TopicSignup.shop_id == shop_row.id
                )
            )
            if shop_row is not None and len(token) <= 64
            else None
        )
        if shop_row is None or signup_row is None:
            page = render_template_string(
                CONFIRM_PAGE, title="Link not found", message="This link is not valid.", form=False
            )
            return page, 404
        name = signups.shop_name(shop_row, shop_row.settings or {})
        if signup_row.state == "confirmed":
            # Done once: a link found again later (forwarded, or in a mailbox after an
            # unsubscribe) must not subscribe the address again.
            return _subscribed_page(name), 200
        if request.method != "POST":
            message = f"Confirm that you want emails from {name}"
            message += f" about {signup_row.topic.replace('-', ' ')}." if signup_row.topic else "."
            page = render_template_string(
                CONFIRM_PAGE, title="One more step", message=message, form=True
            )
            return page, 200
        if signups.confirm(session, shop_row, signup_row, now) is None:
            page = render_template_string(
                CONFIRM_PAGE, title="Not possible", message="This address is too long.", form=False
            )
            return page, 400
    services.work_arrived.set()
    return _subscribed_page(name), 200


def _subscribed_page(name: str) -> str:
    return render_template_string(
        CONFIRM_PAGE,
        title="You are subscribed",
        message=f"Thank you. You will hear from {name} soon.",
        form=False,
    )


# --- identity through Shopify's app proxy ---------------------------------------------------


@bp.get("/proxy/identity")
def proxy_identity() -> Response:
    """A signed visitor token for the customer logged in to the storefront.

    Shopify's app proxy forwards ``https://<shop>/apps/nudge/identity`` here and signs the
    query, including ``logged_in_customer_id``; the script calls it from the storefront.
    """
    services = _services()
    query = request.query_string.decode("latin-1")
    proved = identity.app_proxy_customer(query, services.settings.get("SHOPIFY_API_SECRET"))
    if proved is None or not _signed_lately(query, services.now()):
        return _error(401, "not a recent, signed app-proxy request with a logged-in customer")
    domain, customer = proved
    with services.sessions() as session:
        shop_row = _shop(session, domain)
        if shop_row is None:
            return _error(404, "unknown shop")
        token = identity.visitor_token(services.settings["SECRET_KEY"], shop_row.id, customer)
    response = jsonify(t=token)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _signed_lately(query: str, now: datetime) -> bool:
    """Whether the (signed) ``timestamp`` of an app-proxy query is within PROXY_MAX_AGE of
    now: a query signed once must not mint identity tokens for ever after (replay)."""
    stamps = [value for key, value in parse_qsl(query) if key == "timestamp"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    return abs(now.timestamp() - int(stamps[0])) <= PROXY_MAX_AGE
