"""The storefront endpoints: shop scope, limits, malformed input, identity only by signature,
double opt-in signups, the overlay's rules."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from plugin.identity import visitor_token
from plugin.pipeline.outbox import unsubscribe_token
from plugin.shop_settings.workflows import set_enabled
from plugin.storage.models import (
    CustomerRow,
    Episode,
    OutboxMessage,
    PageView,
    Shop,
    TopicSignup,
    Visitor,
)
from plugin.storefront.routes import PROXY_MAX_AGE
from tests.support.shop import SHOP
from tests.support.signed_links import proxy_query

VID = "visitor-0123456789abcdef"
EVENTS = f"/storefront/{SHOP}/events"
SIGNUP = f"/storefront/{SHOP}/signup"


def post(client, url: str, body, **kw):  # type: ignore[no-untyped-def]
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(url, data=data, content_type="text/plain", **kw)


def page_view(**extra):  # type: ignore[no-untyped-def]
    return {"vid": VID, "type": "page_view", "path": "/collections/tea", **extra}


def test_script_is_served_for_installed_shops_only(client, shop):
    response = client.get(f"/storefront/{SHOP}/nudge.js")
    assert response.status_code == 200
    assert response.mimetype == "application/javascript"
    assert "nudge_vid" in response.get_data(as_text=True)
    assert client.get("/storefront/unknown.myshopify.com/nudge.js").status_code == 404
    assert post(client, "/storefront/unknown.myshopify.com/events", page_view()).status_code == 404


def test_page_views_are_recorded_anonymously_with_the_query_string_dropped(client, services, shop):
    response = post(client, EVENTS, page_view(path="/Pages/Pricing?email=a@b.c#top"))
    assert response.status_code == 200
    assert response.get_json()["identified"] is False
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    with services.sessions() as session:
        [row] = session.scalars(select(PageView)).all()
    assert (row.path, row.customer_external_id, row.visitor_id) == ("/pages/pricing", None, VID)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        {"type": "page_view", "path": "/"},  # no visitor id
        page_view(vid="short"),
        page_view(vid="x" * 65),
        page_view(type="purchase"),
        page_view(path="no-slash"),
        page_view(path=123),
        page_view(path="/a\x00b"),
        page_view(product_id="gid://shopify/Product/1"),
        page_view(title="t" * 300),
    ],
)
def test_malformed_events_get_400(client, shop, body):
    response = post(client, EVENTS, body)
    assert response.status_code == 400
    assert response.get_json()["error"]


def test_oversized_bodies_get_413(client, shop):
    response = post(client, EVENTS, page_view(title="x" * 5000))
    assert response.status_code == 413


def test_a_flood_from_one_visitor_is_limited_and_others_still_pass(client, shop):
    codes = [post(client, EVENTS, page_view()).status_code for _ in range(60)]
    assert 429 in codes and codes[0] == 200
    limited = post(client, EVENTS, page_view())
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    other = post(client, EVENTS, page_view(vid="another-visitor-000001"))
    assert other.status_code == 200


def test_only_a_token_nudge_signed_identifies_a_customer(client, services, shop):
    forged = visitor_token("some-other-secret", shop.id, "501")
    other_shop = visitor_token(services.settings["SECRET_KEY"], shop.id + 1, "501")
    for token in (forged, other_shop, "garbage", "x" * 600):
        response = post(client, EVENTS, page_view(t=token, customer_id="501"))
        assert response.status_code == 200 and response.get_json()["identified"] is False
    good = visitor_token(services.settings["SECRET_KEY"], shop.id, "501")
    assert post(client, EVENTS, page_view(t=good)).get_json()["identified"] is True
    # the visitor id is now tied to the customer, and its earlier views with it
    assert post(client, EVENTS, page_view()).get_json()["identified"] is True
    with services.sessions() as session:
        owners = set(session.scalars(select(PageView.customer_external_id)))
    assert owners == {"501"}


def test_app_proxy_identity_needs_shopifys_signature(client, services, shop):
    secret = services.settings["SHOPIFY_API_SECRET"]
    now = str(int(services.now().timestamp()))
    params = {
        "shop": SHOP,
        "logged_in_customer_id": "501",
        "path_prefix": "/apps/nudge",
        "timestamp": now,
    }
    response = client.get("/storefront/proxy/identity?" + proxy_query(secret, **params))
    assert response.status_code == 200
    token = response.get_json()["t"]
    assert post(client, EVENTS, page_view(t=token)).get_json()["identified"] is True
    forged = proxy_query("wrong-secret", **params)
    assert client.get("/storefront/proxy/identity?" + forged).status_code == 401
    tampered = proxy_query(secret, **params).replace("501", "502")
    assert client.get("/storefront/proxy/identity?" + tampered).status_code == 401
    anonymous = proxy_query(secret, shop=SHOP, logged_in_customer_id="", timestamp=now)
    assert client.get("/storefront/proxy/identity?" + anonymous).status_code == 401


@pytest.mark.parametrize(
    "age", [PROXY_MAX_AGE + 5, 3 * 365 * 86400, -(PROXY_MAX_AGE + 5), None], ids=str
)
def test_a_signed_app_proxy_request_is_taken_only_when_recent(client, services, shop, age):
    params = {"shop": SHOP, "logged_in_customer_id": "501"}
    if age is not None:
        params["timestamp"] = str(int(services.now().timestamp()) - age)
    query = proxy_query(services.settings["SHOPIFY_API_SECRET"], **params)
    response = client.get("/storefront/proxy/identity?" + query)
    assert response.status_code == 401 and "recent" in response.get_json()["error"]


def enable_topics(services, shop, *topics: str) -> None:  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        row = session.get_one(Shop, shop.id)
        row.settings = {**row.settings, "storefront": {"topics": list(topics), "delay_seconds": 5}}
        set_enabled(session, shop.id, "topic_nurture", True)


def confirmation_link(services) -> str:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        [message] = session.scalars(
            select(OutboxMessage).where(OutboxMessage.workflow == "storefront_signup")
        ).all()
    assert message.category == "transactional" and message.to_email == "zoe@example.com"
    match = re.search(
        r'href="https://nudge\.example(/storefront/[^"]+/confirm/[^"]+)"', message.preview_html
    )
    assert match
    return match.group(1)


def test_a_signup_subscribes_nobody_until_its_address_confirms(client, services, shop, at, clock):
    enable_topics(services, shop, "tea")
    body = {"vid": VID, "email": "Zoe@Example.com", "topic": "tea", "consent": True}
    response = post(client, SIGNUP, body)
    assert response.status_code == 202 and response.get_json()["status"] == "confirm"
    at(clock.now + timedelta(minutes=1))
    with services.sessions() as session:
        assert session.scalars(select(Episode)).all() == []
    link = confirmation_link(services)
    page = client.get(link)  # a mail scanner following the link confirms nothing
    assert page.status_code == 200 and b"<form" in page.data
    with services.sessions() as session:
        assert session.scalars(select(TopicSignup.state)).one() == "pending"
    assert client.post(link).status_code == 200
    at(clock.now + timedelta(minutes=2))
    with services.sessions() as session:
        [episode] = session.scalars(select(Episode)).all()
        sent = session.scalars(
            select(OutboxMessage.template).where(OutboxMessage.workflow == "topic_nurture")
        ).all()
    assert (episode.workflow, episode.subject) == (
        "topic_nurture",
        "topic:tea:email:zoe@example.com",
    )
    assert sent == ["topic_nurture"]
    assert client.post(link).status_code == 200  # confirming twice changes nothing
    with services.sessions() as session:
        assert len(session.scalars(select(Episode)).all()) == 1
    assert client.get(f"/storefront/{SHOP}/confirm/not-a-token").status_code == 404


def test_a_confirmation_link_acts_once_and_only_on_post(client, services, shop, at, clock):
    enable_topics(services, shop, "tea")
    body = {"vid": VID, "email": "zoe@example.com", "topic": "tea", "consent": True}
    post(client, SIGNUP, body)
    link = confirmation_link(services)
    assert client.head(link).status_code == 200  # a scanner's HEAD
    with services.sessions() as session:
        assert session.scalars(select(TopicSignup.state)).one() == "pending"
    assert client.post(link).status_code == 200
    at(clock.now + timedelta(minutes=1))
    with services.sessions() as session:
        customer = session.scalars(select(CustomerRow)).one()
    unsubscribe = f"/unsubscribe/{unsubscribe_token(services.settings['SECRET_KEY'], shop.id, 'zoe@example.com')}"
    assert client.post(unsubscribe).status_code == 200
    # the old link, found again in the mailbox, subscribes nobody again
    for again in (client.get, client.post):
        assert again(link).status_code == 200
    with services.sessions() as session:
        customer = session.get_one(CustomerRow, customer.id)
    assert customer.accepts_marketing is False


SPAM = "WIN a FREE iPhone at http://evil.example/claim"


def test_a_signup_relays_no_submitted_text_and_renames_and_links_nobody(
    client, services, shop, send_webhook, at, clock
):
    from tests.support import payloads

    enable_topics(services, shop, "tea")
    send_webhook("customers/create", payloads.customer(email="zoe@example.com"))  # "Ada"
    at(clock.now)
    attacker = "attacker-visitor-000001"
    post(client, EVENTS, page_view(vid=attacker, path="/pages/private-sale"))
    body = {"vid": attacker, "email": "zoe@example.com", "first_name": SPAM, "consent": True}
    assert post(client, SIGNUP, body).status_code == 202
    with services.sessions() as session:
        [message] = session.scalars(select(OutboxMessage)).all()
    sent = json.dumps([message.subject, message.preview_html, message.params])
    assert "iPhone" not in sent and "evil.example" not in sent
    assert "Hi there" in (message.preview_html or "")

    assert client.post(confirmation_link(services)).status_code == 200  # the real Zoe
    at(clock.now + timedelta(minutes=1))
    with services.sessions() as session:
        zoe = session.scalars(select(CustomerRow)).one()
        views = session.scalars(select(PageView.customer_external_id)).all()
        visitor = session.scalars(select(Visitor).where(Visitor.visitor_id == attacker)).one()
    assert (zoe.first_name, zoe.accepts_marketing) == ("Ada", True)
    assert views == [None] and visitor.customer_external_id is None


@pytest.mark.parametrize(
    "body",
    [
        b'{"vid": "' + b"[" * 4000,
        b"[" * 2000 + b"]" * 2000,  # within the size limit, beyond the interpreter's depth
        b'{"vid": "visitor-0123456789abcdef", "type": "page_view", "path": "/\\ud800"}',
        b'{"vid": "visitor-0123456789abcdef", "type": "page_view", "path": "/\xed\xa0\x80"}',
        b'{"vid": "visitor-0123456789abcdef", "type": ["page_view"], "path": "/"}',
        b'{"vid": "visitor-0123456789abcdef", "type": {"a": 1}, "path": "/"}',
        b'{"vid": "visitor-0123456789abcdef", "type": "page_view", "path": "/", "title": [{}]}',
    ],
)
def test_deep_surrogate_and_mistyped_events_get_400(client, shop, body):
    response = post(client, EVENTS, body)
    assert response.status_code == 400 and response.get_json()["error"]


@pytest.mark.parametrize(
    "change",
    [
        {"first_name": "\ud800"},
        {"first_name": {"a": 1}},
        {"topic": ["tea"]},
        {"topic": "tea" * 50},
        {"email": ["zoe@example.com"]},
        {"vid": {"a": 1}},
    ],
)
def test_mistyped_signups_get_400(client, services, shop, change):
    enable_topics(services, shop, "tea")
    body = {"vid": VID, "email": "zoe@example.com", "topic": "tea", "consent": True, **change}
    raw = json.dumps(body).encode()  # ensure_ascii: a lone surrogate goes as its escape
    response = post(client, SIGNUP, raw)
    assert response.status_code == 400 and response.get_json()["error"]


def test_a_shop_name_stored_before_it_was_checked_breaks_no_signup(client, services, shop):
    enable_topics(services, shop, "tea")
    with services.sessions() as session, session.begin():
        row = session.get_one(Shop, shop.id)
        row.settings = {**row.settings, "name": "\ud800 Tea"}  # JSON keeps it as an escape
    response = post(client, SIGNUP, {"vid": VID, "email": "zoe@example.com", "consent": True})
    assert response.status_code == 202
    with services.sessions() as session:
        [message] = session.scalars(select(OutboxMessage)).all()
    assert SHOP in (message.subject or "")


def test_a_new_contact_is_named_as_the_form_said(client, services, shop, at, clock):
    enable_topics(services, shop, "tea")
    body = {"vid": VID, "email": "zoe@example.com", "first_name": "Zoe", "consent": True}
    post(client, SIGNUP, body)
    client.post(confirmation_link(services))
    with services.sessions() as session:
        contact = session.scalars(select(CustomerRow)).one()
    assert (contact.external_id, contact.first_name) == ("email:zoe@example.com", "Zoe")


@pytest.mark.parametrize(
    "change, error",
    [
        ({"email": "not-an-email"}, "email"),
        ({"consent": False}, "consent"),
        ({"consent": "yes"}, "consent"),
        ({"topic": "crypto"}, "topic"),
    ],
)
def test_bad_signups_get_400(client, services, shop, change, error):
    enable_topics(services, shop, "tea")
    body = {"vid": VID, "email": "zoe@example.com", "topic": "tea", "consent": True, **change}
    response = post(client, SIGNUP, body)
    assert response.status_code == 400 and error in response.get_json()["error"]


def test_a_long_address_is_answered_alike_for_a_customer_and_a_stranger(
    client, services, shop, send_webhook, at, clock
):
    from tests.support import payloads

    customer, stranger = "c" * 60 + "@example.com", "s" * 60 + "@example.com"
    send_webhook("customers/create", payloads.customer(email=customer))
    at(clock.now)
    answers = []
    for n, email in enumerate((customer, stranger)):
        body = {"vid": f"visitor-{n:020d}", "email": email, "consent": True}
        response = post(client, SIGNUP, body)
        answers.append((response.status_code, response.get_json()))
    assert answers[0] == answers[1] == (202, {"status": "confirm"})
    with services.sessions() as session:  # only the customer can be a contact, so only they
        assert session.scalars(select(OutboxMessage.to_email)).all() == [customer]


def test_one_address_gets_few_confirmation_emails(client, services, shop):
    enable_topics(services, shop, "tea")
    for n in range(5):
        body = {"vid": f"visitor-{n:020d}", "email": "zoe@example.com", "consent": True}
        assert post(client, SIGNUP, body).status_code == 202
    with services.sessions() as session:
        count = len(session.scalars(select(OutboxMessage)).all())
    assert count == 3


def test_a_proved_customer_signing_up_with_their_own_address_is_subscribed_at_once(
    client, services, shop, send_webhook, at, clock
):
    from tests.support import payloads

    enable_topics(services, shop, "tea")
    send_webhook("customers/create", payloads.customer())
    at(clock.now)
    token = visitor_token(services.settings["SECRET_KEY"], shop.id, "501")
    body = {"vid": VID, "email": "ada@example.com", "topic": "tea", "consent": True, "t": token}
    response = post(client, SIGNUP, body)
    assert response.status_code == 200 and response.get_json()["status"] == "subscribed"
    at(clock.now + timedelta(minutes=1))
    with services.sessions() as session:
        assert session.scalars(select(Episode.subject)).all() == ["topic:tea:501"]


def test_the_overlay_is_offered_to_anonymous_visitors_only_and_not_twice(
    client, services, shop, clock
):
    enable_topics(services, shop, "tea")
    first = post(client, EVENTS, page_view(want_overlay=True)).get_json()
    assert first["overlay"]["delay_seconds"] == 5 and first["topics"] == ["tea"]
    assert post(client, EVENTS, page_view()).get_json()["overlay"] is None  # not asked for
    post(client, EVENTS, {"vid": VID, "type": "overlay_shown"})
    assert post(client, EVENTS, page_view(want_overlay=True)).get_json()["overlay"] is None
    # a subscriber never sees it
    with services.sessions() as session, session.begin():
        from plugin.storefront.signups import subscribe

        subscribe(session, session.get_one(Shop, shop.id), "501", "a@x.com", None, None, clock.now)
    token = visitor_token(services.settings["SECRET_KEY"], shop.id, "501")
    subscriber = page_view(vid="subscriber-visitor-0001", t=token, want_overlay=True)
    assert post(client, EVENTS, subscriber).get_json()["overlay"] is None


def test_cors_preflight_is_answered(client, shop):
    response = client.options(EVENTS, headers={"Origin": "https://shop.example"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
