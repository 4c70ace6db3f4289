"""manifest.json is the one list of webhook topics; every topic has a handler and back."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path

from click.testing import CliRunner

from connectors import shopify
from plugin.cli import main
from plugin.shopify_app import manifest

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

    # Shopify's app proxy reaches the storefront identity route
    proxy = toml["app_proxy"]
    assert (proxy["prefix"], proxy["subpath"]) == ("apps", "nudge")
    assert (
        proxy["url"] + "/identity"
        == "https://nudge.example" + MANIFEST["routes"]["storefront_identity"]
    )

    only = tomllib.loads(CliRunner().invoke(main, ["app", "toml", "--compliance-only"]).output)
    assert [set(s) for s in only["webhooks"]["subscriptions"]] == [{"compliance_topics", "uri"}]


def test_the_theme_app_embed_loads_the_storefront_script(tmp_path, monkeypatch, client, shop):
    monkeypatch.setenv("NUDGE_APP_URL", "https://nudge.example")
    result = CliRunner().invoke(main, ["app", "extension", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "extensions" / MANIFEST["theme_extension"]["handle"]
    config = tomllib.loads((folder / "shopify.extension.toml").read_text())
    assert config["type"] == "theme"
    block = (folder / "blocks" / "nudge.liquid").read_text()
    schema = json.loads(block.split("{% schema %}")[1].split("{% endschema %}")[0])
    assert schema["target"] == "body"  # an app embed: on every page once switched on
    src = re.search(r'<script src="([^"]+)" data-app-proxy="/apps/nudge" defer>', block)
    assert src is not None, block
    # as Liquid renders it for a shop: the app's real script route
    url = src[1].replace("{{ shop.permanent_domain }}", shop.domain)
    assert url.startswith("https://nudge.example/storefront/")
    served = client.get(url.removeprefix("https://nudge.example"))
    assert served.status_code == 200 and served.mimetype == "application/javascript"
