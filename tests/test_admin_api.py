"""The Admin GraphQL client: cost-aware throttling, bounded retries, clear errors; and the
idempotent webhook registration built on it. Shopify is mocked with `responses`."""

from __future__ import annotations

import json

import pytest
import responses

from connectors.shopify.admin_api import AdminApiError, AdminClient, UserErrors, throttle_wait
from plugin.shopify_app.manifest import load
from plugin.shopify_app.webhook_registration import register_webhooks
from tests.support.fake_shopify import API_VERSION, FakeAdmin, throttled

SHOP = "api-shop.myshopify.com"
QUERY = "query { shop { email } }"


class Sleeps(list):
    """Records each requested sleep instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(sleep: Sleeps) -> AdminClient:
    return AdminClient(SHOP, "shpat_x", API_VERSION, sleep=sleep)


@responses.activate
def test_throttled_query_waits_for_its_cost_then_succeeds():
    admin = FakeAdmin(responses, SHOP)
    # 112 points wanted, 12 available, 50 restored a second: 2 s until it fits
    admin.queue(200, throttled(requested=112, available=12, rate=50))
    sleeps = Sleeps()

    data = client(sleeps).query(QUERY)

    assert data["shop"]["email"] == admin.shop_email
    assert sleeps == [2.0]
    assert admin.operations() == ["shop", "shop"]
    assert set(admin.tokens_seen) == {"shpat_x"}


@responses.activate
def test_http_429_waits_for_retry_after():
    admin = FakeAdmin(responses, SHOP)
    admin.queue(429, None, **{"Retry-After": "3"})
    sleeps = Sleeps()
    client(sleeps).query(QUERY)
    assert sleeps == [3.0]


@responses.activate
def test_throttling_retries_are_bounded():
    admin = FakeAdmin(responses, SHOP)
    for _ in range(10):
        admin.queue(200, throttled(requested=1000, available=0, rate=100))
    sleeps = Sleeps()
    with pytest.raises(AdminApiError) as failure:
        AdminClient(SHOP, "t", API_VERSION, sleep=sleeps, max_throttle_retries=3).query(QUERY)
    assert failure.value.retryable
    assert sleeps == [10.0, 10.0, 10.0]
    assert len(admin.requests) == 4


def test_throttle_wait_is_never_negative_nor_unbounded():
    assert throttle_wait({"requestedQueryCost": 10, "throttleStatus": {
        "currentlyAvailable": 500, "restoreRate": 50}}) == 1.0  # fmt: skip
    assert throttle_wait({"requestedQueryCost": 1e9, "throttleStatus": {
        "currentlyAvailable": 0, "restoreRate": 1}}) == 60.0  # fmt: skip
    assert throttle_wait(None) > 0


@responses.activate
def test_user_errors_are_raised_with_shopifys_words():
    admin = FakeAdmin(responses, SHOP)
    admin.queue(
        200,
        {
            "data": {
                "tagsAdd": {
                    "node": None,
                    "userErrors": [{"field": ["id"], "message": "Customer does not exist"}],
                }
            }
        },
    )
    with pytest.raises(UserErrors, match="id: Customer does not exist") as failure:
        client(Sleeps()).mutate("mutation { tagsAdd }", {}, "tagsAdd")
    assert not failure.value.retryable


@responses.activate
@pytest.mark.parametrize(
    ("status", "body", "retryable"),
    [
        (401, {"errors": "[API] Invalid API key or access token"}, False),
        (403, {"errors": "scope"}, False),
        (500, None, True),
        (503, None, True),
        (200, {"errors": [{"message": "Field 'nope' doesn't exist"}]}, False),
        (200, {"not": "graphql"}, False),
    ],
)
def test_other_failures_are_clear_errors(status, body, retryable):
    admin = FakeAdmin(responses, SHOP)
    admin.queue(status, body)
    sleeps = Sleeps()
    with pytest.raises(AdminApiError) as failure:
        client(sleeps).query(QUERY)
    assert failure.value.retryable is retryable
    assert sleeps == []  # only throttling is waited out here; the outbox backs off the rest


@responses.activate
def test_requests_carry_a_timeout():
    FakeAdmin(responses, SHOP)
    client(Sleeps()).query(QUERY)
    timeout = responses.calls[0].request.req_kwargs["timeout"]
    assert timeout and all(t > 0 for t in timeout)


@responses.activate
def test_unreachable_shop_is_a_retryable_error():
    # nothing registered for this URL: `responses` refuses the connection
    with pytest.raises(AdminApiError) as failure:
        client(Sleeps()).query(QUERY)
    assert failure.value.retryable


@responses.activate
def test_webhook_registration_creates_only_what_is_missing():
    admin = FakeAdmin(responses, SHOP)
    manifest = load()
    first, second = manifest.subscriptions[0], manifest.subscriptions[1]
    admin.subscriptions.append(
        {"id": "gid://1", "topic": first.graphql_topic, "uri": "https://nudge.example" + first.uri}
    )
    # same topic at another address: not ours, so ours is still created
    admin.subscriptions.append(
        {"id": "gid://2", "topic": second.graphql_topic, "uri": "https://elsewhere.example/h"}
    )

    result = register_webhooks(client(Sleeps()), manifest, "https://nudge.example/")

    assert result.existing == [first.topic]
    assert len(result.created) == len(manifest.subscriptions) - 1
    created = [r["variables"] for r in admin.requests if r["operation"].endswith("Create")]
    assert created[0] == {
        "topic": second.graphql_topic,
        "webhookSubscription": {"uri": "https://nudge.example/webhooks/shopify"},
    }
    assert {"ORDERS_CREATE", "CUSTOMER_TAGS_ADDED", "APP_UNINSTALLED"} <= {
        v["topic"] for v in created
    }
    # compliance topics are app configuration only, never registered per shop
    assert not {"CUSTOMERS_REDACT", "SHOP_REDACT", "CUSTOMERS_DATA_REQUEST"} & {
        v["topic"] for v in created
    }

    again = register_webhooks(client(Sleeps()), manifest, "https://nudge.example")
    assert again.created == [] and len(again.existing) == len(manifest.subscriptions)


@responses.activate
def test_registration_stops_at_a_refused_subscription():
    admin = FakeAdmin(responses, SHOP)
    admin.queue(200, {"data": {"webhookSubscriptions": {"edges": [], "pageInfo": {}}}})
    admin.queue(
        200,
        {
            "data": {
                "webhookSubscriptionCreate": {
                    "webhookSubscription": None,
                    "userErrors": [{"field": ["uri"], "message": "Address is invalid"}],
                }
            }
        },
    )
    with pytest.raises(UserErrors, match="Address is invalid"):
        register_webhooks(client(Sleeps()), load(), "https://nudge.example")
    assert json.loads(responses.calls[1].request.body)["variables"]["topic"]
