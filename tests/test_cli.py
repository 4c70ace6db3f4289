"""The `nudge` command line, through click's runner on the real app and database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

import rules
from plugin import create_app
from plugin.cli import main
from plugin.emails.sample import queue_test_email
from plugin.services import Services
from plugin.storage.models import Shop


@pytest.fixture
def nudge(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Run `nudge ...` against a database of the test's own."""
    monkeypatch.setenv("NUDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("NUDGE_SECRET_KEY", "cli-test-secret-0123456789abcdef-0123456789abcdef")
    runner = CliRunner()

    def run(*args: str, ok: bool = True):  # type: ignore[no-untyped-def]
        result = runner.invoke(main, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run


def test_shop_add_and_workflows_list(nudge):
    assert (
        "added shopify shop"
        in nudge(
            "shop", "add", "cli-shop.myshopify.com", "--token", "t", "--webhook-secret", "s"
        ).output
    )
    listing = nudge("workflows", "list", "cli-shop.myshopify.com").output
    for name in (
        "cart_abandonment",
        "upsell",
        "purchase_cycle",
        "feedback_request",
        "reengagement",
    ):
        assert name in listing


def test_enable_disable_and_show(nudge):
    nudge("shop", "add", "cli-shop.myshopify.com", "--token", "t")
    assert (
        "upsell: disabled"
        in nudge("workflows", "disable", "cli-shop.myshopify.com", "upsell").output
    )
    shown = json.loads(nudge("workflows", "show", "cli-shop.myshopify.com", "upsell").output)
    assert shown["enabled"] is False and shown["version"] == 1
    shipped = len(list((Path(rules.__file__).parent / "workflows").glob("*.json")))
    enabled = nudge("workflows", "enable", "cli-shop.myshopify.com", "--all").output
    assert enabled.count(": enabled") == shipped and "disabled" not in enabled


def test_set_validates_and_versions(nudge, tmp_path):
    nudge("shop", "add", "cli-shop.myshopify.com", "--token", "t")
    definition = json.loads(
        nudge("workflows", "show", "cli-shop.myshopify.com", "cart_abandonment").output
    )
    definition.pop("enabled"), definition.pop("version")
    definition["steps"][0]["delay"]["hours"] = 2
    good = tmp_path / "good.json"
    good.write_text(json.dumps(definition))
    assert "version 1" in nudge("workflows", "set", "cli-shop.myshopify.com", str(good)).output
    definition["steps"][0]["conditions"]["all"][0]["name"] = "cart_valu"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(definition))
    result = nudge("workflows", "set", "cli-shop.myshopify.com", str(bad), ok=False)
    assert result.exit_code != 0
    assert "steps[0].conditions.all[0]" in result.output and "cart_valu" in result.output


def test_unknown_shop_is_a_clear_error(nudge):
    result = nudge("workflows", "list", "nope.myshopify.com", ok=False)
    assert result.exit_code != 0 and "no shop" in result.output


def test_run_due_and_outbox_json(nudge):
    nudge("shop", "add", "cli-shop.myshopify.com", "--token", "t")
    out = nudge("run-due", "--now", "2026-05-01T12:00:00Z").output
    assert "inbox: 0 processed" in out
    assert nudge("outbox", "--json").output == ""
    bad = nudge("run-due", "--now", "yesterday", ok=False)
    assert bad.exit_code != 0 and "ISO-8601" in bad.output


def test_what_show_prints_set_takes_back(nudge, tmp_path):
    nudge("shop", "add", "cli-shop.myshopify.com")
    shown = tmp_path / "shown.json"
    shown.write_text(nudge("workflows", "show", "cli-shop.myshopify.com", "upsell").output)
    saved = nudge("workflows", "set", "cli-shop.myshopify.com", str(shown))
    assert saved.stdout == "saved upsell version 1 (enabled)\n" and saved.stderr == ""

    edited = json.loads(shown.read_text())  # still "version": 0, as first shown
    edited["enabled"] = False
    edited["steps"][0]["delay"]["days"] = 5
    shown.write_text(json.dumps(edited))
    again = nudge("workflows", "set", "cli-shop.myshopify.com", str(shown))
    assert again.stdout == "saved upsell version 2 (disabled)\n"
    assert "shown at version 0; version 1 was saved since" in again.stderr
    stored = json.loads(nudge("workflows", "show", "cli-shop.myshopify.com", "upsell").output)
    assert stored["enabled"] is False and stored["version"] == 2
    assert stored["steps"][0]["delay"]["days"] == 5


def test_set_refuses_an_enabled_that_is_no_switch(nudge, tmp_path):
    nudge("shop", "add", "cli-shop.myshopify.com")
    shown = json.loads(nudge("workflows", "show", "cli-shop.myshopify.com", "upsell").output)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**shown, "enabled": "no"}))
    result = nudge("workflows", "set", "cli-shop.myshopify.com", str(bad), ok=False)
    assert result.exit_code == 1 and "enabled: true or false" in result.output


@pytest.mark.parametrize(
    "args, says",
    [
        (["not-a-shop"], "'not-a-shop' is not a Shopify shop domain"),
        (["https://cli-shop.myshopify.com/"], "is not a Shopify shop domain"),
        (["shop.myshopify.com.evil.com"], "is not a Shopify shop domain"),
        (["not a shop", "--platform", "woocommerce"], "'not a shop' is not a store's address"),
        (["shop", "--platform", "woocommerce"], "'shop' is not a store's address"),
        (["ftp://shop.example.com", "--platform", "woocommerce"], "is not a store's address"),
        (["https://example.com/a/../b", "--platform", "woocommerce"], "not a store's address"),
        (["cli-shop.myshopify.com", "--platform", "woocommerce"], "add it with --platform shopify"),
    ],
)
def test_shop_add_refuses_what_is_no_shop_of_that_platform(nudge, args, says):
    result = nudge("shop", "add", *args, ok=False)
    assert result.exit_code == 2 and says in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert nudge("shop", "list", "--json").stdout == "[]\n"


def test_a_woocommerce_shop_is_stored_under_its_host_and_path(nudge):
    added = nudge("shop", "add", "https://Woo.Example.com:443/", "--platform", "woocommerce")
    assert "added woocommerce shop woo.example.com" in added.output
    assert "/webhooks/woocommerce/woo.example.com\n" in added.output
    below = nudge("shop", "add", "https://Woo.Example.com/Shop/", "--platform", "woocommerce")
    assert "added woocommerce shop woo.example.com/Shop" in below.output
    assert "/webhooks/woocommerce/woo.example.com/Shop\n" in below.output
    listed = json.loads(nudge("shop", "list", "--json").output)
    assert [(s["domain"], s["platform"]) for s in listed] == [
        ("woo.example.com", "woocommerce"),
        ("woo.example.com/Shop", "woocommerce"),
    ]


def test_shop_list_says_what_each_shop_can_do(nudge):
    assert "no shops" in nudge("shop", "list").output
    nudge("shop", "add", "with-token.myshopify.com", "--token", "shpat_x", "--webhook-secret", "s")
    nudge("shop", "add", "woo.example.com", "--platform", "woocommerce")
    listed = json.loads(nudge("shop", "list", "--json").output)
    assert [(s["domain"], s["platform"], s["installed"], s["token"], s["webhook_secret"])
            for s in listed] == [
        ("with-token.myshopify.com", "shopify", True, "usable", "own"),
        ("woo.example.com", "woocommerce", True, "none", "app"),
    ]  # fmt: skip
    assert all(s["created_at"] for s in listed)
    assert "shpat_x" not in nudge("shop", "list", "--json").output
    rows = [line for line in nudge("shop", "list").output.splitlines() if "woocommerce" in line]
    assert len(rows) == 1 and "woo.example.com" in rows[0] and "none" in rows[0]


def test_a_kept_message_says_so_and_shows_its_text(nudge, tmp_path, monkeypatch):
    nudge("shop", "add", "cli-shop.myshopify.com")
    services = Services.of(create_app())  # the same database, through the environment
    try:
        with services.sessions() as session, session.begin():
            shop = session.scalars(select(Shop)).one()
            shop.settings = {**shop.settings, "staff_email": "owner@shop.example"}
            step = {"id": "reminder", "actions": [
                {"name": "send_email", "params": {"template": "cart_reminder"}}
            ]}  # fmt: skip
            message_id = queue_test_email(
                session, shop, "cart_abandonment", step, services.now()
            ).id
    finally:
        services.dispose()
    ran = nudge("run-due").output
    assert "0 sent, 1 kept (SendGrid is not configured)" in ran
    assert json.loads(nudge("outbox", "--json").output)["state"] == "kept"
    monkeypatch.chdir(tmp_path)
    shown = nudge("outbox", "--show", str(message_id)).output
    assert "state:    kept (SendGrid is not configured)" in shown
    assert "to:       owner@shop.example" in shown and "[Test]" in shown
    preview = Path(shown.split("HTML preview: ")[1].strip())
    assert preview == tmp_path / "nudge-previews" / f"message-{message_id}.html"
    assert "<html" in preview.read_text().lower()
    body = shown.split("\n\n")[1]
    assert body.strip() and "<" not in body  # the text version, not the HTML
    missing = nudge("outbox", "--show", "999", ok=False)
    assert missing.exit_code == 1 and "no message 999" in missing.output
