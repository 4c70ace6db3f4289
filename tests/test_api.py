"""The settings page's JSON API: session-token auth, tenant isolation, validated versions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from plugin.storage.models import OutboxMessage, Shop, utcnow
from tests.support import payloads
from tests.support.clock import T0
from tests.support.session_tokens import session_token
from tests.support.shop import SHOP_ADDRESS

OTHER = "other-shop.myshopify.com"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def other_shop(services):  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        session.add(Shop(domain=OTHER, platform="shopify", access_token="t2", settings={}))


@pytest.mark.parametrize(
    "make_headers",
    [
        lambda: {},
        lambda: {"Authorization": "Basic abc"},
        lambda: auth("not-a-jwt"),
        lambda: auth(session_token(secret="forged-secret-forged-secret-forged-secret")),
        lambda: auth(session_token(expires_in=-120)),
        lambda: auth(session_token(audience="someone-elses-app")),
        lambda: auth(session_token(not_before_in=600)),
        lambda: auth(session_token("not-installed.myshopify.com")),
    ],
    ids=[
        "missing",
        "not-bearer",
        "garbage",
        "forged",
        "expired",
        "wrong-audience",
        "not-yet-valid",
        "unknown-shop",
    ],
)
def test_bad_tokens_are_401(client, shop, make_headers):
    response = client.get("/api/workflows", headers=make_headers())
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"


def test_lists_the_shops_workflows(client, shop):
    response = client.get("/api/workflows", headers=auth(session_token()))
    assert response.status_code == 200
    names = {w["name"] for w in response.json["workflows"]}
    assert {
        "cart_abandonment",
        "upsell",
        "purchase_cycle",
        "feedback_request",
        "reengagement",
    } <= names


def test_put_saves_a_new_version_and_previous_ones_are_restorable(client, shop):
    headers = auth(session_token())
    current = client.get("/api/workflows/upsell", headers=headers).json["workflow"]["definition"]
    changed = {
        **current,
        "steps": [{**current["steps"][0], "delay": {**current["steps"][0]["delay"], "days": 5}}]
        + current["steps"][1:],
    }
    saved = client.put(
        "/api/workflows/upsell", json={"definition": changed, "enabled": False}, headers=headers
    )
    assert saved.status_code == 200 and saved.json["workflow"]["version"] == 1
    again = client.put("/api/workflows/upsell", json={"enabled": True}, headers=headers)
    assert again.json["workflow"]["version"] == 2
    detail = client.get("/api/workflows/upsell", headers=headers).json
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert detail["workflow"]["definition"]["steps"][0]["delay"]["days"] == 5
    restored = client.post("/api/workflows/upsell/versions/1/restore", headers=headers)
    assert (
        restored.json["workflow"]["version"] == 3 and restored.json["workflow"]["enabled"] is False
    )


def test_invalid_definition_names_the_field_and_saves_nothing(client, shop):
    headers = auth(session_token())
    current = client.get("/api/workflows/cart_abandonment", headers=headers).json["workflow"][
        "definition"
    ]
    broken = dict(current)
    broken["steps"] = [dict(s) for s in current["steps"]]
    broken["steps"][0]["conditions"] = {
        "all": [{"name": "cart_valu", "operator": "greater_than", "value": 5}]
    }
    response = client.put(
        "/api/workflows/cart_abandonment", json={"definition": broken}, headers=headers
    )
    assert response.status_code == 422
    [error] = [e for e in response.json["errors"] if "cart_valu" in e["message"]]
    assert error["path"] == "steps[0].conditions.all[0]"
    versions = client.get("/api/workflows/cart_abandonment", headers=headers).json["versions"]
    assert versions == []


def test_malformed_bodies_are_400_or_422_not_500(client, shop):
    headers = {**auth(session_token()), "Content-Type": "application/json"}
    unreadable = {
        b"{": "not JSON",
        b"[" * 4000 + b"]" * 4000: "nested more than 64 deep",
        b'{"enabled": "\\udfff"}': "lone surrogate",
        b'{"enabled": Infinity}': "Infinity is not a JSON number",
    }
    for body, says in unreadable.items():
        response = client.put("/api/workflows/upsell", data=body, headers=headers)
        assert response.status_code == 400 and says in response.json["error"], body[:20]
    for body in (b"[]", b'"x"'):  # JSON, but not an object
        response = client.put("/api/workflows/upsell", data=body, headers=headers)
        assert response.status_code == 422
    assert (
        client.put("/api/workflows/upsell", json={"enabled": "yes"}, headers=headers).status_code
        == 422
    )
    assert client.put("/api/workflows/nope", json={}, headers=headers).status_code == 404


def test_a_token_for_one_shop_never_touches_another(client, shop, other_shop):
    mine, theirs = auth(session_token()), auth(session_token(OTHER))
    client.put("/api/workflows/upsell", json={"enabled": False}, headers=theirs)
    assert client.get("/api/workflows/upsell", headers=theirs).json["workflow"]["enabled"] is False
    assert client.get("/api/workflows/upsell", headers=mine).json["workflow"]["enabled"] is True
    assert client.get("/api/workflows/upsell", headers=mine).json["versions"] == []
    client.put("/api/settings", json={"frequency_cap_hours": 48}, headers=theirs)
    assert client.get("/api/settings", headers=mine).json["settings"]["frequency_cap_hours"] == 16


def test_settings_are_validated_per_field(client, shop):
    headers = auth(session_token())
    response = client.put(
        "/api/settings",
        json={
            "send_window": {"start_hour": 25},
            "capped_action": "explode",
            "from_email": "nope",
            "timezone": "Mars/Base",
        },
        headers=headers,
    )
    assert response.status_code == 422
    paths = {e["path"] for e in response.json["errors"]}
    assert {"send_window.start_hour", "capped_action", "from_email", "timezone"} <= paths
    assert client.get("/api/settings", headers=headers).json["settings"]["capped_action"] == "defer"
    ok = client.put(
        "/api/settings",
        json={"timezone": "Europe/Berlin", "from_email": "hi@shop.example"},
        headers=headers,
    )
    assert ok.status_code == 200 and ok.json["settings"]["timezone"] == "Europe/Berlin"


def test_the_storefront_overlay_is_set_with_the_shop_settings(client, shop):
    headers = auth(session_token())
    overlay = client.get("/api/settings", headers=headers).json["settings"]["storefront"]
    assert overlay["delay_seconds"] == 15 and overlay["overlay_enabled"] is True
    bad = {
        **overlay,
        "delay_seconds": -1,
        "headline": " ",
        "text": "x" * 301,
        "topics": ["ok", "!!"],
        "colour": "red",
    }
    response = client.put("/api/settings", json={"storefront": bad, "junk": 1}, headers=headers)
    assert response.status_code == 422
    assert {e["path"] for e in response.json["errors"]} == {
        "storefront.delay_seconds",
        "storefront.headline",
        "storefront.text",
        "storefront.topics[1]",
        "storefront",
        "body",
    }
    assert client.get("/api/settings", headers=headers).json["settings"]["storefront"] == overlay
    mine = {**overlay, "delay_seconds": 30, "offer": "10% off your first order", "topics": ["tea"]}
    assert (
        client.put("/api/settings", json={"storefront": mine}, headers=headers).status_code == 200
    )
    # what the storefront script is told
    seen = client.post(
        f"/storefront/{shop.domain}/events",
        data='{"vid": "visitor-0123456789abcdef", "type": "page_view", "path": "/", "want_overlay": true}',
        content_type="text/plain",
    ).get_json()["overlay"]
    assert (seen["delay_seconds"], seen["offer"]) == (30, "10% off your first order")


def test_catalog_and_activity(client, shop):
    headers = auth(session_token())
    catalog = client.get("/api/catalog", headers=headers).json
    assert {"variables", "actions", "variable_type_operators"} <= set(catalog)
    assert client.get("/api/activity", headers=headers).json == {"activity": []}


def test_a_saved_definition_that_no_longer_validates_is_kept_off_with_its_problems(
    client, shop, services
):
    from plugin.storage.models import WorkflowConfig, utcnow
    from rules.definitions import shipped_workflows

    broken = shipped_workflows()["upsell"]
    broken["steps"][0]["conditions"]["all"][0]["name"] = (
        "order_canceled"  # typo a later catalog rejects
    )
    with services.sessions() as session, session.begin():
        session.add(
            WorkflowConfig(
                shop_id=shop.id,
                name="upsell",
                version=1,
                enabled=True,
                definition=broken,
                created_at=utcnow(),
            )
        )
    upsell = next(
        w
        for w in client.get("/api/workflows", headers=auth(session_token())).json["workflows"]
        if w["name"] == "upsell"
    )
    assert upsell["enabled"] is False and upsell["version"] == 1
    assert any("order_canceled" in p for p in upsell["problems"])
    assert upsell["definition"]["steps"][0]["conditions"]["all"][0]["name"] == "order_canceled"
    # switching it on again means fixing it: the save is validated
    response = client.put(
        "/api/workflows/upsell", json={"enabled": True}, headers=auth(session_token())
    )
    assert response.status_code == 422


def test_a_merchant_adds_a_topic_series_that_starts_as_the_catch_all_copy(client, shop, other_shop):
    headers = auth(session_token())
    created = client.post("/api/topics", json={"topic": "Skin Care"}, headers=headers)
    assert created.status_code == 201
    workflow = created.json["workflow"]
    assert (workflow["name"], workflow["enabled"], workflow["version"]) == (
        "topic_skin_care",
        True,
        1,
    )
    definition = workflow["definition"]
    assert definition["trigger"]["topic"] == "skin-care"
    catch_all = client.get("/api/workflows/topic_nurture", headers=headers).json["workflow"]
    assert definition["steps"] == catch_all["definition"]["steps"]
    # from then on it is an ordinary workflow: listed, edited, versioned
    names = {w["name"] for w in client.get("/api/workflows", headers=headers).json["workflows"]}
    assert "topic_skin_care" in names
    definition["steps"][1]["delay"]["days"] = 5
    saved = client.put(
        "/api/workflows/topic_skin_care", json={"definition": definition}, headers=headers
    )
    assert saved.status_code == 200 and saved.json["workflow"]["version"] == 2
    # once per topic, a usable name, and only for the shop that made it
    again = client.post("/api/topics", json={"topic": "skin care"}, headers=headers)
    assert again.status_code == 422 and again.json["errors"][0]["path"] == "topic"
    for bad in ({"topic": "  "}, {"topic": "*"}, {"topic": 7}, {}):
        assert client.post("/api/topics", json=bad, headers=headers).status_code == 422
    theirs = auth(session_token(OTHER))
    assert client.get("/api/workflows/topic_skin_care", headers=theirs).status_code == 404


def test_parked_messages_are_listed_and_retried_by_their_shop_only(client, shop, other_shop):
    services = client.application.extensions["nudge"]
    with services.sessions() as session, session.begin():
        theirs_id = session.scalars(select(Shop.id).where(Shop.domain == OTHER)).one()
        for shop_id, key in ((shop.id, "mine"), (theirs_id, "theirs")):
            session.add(
                OutboxMessage(
                    shop_id=shop_id,
                    idempotency_key=key,
                    workflow="upsell",
                    step_id="suggest",
                    kind="email",
                    category="marketing",
                    to_email="ada@example.com",
                    subject="Picked for you",
                    params={},
                    state="failed",
                    attempts=1,
                    last_error="SendGrid 400: The from address does not match a verified Sender",
                    created_at=utcnow(),
                )
            )
    mine, theirs = auth(session_token()), auth(session_token(OTHER))
    listed = client.get("/api/outbox?state=failed", headers=mine).json
    assert listed["failed"] == 1
    [message] = listed["messages"]
    assert message["idempotency_key"] == "mine" and "verified Sender" in message["last_error"]
    # another shop's token can neither see nor retry it
    their_ids = [m["id"] for m in client.get("/api/outbox", headers=theirs).json["messages"]]
    assert message["id"] not in their_ids
    assert client.post(f"/api/outbox/{message['id']}/retry", headers=theirs).status_code == 404
    assert client.post(f"/api/outbox/{message['id']}/retry", headers=mine).status_code == 200
    with services.sessions() as session:
        again = session.get_one(OutboxMessage, message["id"])
    assert (again.state, again.attempts, again.next_attempt_at) == ("pending", 0, None)
    # only a failed message can be retried
    assert client.post(f"/api/outbox/{message['id']}/retry", headers=mine).status_code == 404


# --- what the page says of settings and of mail that never left ---------------------------


def test_settings_carry_the_warnings_a_live_shop_should_see(client, shop, services):
    headers = auth(session_token())
    answer = client.get("/api/settings", headers=headers).json
    # the test app: no SendGrid key, no default sender; its app URL is public
    assert [w["setting"] for w in answer["warnings"]] == [
        "NUDGE_SENDGRID_API_KEY",
        "NUDGE_FROM_EMAIL",
    ]
    assert "never sent" in answer["warnings"][0]["message"]
    assert answer["delivery"] == {"sendgrid": False, "kept_because": "SendGrid is not configured"}

    client.put("/api/settings", json={"from_email": "news@shop.example"}, headers=headers)
    services.settings.update(SENDGRID_API_KEY="SG.key", APP_URL="http://localhost:8000")
    answer = client.get("/api/settings", headers=headers).json
    assert [w["setting"] for w in answer["warnings"]] == ["NUDGE_APP_URL"]
    assert answer["delivery"]["sendgrid"] is True


def test_workflow_numbers_count_kept_emails_apart_from_sent_ones(
    client, send_webhook, services, at
):
    send_webhook("customers/create", payloads.customer())
    send_webhook("customers_email_marketing_consent/update", payloads.consent())
    send_webhook("checkouts/create", payloads.checkout("tok-1", T0))
    at(T0 + timedelta(hours=4, minutes=1))  # the reminder, kept: no SendGrid key
    with services.sessions() as session:
        assert session.scalars(select(OutboxMessage.state)).all() == ["kept"]
    workflows = client.get("/api/workflows", headers=auth(session_token())).json["workflows"]
    stats = next(w["stats"] for w in workflows if w["name"] == "cart_abandonment")
    assert (stats["sent"], stats["kept"]) == (0, 1)


def test_a_test_email_says_it_will_be_kept_without_sendgrid(client, shop, services):
    with services.sessions() as session, session.begin():
        session.scalars(select(Shop)).one().settings = {"staff_email": "owner@shop.example"}
    headers = auth(session_token())
    url = "/api/workflows/cart_abandonment/test-email"
    kept = client.post(url, json={}, headers=headers).json["queued"]
    assert kept["kept_because"] == "SendGrid is not configured"
    services.settings["SENDGRID_API_KEY"] = "SG.key"
    assert client.post(url, json={}, headers=headers).json["queued"]["kept_because"] is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": {"a": 1}}, "name"),
        ({"name": "x" * 1_500_000}, "name"),
        ({"name": "n" * 101}, "name"),
        ({"name": "two\nlines"}, "name"),
        ({"from_name": ["a"]}, "from_name"),
        ({"from_name": 7}, "from_name"),
        ({"from_email": "a@b.c" + "c" * 300}, "from_email"),
        ({"staff_email": {"to": "x@y.z"}}, "staff_email"),
        ({"send_window": "9-21"}, "send_window"),
        ({"send_window": {"start_hour": 9, "end_hour": 21, "x": 1}}, "send_window"),
        ({"timezone": {"zone": "UTC"}}, "timezone"),
        ({"timezone": ["UTC"]}, "timezone"),
        ({"asm_group_id": 10**30}, "asm_group_id"),
        ({"storefront": {"topics": ["t" * 5000]}}, "storefront.topics[0]"),
    ],
)
def test_settings_fields_take_their_type_and_size_only(client, shop, services, body, field):
    response = client.put("/api/settings", json=body, headers=auth(session_token()))
    assert response.status_code == 422, response.json
    assert field in [e["path"] for e in response.json["errors"]]
    with services.sessions() as session:
        assert session.scalars(select(Shop.settings)).one() == {"postal_address": SHOP_ADDRESS}


def test_a_name_made_of_a_lone_surrogate_is_a_400_and_nothing_is_stored(client, shop, services):
    response = client.put(
        "/api/settings",
        data=b'{"name": "\\ud800"}',
        headers={**auth(session_token()), "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and "surrogate" in response.json["error"]
    with services.sessions() as session:
        assert session.scalars(select(Shop.settings)).one() == {"postal_address": SHOP_ADDRESS}


@pytest.mark.parametrize(
    "path",
    [
        ("category",),
        ("exit_on",),
        ("trigger", "event"),
        ("trigger", "subject"),
        ("steps", 0, "delay", "from"),
        ("steps", 0, "conditions", "all", 0, "name"),
        ("steps", 0, "conditions", "all", 0, "operator"),
    ],
)
@pytest.mark.parametrize("wrong", [[], {"a": 1}, [["nested"]]])
def test_a_list_or_object_where_a_name_belongs_is_a_422(client, shop, path, wrong):
    headers = auth(session_token())
    definition = client.get("/api/workflows/upsell", headers=headers).json["workflow"]["definition"]
    target = definition
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = [wrong] if path == ("exit_on",) else wrong
    response = client.put("/api/workflows/upsell", json={"definition": definition}, headers=headers)
    assert response.status_code == 422
