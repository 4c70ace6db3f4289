"""Hostile input at every public endpoint: never a 5xx, never a fact from an unsigned body,
and the app still processes a valid delivery afterwards."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException

from plugin.pipeline.inbox import process_inbox
from plugin.pipeline.outbox import unsubscribe_token
from plugin.shop_settings.workflows import set_enabled
from plugin.storage.models import CustomerRow, Delivery, OutboxMessage, Shop, Suppression
from tests.support.database import table_contents
from tests.support.session_tokens import session_token
from tests.support.shop import SHOP
from tests.support.signed_links import proxy_query, signed
from tests.support.webhooks import shopify_signature

ENDPOINTS = [
    "/",
    "/?shop=evil.com%0d%0aX-Injected:1",
    "/healthz",
    "/webhooks/shopify",
    f"/webhooks/woocommerce/{SHOP}",
    "/webhooks/woocommerce/unknown.example",
    "/webhooks/sendgrid",
    "/unsubscribe/not-a-token",
    "/unsubscribe/eyJzIjoxLCJlIjoiYUBiLmMifQ.forged",
    "/api/catalog",
    "/api/workflows",
    "/api/workflows/upsell",
    "/api/workflows/nope",
    "/api/workflows/upsell/versions/1/restore",
    "/api/workflows/upsell/test-email",
    "/api/workflows/upsell/preview",
    "/api/settings",
    "/api/activity?workflow=upsell",
    "/api/activity?customer=ann@example.com",
    "/api/customers/explain?email=ann@example.com",
    "/api/workflows/cart_abandonment/backtest",
    "/api/report?days=30",
    "/api/topics",
    "/api/outbox?state=failed",
    "/api/outbox/1/retry",
    "/dev/session-token?shop=" + SHOP,
    f"/storefront/{SHOP}/nudge.js",
    f"/storefront/{SHOP}/events",
    f"/storefront/{SHOP}/signup",
    f"/storefront/{SHOP}/confirm/forged-token",
    "/storefront/unknown.example/events",
    "/storefront/proxy/identity?shop=" + SHOP + "&signature=00",
    "/storefront/proxy/events?shop=" + SHOP + "&signature=00",
    "/storefront/proxy/signup?shop=" + SHOP + "&signature=00&timestamp=1",
    "/storefront/proxy/confirm/forged-token?shop=" + SHOP + "&signature=00",
    "/auth/session",
    "/auth/install?shop=" + SHOP + "&hmac=00&timestamp=1",
    "/auth/callback?shop=" + SHOP + "&code=c&state=s&hmac=00&timestamp=1",
    "/staff-email/confirm/forged-token",
    "/woocommerce/connect?store=https://woo.example.com/",
    "/woocommerce/connect?store=evil.myshopify.com",
    "/woocommerce/callback",
    "/woocommerce/settings?store=woo.example.com&expires=1&sig=forged",
    "/woocommerce/connected?store=woo.example.com&success=1&user_id=forged",
]
# path segments fuzzed too: shop names, tokens, names, versions
FUZZED_PATHS = st.builds(
    lambda template, part: template.format(quote(part, safe="")),
    st.sampled_from(
        [
            "/webhooks/woocommerce/{}",
            "/unsubscribe/{}",
            "/api/workflows/{}",
            "/api/workflows/upsell/versions/{}/restore",
            "/storefront/{}/events",
            "/storefront/{}/signup",
            f"/storefront/{SHOP}/confirm/{{}}",
            "/staff-email/confirm/{}",
        ]
    ),
    st.text(min_size=1, max_size=60),
)
TOPICS = [
    "orders/create",
    "checkouts/update",
    "customers/create",
    "customers/redact",
    "app/uninstalled",
    "nope",
    "",
    "x" * 300,
]

bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass") if t else b""),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=10,
    ).map(lambda v: json.dumps(v).encode()),
    st.just(b'{"id": 1, "email": "ann@example.com"'),  # truncated
    st.just(b"\xff\xfe{\x00}"),  # wrong encoding
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "X-Shopify-Topic": st.sampled_from(TOPICS),
        "X-Shopify-Shop-Domain": st.sampled_from(
            [SHOP, "evil.com", "", "x.myshopify.com.evil.com"]
        ),
        "X-Shopify-Hmac-Sha256": st.sampled_from(
            ["", "AAAA", "%%%", shopify_signature(b"{}", "not-the-shop-secret")]
        ),
        "X-Shopify-Webhook-Id": st.text(min_size=1, max_size=40).filter(
            lambda t: t.isprintable() and "\n" not in t
        ),
        "X-WC-Webhook-Topic": st.sampled_from(["order.created", "customer.created", "nope"]),
        "X-WC-Webhook-Signature": st.sampled_from(["", "AAAA"]),
        "Authorization": st.sampled_from(["Bearer x", "Bearer " + "a." * 40, "Basic Zm9v"]),
        "Content-Type": st.sampled_from(
            ["application/json", "application/x-www-form-urlencoded", "text/plain"]
        ),
    },
)


FUZZ_EXAMPLES = 3000


def test_no_request_crashes_the_app_or_becomes_work_and_valid_ones_still_work(
    client, shop, services, send_webhook
):
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        derandomize=True,
    )
    @given(
        path=st.one_of(st.sampled_from(ENDPOINTS), FUZZED_PATHS),
        method=st.sampled_from(["POST", "PUT", "GET", "HEAD", "DELETE", "PATCH"]),
        body=bodies,
        sent=headers,
    )
    def hostile(path: str, method: str, body: bytes, sent: dict[str, str]) -> None:
        response = client.open(path, method=method, data=body, headers=sent)
        assert response.status_code < 500, (path, method, body[:80], sent)
        with services.sessions() as session:
            # whatever was accepted, nothing unsigned ever reached the inbox as work
            pending = select(func.count()).select_from(Delivery).where(Delivery.status == "pending")
            assert session.scalar(pending) == 0

    hostile()
    assert process_inbox(services).processed == 0  # and none of it became facts

    # the same app, after all that, still takes a valid delivery and a real unsubscribe
    huge = b'{"id": 1, "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    assert send_webhook("customers/create", huge).status_code == 413
    body = json.dumps(
        {"id": 77, "email": "ann@example.com", "updated_at": "2026-01-01T00:00:00Z"}
    ).encode()
    assert send_webhook("customers/create", body).status_code == 200
    assert process_inbox(services).processed == 1
    with services.sessions() as session:
        assert session.scalars(select(CustomerRow.email)).all() == ["ann@example.com"]
    token = unsubscribe_token(services.settings["SECRET_KEY"], shop.id, "ann@example.com")
    one_click = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200


def test_every_public_route_is_fuzzed(app):
    """A new route joins the fuzz list, or this fails."""
    adapter = app.url_map.bind("localhost")
    fuzzed = set()
    for path in ENDPOINTS:
        for method in ("GET", "POST", "PUT"):
            try:
                rule, _args = adapter.match(urlsplit(path).path, method=method, return_rule=True)
            except HTTPException:
                continue
            fuzzed.add(rule.rule)
    routes = {r.rule for r in app.url_map.iter_rules() if r.endpoint != "static"}
    assert routes - fuzzed == set()


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        # found by the fuzz on PostgreSQL, which refuses NUL in text: a lookup by it was a 500
        ("POST", f"/storefront/{SHOP}/confirm/%00", {}),
        ("GET", "/storefront/a%00b.myshopify.com/nudge.js", {}),
        ("GET", "/api/activity?workflow=up%00sell", {}),
        ("POST", "/webhooks/shopify", {"headers": {"X-Shopify-Shop-Domain": "a\x00b"}}),
        ("PUT", "/api/settings", {"data": '{"from_name": "a\\u0000b"}'}),
        ("PUT", "/api/workflows/upsell", {"data": '{"definition": {"title": "\\u0000"}}'}),
    ],
)
def test_a_nul_byte_anywhere_is_a_clear_400(client, shop, method, path, kwargs):
    response = client.open(path, method=method, **kwargs)
    assert response.status_code == 400
    assert "NUL" in response.get_json()["error"]


def acting_links(client, services, shop) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """For every route that answers HEAD, a URL that would act if HEAD acted: real tokens,
    fresh signatures, a pending signup, an install started in this browser."""
    with services.sessions() as session, session.begin():
        session.get_one(Shop, shop.id).settings = {"storefront": {"topics": ["tea"]}}
        set_enabled(session, shop.id, "topic_nurture", True)
    signup = {"vid": "visitor-0123456789abcdef", "email": "zoe@example.com", "consent": True}
    client.post(f"/storefront/{SHOP}/signup", data=json.dumps(signup), content_type="text/plain")
    with services.sessions() as session:
        html = session.scalars(select(OutboxMessage.preview_html)).one() or ""  # the signup's
    confirm = re.search(r'href="https://nudge\.example(/storefront/[^"]+)"', html)
    assert confirm
    staff = {"staff_email": "staff@elsewhere.example"}
    client.put("/api/settings", json=staff, headers={"Authorization": f"Bearer {session_token()}"})
    with services.sessions() as session:
        staff_html = session.scalars(
            select(OutboxMessage.preview_html).where(OutboxMessage.to_email == staff["staff_email"])
        ).one()
    staff_link = re.search(r'href="https://nudge\.example(/staff-email/[^"]+)"', staff_html or "")
    assert staff_link
    now = str(int(time.time()))
    install = client.get("/auth/install?" + urlencode(signed({"shop": SHOP, "timestamp": now})))
    state = parse_qs(urlsplit(install.headers["Location"]).query)["state"][0]
    callback = signed({"shop": SHOP, "code": "c", "state": state, "timestamp": now})
    secret = services.settings["SECRET_KEY"]
    signed_at = str(int(services.now().timestamp()))  # the app's clock judges its age
    proxy = {"shop": SHOP, "logged_in_customer_id": "501", "timestamp": signed_at}
    return {
        "/": "/?shop=" + SHOP,
        "/healthz": "/healthz",
        "/dev/session-token": "/dev/session-token?shop=" + SHOP,
        "/api/catalog": "/api/catalog",
        "/api/workflows": "/api/workflows",
        "/api/workflows/<name>": "/api/workflows/upsell",
        "/api/settings": "/api/settings",
        "/api/outbox": "/api/outbox",
        "/api/activity": "/api/activity",
        "/api/customers/explain": "/api/customers/explain?email=ann@example.com",
        "/api/report": "/api/report",
        "/unsubscribe/<token>": f"/unsubscribe/{unsubscribe_token(secret, shop.id, 'zoe@example.com')}",
        "/storefront/<path:shop>/nudge.js": f"/storefront/{SHOP}/nudge.js",
        "/storefront/<path:shop>/confirm/<token>": confirm.group(1),
        "/storefront/proxy/identity": "/storefront/proxy/identity?" + proxy_query(**proxy),
        "/auth/install": "/auth/install?" + urlencode(signed({"shop": SHOP, "timestamp": now})),
        "/auth/callback": "/auth/callback?" + urlencode(callback),
        "/staff-email/confirm/<token>": staff_link.group(1),
        "/woocommerce/connect": "/woocommerce/connect?store=https://woo.example.com/",
        "/woocommerce/connected": "/woocommerce/connected?store=woo.example.com&success=1&user_id=n",
        "/woocommerce/settings": "/woocommerce/settings?store=woo.example.com&expires=1&sig=s",
        "/storefront/proxy/confirm/<token>": "/storefront/proxy/confirm/"
        + confirm.group(1).rsplit("/", 1)[1]
        + "?"
        + proxy_query(shop=SHOP, timestamp=signed_at),
    }


def test_head_on_every_route_changes_nothing_and_calls_no_one(app, client, services, shop):
    """Mail scanners and link checkers send HEAD, and Flask routes it to the GET view."""
    links = acting_links(client, services, shop)
    answers_head = {
        r.rule for r in app.url_map.iter_rules() if "HEAD" in r.methods and r.endpoint != "static"
    }
    assert answers_head == set(links)  # a new route that answers HEAD joins the list
    before = table_contents(services.engine)
    headers = {"Authorization": f"Bearer {session_token()}"}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as network:
        for url in links.values():
            assert client.head(url, headers=headers).status_code < 500, url
        assert len(network.calls) == 0
    assert table_contents(services.engine) == before

    # the same links do act when POSTed (so the HEADs above were given working ones)
    assert client.post(links["/unsubscribe/<token>"]).status_code == 200
    assert client.post(links["/storefront/<path:shop>/confirm/<token>"]).status_code == 200
    assert client.post(links["/staff-email/confirm/<token>"]).status_code == 200
    with services.sessions() as session:
        assert session.scalars(select(Suppression.email)).all() == ["zoe@example.com"]
        assert session.get_one(Shop, shop.id).staff_email_unconfirmed is None


# --- one hostile value in an otherwise valid body, at every field of every JSON route -------

HOLE = '"__hostile__"'
# JSON text, spliced in raw: some of it json.dumps cannot write (a lone surrogate escape,
# nesting past the interpreter's recursion limit). Every field gets each of these...
HOSTILE_TEXTS = [
    "[" * 3000 + "]" * 3000,
    '{"a":' * 3000 + "1" + "}" * 3000,
    '"\\ud800"',
    '"x\\udfffy"',
    '"\\ud83d\\ude00"',  # a valid pair: an emoji
    '"' + "x" * 200_000 + '"',
    "1e999",
    str(10**40),
    "-0",
    "null",
    "[]",
    "{}",
    '[{"a": [1]}]',
    "true",
    '""',
]
# ...and values of every JSON type, made up
HOSTILE_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=6,
).map(json.dumps)


def with_hole(body: dict, path: tuple[str, ...]) -> str:  # type: ignore[type-arg]
    """``body`` as JSON text with the value at ``path`` replaced by HOLE."""
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "__hostile__"
    return json.dumps(copy)


def field_paths(body: dict, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:  # type: ignore[type-arg]
    """Every key of ``body`` and of the objects in it."""
    paths = []
    for key, value in body.items():
        paths.append((*prefix, key))
        if isinstance(value, dict):
            paths += field_paths(value, (*prefix, key))
    return paths


def json_routes(client) -> list[tuple[str, str, dict, bool]]:  # type: ignore[no-untyped-def,type-arg]
    """(method, path, a valid body, signed as a Shopify webhook?) for each route taking JSON."""
    headers = {"Authorization": f"Bearer {session_token()}"}
    upsell = client.get("/api/workflows/upsell", headers=headers).json["workflow"]["definition"]
    step = upsell["steps"][0]
    visitor = "visitor-0123456789abcdef"
    return [
        (
            "PUT",
            "/api/settings",
            {
                "name": "Tea Shop",
                "from_name": "Tea",
                "timezone": "UTC",
                "frequency_cap_hours": 16,
                "staff_email": "staff@tea.example",
                "asm_group_id": 4,
                "send_window": {"start_hour": 9, "end_hour": 21},
                "storefront": {"headline": "Hi", "topics": ["tea"], "delay_seconds": 3},
            },
            False,
        ),
        ("PUT", "/api/workflows/upsell", {"enabled": True, "definition": upsell}, False),
        ("POST", "/api/topics", {"topic": "Green tea"}, False),
        (
            "POST",
            "/api/workflows/upsell/test-email",
            {"step": step["id"], "definition": upsell},
            False,
        ),
        (
            "POST",
            "/api/workflows/upsell/preview",
            {"step": step["id"], "params": step["actions"][0]["params"], "customer": "sample"},
            False,
        ),
        (
            "POST",
            f"/storefront/{SHOP}/events",
            {"vid": visitor, "type": "page_view", "path": "/", "title": "T", "t": "x"},
            False,
        ),
        (
            "POST",
            f"/storefront/{SHOP}/signup",
            {"vid": visitor, "email": "zoe@example.com", "first_name": "Zoe", "consent": True},
            False,
        ),
        (
            "POST",
            "/webhooks/shopify",
            {
                "id": 9,
                "email": "ann@example.com",
                "customer": {"id": 77, "email": "ann@example.com", "first_name": "Ann"},
                "total_price": "20.00",
                "line_items": [],
                "created_at": "2026-03-01T10:00:00Z",
            },
            True,
        ),
    ]


def test_a_hostile_value_in_any_field_of_any_json_route_is_never_a_5xx(client, shop, services):
    cases = [(route, path) for route in json_routes(client) for path in field_paths(route[2])]

    def send(case, value: str) -> None:  # type: ignore[no-untyped-def]
        (method, url, body, signed_webhook), path = case
        raw = with_hole(body, path).replace(HOLE, value).encode("utf-8", "surrogatepass")
        headers = {"Authorization": f"Bearer {session_token()}", "Content-Type": "text/plain"}
        if signed_webhook:
            headers.update(
                {
                    "X-Shopify-Topic": "orders/create",
                    "X-Shopify-Shop-Domain": SHOP,
                    "X-Shopify-Hmac-Sha256": shopify_signature(raw),
                }
            )
        response = client.open(url, method=method, data=raw, headers=headers)
        assert response.status_code < 500, (url, path, value[:60])

    for case in cases:
        for text in HOSTILE_TEXTS:
            send(case, text)

    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        derandomize=True,
    )
    @given(case=st.sampled_from(cases), value=HOSTILE_VALUES)
    def made_up(case, value):  # type: ignore[no-untyped-def]
        send(case, value)

    made_up()
    process_inbox(services)  # what was signed and stored became facts, or was kept as failed
    with services.sessions() as session:
        statuses = Counter(session.scalars(select(Delivery.status)))
    assert statuses["processed"] and statuses["failed"] and not statuses["pending"]
