"""POST /api/workflows/<name>/preview: a step's draft email rendered by the server for the
workflow's latest customer or a sample one; validated like a save, and never sent."""

from __future__ import annotations

import copy
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from plugin.storage.models import OutboxMessage, Shop, WorkflowConfig
from plugin.web.email_preview import PreviewLimit
from tests.support import payloads
from tests.support.clock import T0
from tests.support.session_tokens import session_token
from tests.support.shop import SHOP
from tests.support.workflows import subscribe

OTHER = "other-shop.myshopify.com"


def auth(shop: str = SHOP) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token(shop)}"}


def preview(client, name: str, **body):  # type: ignore[no-untyped-def]
    return client.post(f"/api/workflows/{name}/preview", json=body, headers=auth())


def saved_definition(client, name: str) -> dict:  # type: ignore[type-arg]
    return client.get(f"/api/workflows/{name}", headers=auth()).json["workflow"]["definition"]


def hrefs(html: str) -> list[str]:
    return [m.replace("&amp;", "&") for m in re.findall(r'href="([^"]+)"', html)]


def count(services, model) -> int:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_workflow_nobody_is_in_yet_previews_with_a_sample_customer(client, shop, services):
    response = preview(client, "upsell")
    assert response.status_code == 200
    body = response.json
    assert body["customer"] == {"kind": "sample", "label": "a sample customer"}
    assert body["subject"] == "Alex, we picked these for you"
    assert body["preheader"] and body["preheader"] in body["html"]
    assert "Hi Alex," in body["html"] and "Hi Alex," in body["text"]
    # a product card: its picture (served by the app), title, prices and a tracked link
    assert 'src="https://nudge.example/static/emails/sample-dripper.png"' in body["html"]
    assert "Ceramic pour-over dripper" in body["html"] and "$40.00</s>" in body["html"]
    card = next(link for link in hrefs(body["html"]) if "/products/sample-dripper" in link)
    query = parse_qs(urlsplit(card).query)
    assert query["utm_campaign"] == ["upsell"] and query["utm_content"] == ["recommend"]
    assert query["nudge_t"] == ["preview"]  # names nobody
    for part in (body["subject"], body["preheader"], body["text"]):
        assert "{" not in part and "}" not in part
    assert count(services, OutboxMessage) == 0


def test_the_workflows_latest_customer_is_previewed_with_their_own_cart(
    client, shop, services, send_webhook, at
):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-p", T0, price="60.00"))
    at(T0 + timedelta(minutes=5))  # enrolled; nothing is due yet
    response = preview(client, "cart_abandonment", step="offer")
    assert response.status_code == 200
    body = response.json
    assert body["customer"] == {"kind": "enrolled", "label": "ada@example.com"}
    assert body["subject"] == "Still thinking it over? Here is 10% off"
    assert "NUDGE-TEST" in body["html"]  # the step's discount; its real code is made at send
    assert "$60.00" in body["html"]
    recover = next(link for link in hrefs(body["html"]) if "/checkouts/tok-p/recover" in link)
    assert parse_qs(urlsplit(recover).query)["nudge_t"] == ["preview"]
    # a click in the preview unsubscribes nobody and identifies nobody
    assert "https://nudge.example/unsubscribe/preview" in body["html"]
    assert count(services, OutboxMessage) == 0

    sample = preview(client, "cart_abandonment", step="offer", customer="sample").json
    assert sample["customer"]["kind"] == "sample" and "Alex" in sample["html"]


def test_a_draft_is_previewed_as_typed_without_being_saved(client, shop, services):
    draft = saved_definition(client, "cart_abandonment")
    params = draft["steps"][0]["actions"][0]["params"]
    params.update(
        subject="{name}, your cart is waiting",
        preheader="Saved for {first_name|you}",
        blocks=[
            {"type": "heading", "text": "Still yours, {first_name}"},
            {"type": "products", "source": "cart_items"},
            {"type": "button", "label": "Back to {shop_name}", "url": "{cart_url}"},
        ],
    )
    body = preview(client, "cart_abandonment", step="reminder", definition=draft).json
    assert body["subject"] == "Alex, your cart is waiting"
    assert body["preheader"] == "Saved for Alex"
    assert "Still yours, Alex" in body["html"] and "Back to test-shop.myshopify.com" in body["html"]
    assert count(services, WorkflowConfig) == 0

    # params alone replace the step's, as the editor sends them
    only = {"template": "welcome", "subject": "Hello from {shop_name}"}
    body = preview(client, "cart_abandonment", step="reminder", params=only).json
    assert body["subject"] == "Hello from test-shop.myshopify.com"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"step": "no_such_step"}, "step"),
        ({"definition": {"name": "upsell"}}, "step"),
        ({"definition": {"name": "winback"}}, "definition"),
        ({"params": {"template": "upsell", "subject": "{nmae}"}}, "steps[0].actions[0].params.subject"),
        ({"params": {"template": "staff_alert"}}, "steps[0].actions[0].params.template"),
        ({"params": {"subject": "Hi"}}, "steps[0].actions[0].params.template"),
        ({"params": {"template": "upsell", "blocks": [{"type": "text", "text": "{x}"}]}}, "steps[0].actions[0].params.blocks[0].text"),
        ({"params": "upsell"}, "steps[0].actions[0].params"),
    ],
    ids=["unknown-step", "no-steps", "other-workflow", "unknown-placeholder", "staff-template", "no-template", "block", "params-not-object"],
)  # fmt: skip
def test_a_draft_that_cannot_render_says_where(client, shop, body, path):
    response = preview(client, "upsell", **body)
    assert response.status_code == 422
    assert path in {e["path"] for e in response.json["errors"]}


def test_the_errors_name_the_field_as_a_save_would(client, shop):
    draft = saved_definition(client, "cart_abandonment")
    draft["steps"][1]["actions"][1]["params"]["blocks"] = [
        {"type": "text", "text": "Hi"},
        {"type": "text", "text": "Hi"},
        {"type": "text", "text": "Dear {nmae}"},
    ]
    message = "unknown placeholder {nmae} (did you mean {name}?)"
    expected = {"path": "steps[1].actions[1].params.blocks[2].text", "message": message}
    shown = preview(client, "cart_abandonment", step="offer", definition=draft)
    assert expected in shown.json["errors"]
    saved = client.put(
        "/api/workflows/cart_abandonment", json={"definition": draft}, headers=auth()
    )
    assert saved.status_code == 422 and expected in saved.json["errors"]


def test_previews_need_the_shops_session_and_see_only_its_workflows(client, shop, services):
    assert client.post("/api/workflows/upsell/preview", json={}).status_code == 401
    assert preview(client, "no_such_workflow").status_code == 404
    with services.sessions() as session, session.begin():
        session.add(Shop(domain=OTHER, platform="shopify", settings={"name": "Other Shop"}))
    theirs = client.post("/api/workflows/welcome_series/preview", json={}, headers=auth(OTHER))
    assert theirs.status_code == 200 and "Other Shop" in theirs.json["html"]


def test_previews_are_rate_limited_per_shop(app, client, shop):
    app.extensions["nudge_preview_limit"] = PreviewLimit(count=2, seconds=60)
    assert [preview(client, "upsell").status_code for _ in range(2)] == [200, 200]
    refused = preview(client, "upsell")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


def test_the_limit_forgets_previews_older_than_its_window():
    limit = PreviewLimit(count=2, seconds=10)
    assert [limit.wait(1, now) for now in (0.0, 1.0)] == [0.0, 0.0]
    assert limit.wait(1, 2.0) == pytest.approx(8.0)
    assert limit.wait(2, 2.0) == 0.0  # another shop has its own
    assert limit.wait(1, 10.5) == 0.0


def test_a_sendgrid_dynamic_template_step_previews_the_content_it_is_given(client, shop):
    draft = saved_definition(client, "upsell")
    template_id = "d-" + "ab" * 16
    draft["steps"][0]["actions"][0]["params"]["template_id"] = template_id
    body = preview(client, "upsell", definition=draft).json
    assert body["sendgrid_template"] == template_id and body["subject"]


def test_the_catalog_gives_the_editor_every_design_and_the_placeholders(client, shop):
    catalog = client.get("/api/catalog", headers=auth()).json
    designs = catalog["email_designs"]
    assert sorted(designs) == catalog["email_templates"]
    assert "staff_alert" not in designs and "sales_rep_alert" not in designs
    upsell = designs["upsell"]
    assert {"type": "products", "source": "recommendations", "limit": 4} in upsell["blocks"]
    content = catalog["email_content"]
    names = [p["name"] for p in content["placeholders"]]
    assert {"first_name", "shop_name", "discount_code", "cart_url"} <= set(names)
    assert (
        next(p for p in content["placeholders"] if p["name"] == "first_name")["missing"] == "there"
    )
    assert set(content["blocks"]) == {"heading", "text", "button", "products", "discount", "footer"}
    assert content["product_sources"] == [
        "recommendations",
        "best_sellers",
        "new_arrivals",
        "reorder_items",
        "cart_items",
        "order_items",
    ]


def test_saved_email_content_round_trips(client, shop):
    draft = saved_definition(client, "upsell")
    blocks = [
        {"type": "heading", "text": "For you, {first_name|friend}"},
        {"type": "products", "source": "recommendations", "limit": 2, "title": "Picked"},
        {"type": "footer", "text": "See you soon"},
    ]
    draft["steps"][0]["actions"][0]["params"].update(
        subject="{first_name}, new picks", preheader="Fresh from {shop_name}", blocks=blocks
    )
    saved = client.put("/api/workflows/upsell", json={"definition": draft}, headers=auth())
    assert saved.status_code == 200
    params = saved_definition(client, "upsell")["steps"][0]["actions"][0]["params"]
    assert params == {
        "template": "upsell",
        "subject": "{first_name}, new picks",
        "preheader": "Fresh from {shop_name}",
        "blocks": copy.deepcopy(blocks),
    }


@pytest.mark.parametrize(
    "step",
    [
        {"id": "recommend", "actions": 5},
        {"id": "recommend", "actions": [{"name": "send_email", "params": {"template": "upsell"}}, {"name": "create_discount", "params": {"percent": "ten", "expires_in_days": "soon"}}]},
        {"id": "recommend", "actions": [{"name": "create_discount", "params": []}, {"name": "send_email", "params": {"template": "upsell", "blocks": [None, 3]}}]},
    ],
    ids=["actions-not-a-list", "odd-discount", "odd-blocks"],
)  # fmt: skip
def test_a_hostile_draft_is_answered_never_a_server_error(client, shop, step):
    draft = {**saved_definition(client, "upsell"), "steps": [step]}
    response = preview(client, "upsell", step="recommend", definition=draft)
    assert response.status_code in (200, 422)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
BLOCKISH = st.fixed_dictionaries(
    {"type": st.sampled_from(["heading", "text", "button", "products", "discount", "footer", "x"])},
    optional={
        key: JSON
        | st.sampled_from(["{first_name}", "{shop_url}/x", "{{x}}", "{a|b}", "https://x.example"])
        for key in ("text", "label", "url", "source", "limit", "title")
    },
)


def test_any_draft_params_are_answered_never_a_server_error(app, client, shop):
    app.extensions["nudge_preview_limit"] = PreviewLimit(count=10_000)

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        params=st.fixed_dictionaries(
            {"template": st.sampled_from(["upsell", "cart_offer", "nope"]) | JSON},
            optional={
                "subject": JSON,
                "preheader": JSON,
                "blocks": st.lists(BLOCKISH, max_size=4) | JSON,
            },
        )
    )
    def check(params):  # type: ignore[no-untyped-def]
        response = preview(client, "upsell", params=params)
        assert response.status_code in (200, 400, 422)  # 400: a NUL byte, refused app-wide

    check()
