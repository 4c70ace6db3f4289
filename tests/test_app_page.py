"""The embedded page's server side: frame policy on every HTML response, App Bridge, no data
without a session token, development tokens, and the API pieces the page relies on."""

from __future__ import annotations

import json
import re

import pytest
import responses
from sqlalchemy import select

from plugin.pipeline.delivery import deliver_pending
from plugin.storage.models import OutboxMessage, Shop
from tests.support.session_tokens import session_token
from tests.support.shop import SHOP

OTHER = "other-shop.myshopify.com"
ADMIN = "https://admin.shopify.com"


def auth(token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or session_token()}"}


def frame_ancestors(response) -> list[str]:  # type: ignore[no-untyped-def]
    policy = response.headers.get("Content-Security-Policy", "")
    [directive] = [d.strip() for d in policy.split(";") if "frame-ancestors" in d]
    return directive.split()[1:]


# --- Content-Security-Policy: frame-ancestors ---------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (f"shop={SHOP}", [f"https://{SHOP}", ADMIN]),
        ("shop=TEST-SHOP.myshopify.com", [f"https://{SHOP}", ADMIN]),
        ("", [ADMIN]),
        ("shop=evil.com", [ADMIN]),
        ("shop=x.myshopify.com.evil.com", [ADMIN]),
        ("shop=a.myshopify.com%3B%20script-src%20*", [ADMIN]),
        ("shop=a.myshopify.com%20https://evil.com", [ADMIN]),
    ],
    ids=["shop", "upper-case", "none", "evil", "suffix-attack", "directive-injection", "space"],
)
def test_the_page_may_be_framed_only_by_the_shop_and_the_admin(client, query, expected):
    response = client.get(f"/?{query}")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert frame_ancestors(response) == expected
    assert "evil" not in response.headers["Content-Security-Policy"]


def test_every_html_response_of_the_app_carries_the_frame_policy(app, client, shop):
    """Every GET route (with made-up arguments, so errors too), plus a missing page."""
    seen = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", "x", rule.rule)
        response = client.get(f"{path}?shop={SHOP}")
        if response.mimetype == "text/html":
            seen += 1
            assert frame_ancestors(response) == [f"https://{SHOP}", ADMIN], rule.rule
    assert seen >= 3  # at least the page, an unsubscribe page and the static 404
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and frame_ancestors(missing) == [ADMIN]


def test_unsubscribe_pages_carry_the_frame_policy(client, shop, services):
    from plugin.pipeline.outbox import unsubscribe_token

    token = unsubscribe_token(services.settings["SECRET_KEY"], shop.id, "ada@example.com")
    for response in (
        client.get(f"/unsubscribe/{token}"),
        client.post(f"/unsubscribe/{token}"),
        client.get("/unsubscribe/forged"),
    ):
        assert response.mimetype == "text/html"
        assert frame_ancestors(response) == [ADMIN]


def test_json_is_left_alone(client, shop):
    response = client.get("/api/workflows", headers=auth())
    assert response.mimetype == "application/json"
    assert "Content-Security-Policy" not in response.headers


# --- the page itself ------------------------------------------------------------------------


def test_the_page_loads_app_bridge_with_the_api_key(client):
    html = client.get(f"/?shop={SHOP}&host=abc&embedded=1").get_data(as_text=True)
    assert '<meta name="shopify-api-key" content="test-api-key">' in html
    scripts = re.findall(r"<script[^>]*src=\"([^\"]+)\"", html)
    # App Bridge first, as Shopify requires; then the page's own module
    assert scripts[0] == "https://cdn.shopify.com/shopifycloud/app-bridge.js"
    assert scripts[1].startswith("/static/app/main.js?v=")
    assert "nudge-dev-session-tokens" not in html


def test_the_page_holds_no_shop_data_and_the_api_refuses_without_a_token(client, shop, services):
    with services.sessions() as session, session.begin():
        row = session.scalar(select(Shop).where(Shop.domain == SHOP))
        row.settings = {"from_email": "secret-sender@shop.example", "name": "Private Name"}
    html = client.get(f"/?shop={SHOP}").get_data(as_text=True)
    for secret in ("secret-sender", "Private Name", "cart_abandonment", "test-app-secret"):
        assert secret not in html
    for method, path in (
        ("GET", "/api/workflows"),
        ("GET", "/api/settings"),
        ("GET", "/api/activity"),
        ("GET", "/api/catalog"),
        ("POST", "/api/workflows/upsell/test-email"),
    ):
        response = client.open(path, method=method, json={})
        assert response.status_code == 401, path
        assert "secret-sender" not in response.get_data(as_text=True)


def test_static_assets_are_served(client):
    html = client.get("/").get_data(as_text=True)
    for asset in re.findall(r"(/static/app/[^\"?]+)", html):
        response = client.get(asset)
        assert response.status_code == 200, asset
        response.close()


# --- development tokens -----------------------------------------------------------------------


@pytest.fixture
def dev_tokens(services):  # type: ignore[no-untyped-def]
    services.settings["DEV_SESSION_TOKENS"] = True
    return services


def test_development_tokens_do_not_exist_in_production(client, shop):
    assert client.get(f"/dev/session-token?shop={SHOP}").status_code == 404
    html = client.get(f"/?shop={SHOP}").get_data(as_text=True)
    assert "nudge-dev-session-tokens" not in html and "app-bridge.js" in html


def test_a_development_token_works_for_that_shop_only(client, shop, dev_tokens):
    with dev_tokens.sessions() as session, session.begin():
        session.add(Shop(domain=OTHER, platform="shopify", settings={}))
    response = client.get(f"/dev/session-token?shop={SHOP}")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    token = response.json["token"]
    assert client.get("/api/workflows", headers=auth(token)).status_code == 200
    mine = client.put("/api/settings", json={"frequency_cap_hours": 30}, headers=auth(token))
    assert mine.status_code == 200
    theirs = client.get("/api/settings", headers=auth(session_token(OTHER))).json["settings"]
    assert theirs["frequency_cap_hours"] == 16
    # outside the admin in development the page goes without App Bridge (it would redirect)
    html = client.get(f"/?shop={SHOP}").get_data(as_text=True)
    assert "nudge-dev-session-tokens" in html and "app-bridge.js" not in html
    assert "app-bridge.js" in client.get(f"/?shop={SHOP}&embedded=1").get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "headers", "environ", "status"),
    [
        ("shop=not-installed.myshopify.com", {}, {}, 404),
        ("shop=evil.com", {}, {}, 400),
        ("", {}, {}, 400),
        (f"shop={SHOP}", {}, {"REMOTE_ADDR": "203.0.113.9"}, 403),
        (f"shop={SHOP}", {"X-Forwarded-For": "203.0.113.9"}, {}, 403),
        (f"shop={SHOP}", {"Forwarded": "for=203.0.113.9"}, {}, 403),
        (f"shop={SHOP}", {"Host": "rebound.evil.example"}, {}, 403),
        (f"shop={SHOP}", {"Host": "abc.trycloudflare.com"}, {}, 403),
    ],
    ids=[
        "not-installed",
        "bad-domain",
        "no-shop",
        "remote",
        "proxied",
        "forwarded",
        "dns-rebinding",
        "tunnel",
    ],
)
def test_development_tokens_are_refused_beyond_this_machine(
    client, shop, dev_tokens, query, headers, environ, status
):
    response = client.get(f"/dev/session-token?{query}", headers=headers, environ_base=environ)
    assert response.status_code == status
    assert "token" not in (response.get_json(silent=True) or {})


def test_development_tokens_need_the_app_credentials(client, shop, dev_tokens):
    dev_tokens.settings["SHOPIFY_API_SECRET"] = None
    assert client.get(f"/dev/session-token?shop={SHOP}").status_code == 404


# --- API pieces the page uses ----------------------------------------------------------------


def test_catalog_lists_templates_delay_units_anchors_and_time_zones(client, shop):
    catalog = client.get("/api/catalog", headers=auth()).json
    assert "cart_reminder" in catalog["email_templates"]
    assert "staff_alert" not in catalog["email_templates"]
    assert catalog["delay_units"] == ["minutes", "hours", "days"]
    assert "checkout_activity" in catalog["delay_anchors"]
    assert "Europe/Berlin" in catalog["timezones"]


def _definition(client, name: str) -> dict:  # type: ignore[type-arg]
    return client.get(f"/api/workflows/{name}", headers=auth()).json["workflow"]["definition"]


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"template": "no_such_template"}, "steps[0].actions[0].params.template"),
        (
            {"template": "upsell", "template_id": "d-short"},
            "steps[0].actions[0].params.template_id",
        ),
        ({"template": "upsell", "template_id": 7}, "steps[0].actions[0].params.template_id"),
    ],
    ids=["unknown-template", "bad-template-id", "template-id-not-text"],
)
def test_email_choices_are_checked_before_saving(client, shop, params, path):
    definition = _definition(client, "upsell")
    definition["steps"][0]["actions"][0]["params"] = params
    response = client.put("/api/workflows/upsell", json={"definition": definition}, headers=auth())
    assert response.status_code == 422
    assert path in {e["path"] for e in response.json["errors"]}
    assert client.get("/api/workflows/upsell", headers=auth()).json["versions"] == []


def test_a_sendgrid_dynamic_template_id_is_saved(client, shop):
    definition = _definition(client, "upsell")
    template_id = "d-" + "0123456789abcdef" * 2
    definition["steps"][0]["actions"][0]["params"]["template_id"] = template_id
    response = client.put("/api/workflows/upsell", json={"definition": definition}, headers=auth())
    assert response.status_code == 200
    saved = response.json["workflow"]["definition"]["steps"][0]["actions"][0]["params"]
    assert saved["template_id"] == template_id


def _set_staff(services, email: str | None) -> None:  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        row = session.scalar(select(Shop).where(Shop.domain == SHOP))
        row.settings = {"staff_email": email} if email else {}


@responses.activate
def test_a_test_email_goes_to_the_staff_through_the_outbox_and_sendgrid(
    client, shop, services, clock
):
    _set_staff(services, "owner@shop.example")
    response = client.post(
        "/api/workflows/cart_abandonment/test-email", json={"step": "offer"}, headers=auth()
    )
    assert response.status_code == 200
    assert response.json["queued"]["to"] == "owner@shop.example"
    assert "NUDGE-TEST" in response.json["preview_html"]  # the step's discount, as a sample
    assert services.work_arrived.is_set()

    services.settings["SENDGRID_API_KEY"] = "SG.test-key"
    services.settings["SENDGRID_BASE_URL"] = "https://sendgrid.test"
    responses.post("https://sendgrid.test/v3/mail/send", status=202)
    assert deliver_pending(services, clock()).sent == 1
    body = json.loads(responses.calls[0].request.body)
    [personalization] = body["personalizations"]
    assert personalization["to"][0]["email"] == "owner@shop.example"
    subject = body.get("subject") or personalization.get("subject")
    assert subject.startswith("[Test] ")
    assert "asm" not in body  # not marketing: no unsubscribe group, no consent needed
    # the merchant's own test is no workflow result
    stats = next(
        w["stats"]
        for w in client.get("/api/workflows", headers=auth()).json["workflows"]
        if w["name"] == "cart_abandonment"
    )
    assert stats["sent"] == 0


def test_a_test_email_can_try_an_unsaved_draft_and_a_sendgrid_template(client, shop, services):
    _set_staff(services, "owner@shop.example")
    draft = _definition(client, "upsell")
    draft["steps"][0]["actions"][0]["params"] = {
        "template": "winback",
        "subject": "Draft subject",
        "template_id": "d-" + "a" * 32,
    }
    response = client.post(
        "/api/workflows/upsell/test-email", json={"definition": draft}, headers=auth()
    )
    assert (
        response.status_code == 200 and response.json["queued"]["subject"] == "[Test] Draft subject"
    )
    with services.sessions() as session:
        message = session.scalars(select(OutboxMessage)).one()
    assert message.template == "winback" and message.params["template_id"] == "d-" + "a" * 32
    assert message.category == "transactional" and message.episode_id is None
    assert client.get("/api/workflows/upsell", headers=auth()).json["versions"] == []


@pytest.mark.parametrize(
    ("staff", "body", "path"),
    [
        (None, {}, "staff_email"),
        ("owner@shop.example", {"step": "no_such_step"}, "step"),
        ("owner@shop.example", {"definition": {"name": "upsell"}}, "trigger"),
        ("owner@shop.example", {"definition": {"name": "cart_abandonment"}}, "definition"),
    ],
    ids=["no-recipient", "unknown-step", "invalid-draft", "other-workflow"],
)
def test_a_test_email_that_cannot_be_sent_says_why(client, shop, services, staff, body, path):
    _set_staff(services, staff)
    response = client.post("/api/workflows/upsell/test-email", json=body, headers=auth())
    assert response.status_code == 422
    assert path in {e["path"] for e in response.json["errors"]}
    with services.sessions() as session:
        assert session.scalars(select(OutboxMessage)).all() == []


def test_a_test_email_only_for_ones_own_shop(client, shop, services):
    with services.sessions() as session, session.begin():
        session.add(
            Shop(domain=OTHER, platform="shopify", settings={"staff_email": "them@other.example"})
        )
    _set_staff(services, "owner@shop.example")
    response = client.post(
        "/api/workflows/upsell/test-email", json={}, headers=auth(session_token(OTHER))
    )
    assert response.json["queued"]["to"] == "them@other.example"
    assert client.post("/api/workflows/nope/test-email", json={}, headers=auth()).status_code == 404


def test_activity_can_be_narrowed_to_one_workflow(client, send_webhook, at):
    from datetime import timedelta

    from tests.support import payloads
    from tests.support.clock import T0
    from tests.support.workflows import subscribe

    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-1", T0, price="9.00"))
    send_webhook("orders/create", payloads.order(8001, T0))
    at(T0 + timedelta(minutes=5))  # enrolled while fresh
    at(T0 + timedelta(days=8))
    everything = client.get("/api/activity", headers=auth()).json["activity"]
    assert {item["workflow"] for item in everything} >= {"cart_abandonment", "upsell"}
    narrowed = client.get("/api/activity?workflow=upsell", headers=auth()).json["activity"]
    assert narrowed and {item["workflow"] for item in narrowed} == {"upsell"}


def test_development_tokens_without_the_app_credentials_say_so_on_the_page(
    client, services, dev_tokens
):
    dev_tokens.settings["SHOPIFY_API_SECRET"] = None
    page = client.get(f"/?shop={SHOP}").get_data(as_text=True)
    assert 'data-role="dev-tokens-problem"' in page
    assert "NUDGE_SHOPIFY_API_KEY and NUDGE_SHOPIFY_API_SECRET are not both set" in page
    services.settings["DEV_SESSION_TOKENS"] = False  # production: the page says nothing of it
    assert "dev-tokens-problem" not in client.get(f"/?shop={SHOP}").get_data(as_text=True)


def test_a_reshaped_list_of_steps_is_saved_whole_and_refused_at_its_new_paths(client, shop):
    """What the workflow card sends after adding, moving and removing steps: the server
    names a problem by the step's new position, and keeps the list in its new order."""
    definition = _definition(client, "reengagement")
    winback, offer, stay, _sunset = definition["steps"]
    follow_up = {
        "id": "follow_up",
        "delay": {"days": -1, "from": "previous_step"},
        "conditions": stay["conditions"],
        "actions": [{"name": "send_email", "params": {"template": "winback"}}],
    }
    definition["steps"] = [winback, follow_up, offer, stay]  # added, moved up; sunset removed
    response = client.put(
        "/api/workflows/reengagement", json={"definition": definition}, headers=auth()
    )
    assert response.status_code == 422
    assert [e["path"] for e in response.json["errors"]] == ["steps[1].delay.days"]
    assert client.get("/api/workflows/reengagement", headers=auth()).json["versions"] == []

    follow_up["delay"]["days"] = 5
    response = client.put(
        "/api/workflows/reengagement", json={"definition": definition}, headers=auth()
    )
    assert response.status_code == 200
    saved = client.get("/api/workflows/reengagement", headers=auth()).json["workflow"]
    assert [s["id"] for s in saved["definition"]["steps"]] == [
        "winback",
        "follow_up",
        "offer",
        "stay_subscribed",
    ]
    assert saved["version"] == 1
