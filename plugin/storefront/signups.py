"""Storefront signups: nothing a form says is trusted until the address confirms it.

A signup is stored pending and a confirmation email goes to the address (double opt-in);
only the link in it subscribes the contact and signs them up for the topic. A visitor
already proved to be that customer (a signed token) is subscribed at once.

Anyone can submit the form with anyone's address, so: the confirmation email carries
nothing the form said (only the shop's name and one of its own topics), a submitted first
name is kept only for a contact that did not exist yet, and the confirming click proves
the address, not the browser that filled in the form, so it links no visitor.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from plugin.emails.render import render_email
from plugin.pipeline.consent_writes import queue_consent_write
from plugin.pipeline.enrollment import guest_key
from plugin.pipeline.inbox import apply_event
from plugin.shop_settings.policies import shop_settings
from plugin.storage import facts_store
from plugin.storage.batch import Batch
from plugin.storage.models import OutboxMessage, PageView, Shop, TopicSignup, Visitor
from rules import events as ev
from rules.events import Event
from rules.facts import Customer
from rules.variables import TOPIC_TAG

EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$")
MAX_GUEST_EMAIL = 64 - len("email:")  # a contact without a shop account is keyed by address
PENDING_PER_DAY = 3  # confirmation emails one address can be sent per day


def valid_email(raw: object) -> str | None:
    """A plausible address, lowercased; None otherwise."""
    if not isinstance(raw, str):
        return None
    email = raw.strip().lower()
    return email if len(email) <= 254 and EMAIL.match(email) else None


def customer_key_for(session: Session, shop_id: int, email: str) -> str | None:
    """The shop's customer with this address, else a contact keyed by it (None if too long)."""
    known = facts_store.find_customer_by_email(session, shop_id, email)
    if known:
        return known
    return guest_key(email) if len(email) <= MAX_GUEST_EMAIL else None


def start_signup(
    session: Session,
    shop: Shop,
    *,
    email: str,
    topic: str | None,
    first_name: str | None,
    visitor_id: str,
    confirm_base: str,
    now: datetime,
) -> TopicSignup | None:
    """Store a pending signup and queue its confirmation email, whose link is
    ``confirm_base/confirm/<token>``; None when the address has had enough confirmation
    emails today (answered the same way, so nobody learns that)."""
    recent = session.scalar(
        select(func.count())
        .select_from(TopicSignup)
        .where(
            TopicSignup.shop_id == shop.id,
            TopicSignup.email == email,
            TopicSignup.created_at > now - timedelta(days=1),
        )
    )
    # An address too long to key a contact by (one without a shop account) is answered
    # the same way too: else the answer tells which long addresses are customers'.
    if (recent or 0) >= PENDING_PER_DAY or customer_key_for(session, shop.id, email) is None:
        return None
    signup = TopicSignup(
        shop_id=shop.id,
        email=email,
        topic=topic or "",
        first_name=first_name,
        visitor_id=visitor_id,
        token=secrets.token_urlsafe(24),
        state="pending",
        created_at=now,
    )
    session.add(signup)
    settings = shop_settings(shop.settings)
    context = {
        "shop_name": shop_name(shop, settings),
        "shop_url": f"https://{shop.domain}",
        "topic": topic.replace("-", " ") if topic else None,
        "confirm_url": f"{confirm_base}/confirm/{signup.token}",
    }
    rendered = render_email("signup_confirm", context)
    session.add(
        OutboxMessage(
            shop_id=shop.id,
            idempotency_key=f"{shop.id}:signup:{signup.token}",
            kind="email",
            workflow="storefront_signup",
            # the confirmation itself is the request's answer, not marketing
            category="transactional",
            step_id="confirm",
            to_email=email,
            template="signup_confirm",
            subject=rendered.subject,
            preview_html=rendered.html,
            params={"context": context, "text": rendered.text},
            state="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    session.flush()
    return signup


def shop_name(shop: Shop, settings: dict[str, object]) -> str:
    """The shop's name for its emails: the one set, when it is text at all, else the domain."""
    name = settings.get("name")
    if isinstance(name, str) and name.strip() and name.isprintable() and len(name) <= 100:
        return name
    return shop.domain  # a name stored before settings were checked is not sent anywhere


def confirm(session: Session, shop: Shop, signup: TopicSignup, now: datetime) -> str | None:
    """Subscribe the confirmed address and sign it up for its topic; return its customer key.

    The signup's visitor stays unlinked: whoever confirmed owns the address, which says
    nothing about who filled in the form.
    """
    key = signup.customer_external_id or customer_key_for(session, shop.id, signup.email)
    if key is None:
        return None
    if signup.state != "confirmed":
        signup.state, signup.confirmed_at, signup.customer_external_id = "confirmed", now, key
    subscribe(
        session,
        shop,
        key,
        signup.email,
        signup.first_name,
        signup.topic or None,
        now,
        opt_in_level="CONFIRMED_OPT_IN",
    )
    return key


def subscribe(
    session: Session,
    shop: Shop,
    key: str,
    email: str,
    first_name: str | None,
    topic: str | None,
    now: datetime,
    opt_in_level: str = "SINGLE_OPT_IN",
) -> None:
    """Record consent and the topic tag as facts; workflows react as to any other event
    (customer_subscribed starts the welcome series, the tag a topic series). The shop's
    own consent record follows through the worker (plugin.pipeline.consent_writes), with
    ``opt_in_level``: confirmed by the emailed link, or single (a signed-in customer's
    own address).

    ``first_name``, as a form gave it, names only a contact that does not exist yet.
    """
    if facts_store.load_customer(Batch.of(session), shop.id, key) is not None:
        first_name = None
    customer = Customer(
        id=key, email=email, first_name=first_name, accepts_marketing=True, consent_updated_at=now
    )
    consent = Event(ev.CONSENT_CHANGED, occurred_at=now, customer=customer)
    apply_event(Batch.of(session), shop, consent, now)
    queue_consent_write(
        session,
        shop,
        customer_external_id=key,
        email=email,
        subscribed=True,
        origin="storefront_signup",
        now=now,
        opt_in_level=opt_in_level,
    )
    if topic:
        tag_event = Event(
            ev.TAGS_ADDED,
            occurred_at=now,
            customer=Customer(id=key, email=email),
            data={"tags": [TOPIC_TAG + topic]},
        )
        apply_event(Batch.of(session), shop, tag_event, now)


def link_visitor(
    session: Session, shop_id: int, visitor_id: str, key: str, now: datetime, signed_up: bool
) -> None:
    """Tie a visitor (and the views it made anonymously) to a proven customer."""
    visitor = session.scalar(
        select(Visitor).where(Visitor.shop_id == shop_id, Visitor.visitor_id == visitor_id)
    )
    if visitor is None:
        visitor = Visitor(shop_id=shop_id, visitor_id=visitor_id, first_seen_at=now)
        session.add(visitor)
    visitor.customer_external_id, visitor.last_seen_at = key, now
    if signed_up:
        visitor.signed_up_at = now
    session.execute(
        update(PageView)
        .where(
            PageView.shop_id == shop_id,
            PageView.visitor_id == visitor_id,
            PageView.customer_external_id.is_(None),
        )
        .values(customer_external_id=key)
        .execution_options(synchronize_session=False)
    )
