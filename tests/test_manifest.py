"""manifest.json is the one list of webhook topics; every topic has a handler and back."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import responses
from click.testing import CliRunner

from connectors import shopify
from connectors.shopify.admin_api import AdminClient
from plugin.cli import main
from plugin.shopify_app import manifest
from plugin.shopify_app.webhook_registration import register_webhooks
from tests.support.fake_shopify import FakeAdmin, grant, token_endpoint
from tests.support.session_tokens import session_token
from tests.support.shop import SHOP

MANIFEST = json.loads((Path(__file__).parent.parent / "manifest.json").read_text())


def test_every_subscribed_topic_has_a_handler_and_every_handler_a_subscription():
    subscribed = {t for s in MANIFEST["webhooks"]["subscriptions"] for t in s["topics"]}
    assert subscribed == set(shopify.TOPICS)
    lifecycle = set(MANIFEST["webhooks"]["compliance"]["topics"]) | set(
        MANIFEST["webhooks"]["lifecycle"]["topics"]
    )
    assert lifecycle == set(shopify.COMPLIANCE_TOPICS)


def test_webhook_routes_exist(app):
    rules = {r.rule for r in app.url_map.iter_rules()}
    for subscription in MANIFEST["webhooks"]["subscriptions"]:
        assert subscription["uri"] in rules
    for route in MANIFEST["routes"].values():
        assert route in rules, route


def test_the_manifest_and_the_handlers_agree_through_plugin_manifest():
    loaded = manifest.load()
    assert manifest.unhandled_topics(loaded) == set()
    assert manifest.unsubscribed_handlers(loaded) == set()


def test_a_topic_without_handler_or_a_handler_without_topic_is_caught():
    """The check above fails when either side drifts: proved on doctored manifests."""
    extra = copy.deepcopy(MANIFEST)
    extra["webhooks"]["subscriptions"][0]["topics"].append("collections/update")
    assert manifest.unhandled_topics(manifest.Manifest(extra)) == {"collections/update"}
    missing = copy.deepcopy(MANIFEST)
    missing["webhooks"]["subscriptions"][0]["topics"].remove("orders/create")
    missing["webhooks"]["compliance"]["topics"].remove("shop/redact")
    assert manifest.unsubscribed_handlers(manifest.Manifest(missing)) == {
        "orders/create",
        "shop/redact",
    }


def app_toml(monkeypatch, *args: str, managed: bool = True) -> tuple[dict[str, Any], str]:
    """`nudge app toml` for a deployed app: (the TOML printed, the warnings)."""
    monkeypatch.setenv("NUDGE_SHOPIFY_API_KEY", "client-123")
    monkeypatch.setenv("NUDGE_APP_URL", "https://nudge.example/")
    monkeypatch.setenv("NUDGE_SHOPIFY_MANAGED_WEBHOOKS", "1" if managed else "0")
    result = CliRunner().invoke(main, ["app", "toml", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return tomllib.loads(result.stdout), result.stderr


def test_app_toml_is_the_manifest_for_the_shopify_cli(monkeypatch):
    toml, warnings = app_toml(monkeypatch)
    assert warnings == ""
    assert toml["client_id"] == "client-123"
    assert toml["name"] == MANIFEST["name"]
    assert toml["application_url"] == "https://nudge.example/"
    assert toml["embedded"] is True
    assert toml["access_scopes"]["scopes"].split(",") == MANIFEST["access_scopes"]
    assert toml["auth"]["redirect_urls"] == ["https://nudge.example/auth/callback"]
    webhooks = toml["webhooks"]
    assert webhooks["api_version"] == MANIFEST["webhooks"]["api_version"]
    assert {s["uri"] for s in webhooks["subscriptions"]} == {
        "https://nudge.example/webhooks/shopify"
    }

    # Shopify's app proxy reaches the storefront's proxy routes
    proxy = toml["app_proxy"]
    assert (proxy["prefix"], proxy["subpath"]) == ("apps", "nudge")
    for name in ("storefront_identity", "storefront_proxy_events", "storefront_proxy_signup"):
        route = MANIFEST["routes"][name]
        assert route.startswith(MANIFEST["app_proxy"]["url"] + "/")
        assert proxy["url"] + route.removeprefix(MANIFEST["app_proxy"]["url"]) == (
            "https://nudge.example" + route
        )


def manifest_topics(*groups: str) -> set[str]:
    """manifest.json's topics in these groups of its ``webhooks``, read as JSON."""
    webhooks = MANIFEST["webhooks"]
    found: set[str] = set()
    for group in groups:
        entries = webhooks[group] if isinstance(webhooks[group], list) else [webhooks[group]]
        found |= {topic for entry in entries for topic in entry["topics"]}
    return found


@responses.activate
def test_the_app_wide_toml_and_the_per_shop_registration_subscribe_what_the_manifest_lists(
    monkeypatch,
):
    toml, _ = app_toml(monkeypatch)
    subscriptions = toml["webhooks"]["subscriptions"]
    app_wide = {t for s in subscriptions for t in s.get("topics", [])}
    compliance = {t for s in subscriptions for t in s.get("compliance_topics", [])}

    admin = FakeAdmin(responses, SHOP)  # a shop with no subscriptions yet
    client = AdminClient(SHOP, "shpat_test", manifest.load().api_version)
    register_webhooks(client, manifest.load(), "https://nudge.example")
    per_shop = {s["topic"] for s in admin.subscriptions}

    assert app_wide == manifest_topics("subscriptions", "lifecycle")
    assert per_shop == {manifest.Subscription(t, "").graphql_topic for t in app_wide}
    assert compliance == manifest_topics("compliance")


def test_app_toml_warns_of_what_a_live_app_would_get_wrong(monkeypatch):
    _, warnings = app_toml(monkeypatch, managed=False)
    assert "NUDGE_SHOPIFY_MANAGED_WEBHOOKS is off" in warnings
    only, quiet = app_toml(monkeypatch, "--compliance-only", managed=False)
    assert [set(s) for s in only["webhooks"]["subscriptions"]] == [{"compliance_topics", "uri"}]
    assert quiet == ""  # per-shop registration and compliance-only configuration agree

    monkeypatch.delenv("NUDGE_APP_URL")
    monkeypatch.delenv("NUDGE_SHOPIFY_API_KEY")
    result = CliRunner().invoke(main, ["app", "toml"])
    assert "NUDGE_APP_URL is http://127.0.0.1:8000" in result.stderr
    assert "NUDGE_SHOPIFY_API_KEY is not set" in result.stderr


@responses.activate
def test_an_app_whose_toml_subscribes_app_wide_registers_nothing_per_shop(
    client, services, monkeypatch
):
    monkeypatch.setitem(services.settings, "SHOPIFY_MANAGED_WEBHOOKS", True)
    shop = "new-shop.myshopify.com"
    admin = FakeAdmin(responses, shop)
    responses.post(token_endpoint(shop), json=grant())
    token = session_token(shop)
    response = client.post("/auth/session", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert "webhookSubscriptionCreate" not in admin.operations()
    assert admin.operations()  # the install still talked to the shop (its address)
