"""manifest.json is the one list of webhook topics; every topic has a handler and back."""

from __future__ import annotations

import json
from pathlib import Path

from connectors import shopify

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
