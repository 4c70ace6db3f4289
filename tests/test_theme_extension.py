"""The theme app extension `nudge app extension` writes: the storefront script in its assets,
no address of the app anywhere, settings that agree with the settings page, clean under
Shopify's Theme Check, and a script small enough for it."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from click.testing import CliRunner

from plugin.cli import main
from plugin.shop_settings.policies import DEFAULT_SETTINGS
from tests.support.app_proxy import block_schema, render_block
from tests.support.session_tokens import session_token
from tests.support.theme_check import run_theme_check

STATIC = Path(__file__).resolve().parents[1] / "plugin" / "static" / "storefront"


@pytest.fixture
def extension(tmp_path: Path, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NUDGE_APP_URL", "https://nudge.example")
    result = CliRunner().invoke(main, ["app", "extension", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [folder] = (tmp_path / "extensions").iterdir()
    return folder


def test_the_extension_ships_the_script_the_app_serves_and_no_address_of_the_app(
    extension, client, shop
):
    for path in extension.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "nudge.example" not in text and "127.0.0.1" not in text, path
    block = (extension / "blocks" / "nudge.liquid").read_text()
    schema = block_schema(block)
    assert schema["target"] == "body"  # an app embed: on every page once switched on
    script = (extension / "assets" / schema["javascript"]).read_text()
    # the same file the app serves to sites elsewhere than Shopify, and its overlay module
    assert script == client.get(f"/storefront/{shop.domain}/nudge.js").get_data(as_text=True)
    with client.get("/static/storefront/nudge-overlay.js") as overlay:
        assert (extension / "assets" / "nudge-overlay.js").read_bytes() == overlay.data

    markup = render_block(
        block, {s["id"]: s.get("default") for s in schema["settings"]}, lambda n: f"/cdn/{n}"
    )
    assert 'data-app-proxy="/apps/nudge"' in markup
    assert 'data-overlay-src="/cdn/nudge-overlay.js"' in markup


def test_the_theme_editors_settings_are_the_settings_pages_own(extension, client, shop):
    schema = block_schema((extension / "blocks" / "nudge.liquid").read_text())
    settings = {s["id"]: s for s in schema["settings"]}
    page = DEFAULT_SETTINGS["storefront"]
    assert set(settings) <= set(page)  # same names...
    assert settings["overlay_enabled"]["default"] is page["overlay_enabled"]
    # ...and, left alone, the settings page's values ("app", or no number)
    assert settings["exit_intent"]["default"] == "app"
    assert {o["value"] for o in settings["exit_intent"]["options"]} == {"app", "true", "false"}
    assert "default" not in settings["delay_seconds"]

    # the delay's range is the one the settings page accepts
    headers = {"Authorization": f"Bearer {session_token()}"}
    overlay = client.get("/api/settings", headers=headers).json["settings"]["storefront"]
    low, high = settings["delay_seconds"]["min"], settings["delay_seconds"]["max"]
    for delay, status in ((low, 200), (high, 200), (low - 1, 422), (high + 1, 422)):
        body = {"storefront": {**overlay, "delay_seconds": delay}}
        assert client.put("/api/settings", json=body, headers=headers).status_code == status


def test_theme_check_finds_no_offense_in_the_extension(extension):
    done = run_theme_check(extension)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 offense(s)" in done.stdout


def test_theme_check_fails_on_an_offense(extension):
    """The check above can fail: the app's own script address, as the extension once had it."""
    block = extension / "blocks" / "nudge.liquid"
    remote = '<script src="https://nudge.example/storefront/s/nudge.js" defer></script>\n'
    block.write_text(remote + block.read_text())
    done = run_theme_check(extension)
    assert done.returncode == 1 and "RemoteAsset" in done.stdout


def test_the_storefront_script_stays_small():
    """Budgets in bytes: Theme Check refuses app-embed JavaScript over 10,000 bytes as written;
    gzipped is what a visitor downloads (docs/performance.md has the measured figures)."""
    script, overlay = (STATIC / "nudge.js").read_bytes(), (STATIC / "nudge-overlay.js").read_bytes()
    assert len(script) <= 10_000
    assert len(gzip.compress(script, 9)) <= 4 * 1024
    assert len(gzip.compress(overlay, 9)) <= 3 * 1024
