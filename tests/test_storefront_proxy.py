"""The storefront endpoints behind Shopify's app proxy: only requests Shopify signed, lately;
the shop from the signed query, the customer from ``logged_in_customer_id``; the same rules
as the direct endpoints, with signups confirmed on the shop's own domain."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from plugin.shop_settings.workflows import set_enabled
from plugin.storage.models import Episode, OutboxMessage, PageView, Shop, TopicSignup
from tests.support import payloads
from tests.support.app_proxy import PATH_PREFIX, SHOPIFY_ADDRESS, proxy_query
from tests.support.shop import SHOP

VID = "visitor-0123456789abcdef"


def proxied(client, services, path: str, body=None, *, client_address="198.51.100.7", **query):  # type: ignore[no-untyped-def]
    """A request as Shopify's app proxy forwards it, signed now unless told otherwise."""
    secret = query.pop("secret", services.settings["SHOPIFY_API_SECRET"])
    signed_at = query.pop("signed_at", services.now())
    url = f"/storefront/proxy{path}?" + proxy_query(secret, signed_at, **query)
    environ = {"REMOTE_ADDR": SHOPIFY_ADDRESS}
    headers = {"X-Forwarded-For": client_address}
    if body is None:
        return client.get(url, environ_base=environ, headers=headers)
    data = json.dumps(body)
    return client.post(
        url, data=data, content_type="text/plain", environ_base=environ, headers=headers
    )


def page_view(**extra):  # type: ignore[no-untyped-def]
    return {"vid": VID, "type": "page_view", "path": "/collections/tea", **extra}


def stored_views(services) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        rows = session.execute(select(PageView.visitor_id, PageView.customer_external_id))
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_a_guests_page_view_is_recorded_for_the_shop_shopify_names(client, services, shop):
    response = proxied(client, services, "/events", page_view())
    assert response.status_code == 200 and response.get_json()["identified"] is False
    assert stored_views(services) == [(VID, None)]
    # same origin as the storefront: no CORS headers are needed, none are sent
    assert "Access-Control-Allow-Origin" not in response.headers


def test_the_logged_in_customer_is_the_one_shopify_names(client, services, shop):
    response = proxied(client, services, "/events", page_view(), customer="501")
    assert response.get_json()["identified"] is True
    assert stored_views(services) == [(VID, "501")]


@pytest.mark.parametrize(
    "tamper",
    [
        {"secret": "not-the-app-secret"},
        {"signed_at_minutes": -5},  # a signed address seen in a log, replayed later
        {"signed_at_minutes": 5},
        {"path_prefix": "@evil.example"},  # links to the shop are built on it
        {"customer": "501 OR 1=1"},
    ],
)
def test_what_shopify_did_not_sign_lately_is_refused(client, services, shop, tamper):
    query = dict(tamper)
    if "signed_at_minutes" in query:
        query["signed_at"] = services.now() + timedelta(minutes=query.pop("signed_at_minutes"))
    response = proxied(client, services, "/events", page_view(), **query)
    assert response.status_code == 401
    assert stored_views(services) == []


def test_unsigned_requests_and_unknown_shops_are_refused(client, services, shop):
    assert client.post("/storefront/proxy/events", data=json.dumps(page_view())).status_code == 401
    other = proxied(client, services, "/events", page_view(), shop="unknown.myshopify.com")
    assert other.status_code == 404


def test_the_address_limit_counts_each_visitor_not_shopifys_servers(client, services, shop):
    codes = [
        proxied(client, services, "/events", page_view(vid=f"visitor-{n:020d}")).status_code
        for n in range(70)
    ]
    assert codes[0] == 200 and 429 in codes  # one client's flood is limited...
    other = proxied(client, services, "/events", page_view(), client_address="203.0.113.9")
    assert other.status_code == 200  # ...while everyone else behind the same proxy passes


def enable_topics(services, shop, *topics: str) -> None:  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        row = session.get_one(Shop, shop.id)
        row.settings = {**row.settings, "storefront": {"topics": list(topics)}}
        set_enabled(session, shop.id, "topic_nurture", True)


def test_a_signup_is_confirmed_by_a_link_on_the_shops_own_domain(client, services, shop, at, clock):
    enable_topics(services, shop, "tea")
    body = {"vid": VID, "email": "zoe@example.com", "topic": "tea", "consent": True}
    response = proxied(client, services, "/signup", body)
    assert response.status_code == 202
    with services.sessions() as session:
        [message] = session.scalars(
            select(OutboxMessage).where(OutboxMessage.workflow == "storefront_signup")
        ).all()
    link = re.search(
        rf'href="https://{re.escape(SHOP)}{PATH_PREFIX}/confirm/([^"]+)"', message.preview_html
    )
    assert link, message.preview_html
    # Shopify forwards /apps/nudge/confirm/<token> to /storefront/proxy/confirm/<token>
    page = proxied(client, services, f"/confirm/{link[1]}")
    assert page.status_code == 200 and b"<form" in page.data  # a mail scanner confirms nothing
    with services.sessions() as session:
        assert session.scalars(select(TopicSignup.state)).one() == "pending"
    assert proxied(client, services, f"/confirm/{link[1]}", {}).status_code == 200
    at(clock.now + timedelta(minutes=1))
    with services.sessions() as session:
        assert session.scalars(select(Episode.subject)).all() == ["topic:tea:email:zoe@example.com"]
    assert client.post(f"/storefront/proxy/confirm/{link[1]}").status_code == 401  # unsigned


def test_a_logged_in_customer_signing_up_with_their_own_address_is_subscribed_at_once(
    client, services, shop, send_webhook, at, clock
):
    enable_topics(services, shop, "tea")
    send_webhook("customers/create", payloads.customer())
    at(clock.now)
    body = {"vid": VID, "email": "ada@example.com", "topic": "tea", "consent": True}
    response = proxied(client, services, "/signup", body, customer="501")
    assert response.status_code == 200 and response.get_json()["status"] == "subscribed"
    at(clock.now + timedelta(minutes=1))
    with services.sessions() as session:
        assert session.scalars(select(Episode.subject)).all() == ["topic:tea:501"]
