"""manifest.json is the one list of webhook topics; every topic has a handler and back."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path

from click.testing import CliRunner

from connectors import shopify
from plugin import manifest
from plugin.cli import main

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
    extra["webhooks"]["subscriptions"][0]["topics"].append("products/update")
    assert manifest.unhandled_topics(manifest.Manifest(extra)) == {"products/update"}
    missing = copy.deepcopy(MANIFEST)
    missing["webhooks"]["subscriptions"][0]["topics"].remove("orders/create")
    missing["webhooks"]["compliance"]["topics"].remove("shop/redact")
    assert manifest.unsubscribed_handlers(manifest.Manifest(missing)) == {
        "orders/create",
        "shop/redact",
    }


def test_app_toml_is_the_manifest_for_the_shopify_cli(monkeypatch):
    monkeypatch.setenv("NUDGE_SHOPIFY_API_KEY", "client-123")
    monkeypatch.setenv("NUDGE_APP_URL", "https://nudge.example/")
    result = CliRunner().invoke(main, ["app", "toml"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    toml = tomllib.loads(result.output)
    assert toml["client_id"] == "client-123"
    assert toml["name"] == MANIFEST["name"]
    assert toml["application_url"] == "https://nudge.example/"
    assert toml["embedded"] is True
    assert toml["access_scopes"]["scopes"].split(",") == MANIFEST["access_scopes"]
    assert toml["auth"]["redirect_urls"] == ["https://nudge.example/auth/callback"]
    webhooks = toml["webhooks"]
    assert webhooks["api_version"] == MANIFEST["webhooks"]["api_version"]
    topics = {t for s in webhooks["subscriptions"] for t in s.get("topics", [])}
    compliance = {t for s in webhooks["subscriptions"] for t in s.get("compliance_topics", [])}
    assert topics == {s.topic for s in manifest.load().subscriptions}
    assert compliance == set(MANIFEST["webhooks"]["compliance"]["topics"])
    assert {s["uri"] for s in webhooks["subscriptions"]} == {
        "https://nudge.example/webhooks/shopify"
    }

    only = tomllib.loads(CliRunner().invoke(main, ["app", "toml", "--compliance-only"]).output)
    assert [set(s) for s in only["webhooks"]["subscriptions"]] == [{"compliance_topics", "uri"}]
