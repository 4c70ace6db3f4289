"""The companion plugin inside a real WordPress (Debian's, 6.1) with a real MariaDB database:
activated through WordPress's own API, its settings screen rendered for a signed-in
administrator and saved through WordPress's options.php, its storefront script on the
store's pages, a notice without WooCommerce, its settings kept on deactivation and removed
when it is deleted. The site is below the root of its host (``/shop/``), as a store in a
folder. No PHP message may come from the plugin, nor any warning from anywhere.

WooCommerce is in no package registry this machine reaches, so nothing here runs with it: the
opt-in box, cart capture and restoring, WooCommerce's key-pair authentication of the route
Nudge calls and the webhook cleanup on uninstall are not covered by this test (the signing of
carts is, by tests/test_wordpress_plugin.py). The one stand-in: the administrator is given
WooCommerce's capability ``manage_woocommerce``, as WooCommerce's installer gives it, so that
the plugin's screen and route open.

Outside CI the test is skipped when PHP, WordPress or MariaDB are missing; in CI
(``CI=true``, where `.ci/run` installs ``wordpress php-mysql php-cli``) it fails instead.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import wordpress

pytestmark = pytest.mark.slow

MISSING = wordpress.missing()
if MISSING is not None and os.environ.get("CI") != "true":
    pytest.skip(f"{MISSING}; CI installs it", allow_module_level=True)

PLUGIN = "nudge/nudge.php"
APP = "https://nudge.example"
ADMIN_API = "require ABSPATH_FILE; require_once ABSPATH . 'wp-admin/includes/plugin.php';"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[wordpress.Site]:
    assert MISSING is None, f"{MISSING}: .ci/run installs it"
    made = wordpress.Site(
        tmp_path_factory.mktemp("wordpress"), wordpress.database_name(Path(__file__).stem)
    )
    try:
        made.create()
        made.serve()
        yield made
    finally:
        made.destroy()


def quiet(site: wordpress.Site) -> None:
    """No PHP message from the plugin, and no warning, notice or error from anywhere. (WordPress
    6.1's own code is older than PHP 8.2 and logs deprecations, which are let through.)"""
    messages = [line for line in site.messages() if "PHP " in line]
    site.log.write_text("")  # the next test's messages are its own
    loud = [
        line
        for line in messages
        if "/plugins/nudge/" in line or not re.search(r"PHP Deprecated:", line)
    ]
    assert loud == [], "\n".join(loud)


def activate(site: wordpress.Site) -> None:
    """Activate through WordPress's activate_plugin. The plugin declares WordPress 6.4 (what
    WooCommerce 8.9 needs); Debian's WordPress is older, so for the check alone it is told
    it is 6.4."""
    result = site.php(
        ADMIN_API + "$real = $GLOBALS['wp_version']; $GLOBALS['wp_version'] = '6.4';"
        "$done = activate_plugin( 'nudge/nudge.php' ); $GLOBALS['wp_version'] = $real;"
        "echo is_wp_error( $done ) ? $done->get_error_message() : 'active';"
    )
    assert result == "active"


def page(browser: requests.Session, url: str, status: int = 200) -> str:
    response = browser.get(url, timeout=60)
    assert response.status_code == status, response.text[-2000:]
    body = response.text
    assert "Fatal error" not in body and "There has been a critical error" not in body
    return body


def test_wordpress_activates_the_plugin_without_a_message(site):
    # WordPress enforces the plugin's declared version: 6.1 is refused, with its reason
    refused = site.php(
        ADMIN_API + "$done = activate_plugin( $argv[1] ); echo $done->get_error_code();", PLUGIN
    )
    assert refused == "plugin_wp_incompatible"
    activate(site)
    # activate_plugin refuses a plugin that prints while loading ("unexpected output")
    assert site.php(ADMIN_API + "echo json_encode( is_plugin_active( $argv[1] ) );", PLUGIN) == (
        "true"
    )
    front = page(requests.Session(), f"{site.home}/")
    assert "Test store" in front
    assert "/storefront/" not in front  # no Nudge URL yet: no script
    quiet(site)


def test_without_woocommerce_the_admin_is_told_and_nothing_breaks(site):
    activate(site)
    browser = site.login()
    dashboard = page(browser, f"{site.home}/wp-admin/")
    notice = re.search(r'id="nudge-needs-woocommerce"><p>(.*?)</p>', dashboard)
    assert notice is not None and "needs WooCommerce" in html.unescape(notice.group(1))
    # its screen is WooCommerce's to give: without WooCommerce no one may open it
    page(browser, f"{site.home}/wp-admin/admin.php?page=nudge", status=403)
    # a visitor does not see the notice
    assert "nudge-needs-woocommerce" not in page(requests.Session(), f"{site.home}/")
    quiet(site)


def grant_woocommerce_capability(site: wordpress.Site) -> None:
    site.php(
        "require ABSPATH_FILE;"
        "get_role( 'administrator' )->add_cap( 'manage_woocommerce' ); echo 'granted';"
    )


def form_fields(screen: str) -> dict[str, str]:
    """The hidden fields of the settings form (WordPress's nonce among them)."""
    form = screen.split('action="options.php"', 1)[1].split("</form>", 1)[0]
    fields = {}
    for tag in re.findall(r"<input [^>]*>", form):
        attributes = dict(re.findall(r"""([a-z_]+)=["']([^"']*)["']""", tag))
        if attributes.get("type") == "hidden":
            fields[attributes["name"]] = html.unescape(attributes.get("value", ""))
    return fields


def test_the_settings_screen_renders_for_an_admin_and_saves(site):
    activate(site)
    grant_woocommerce_capability(site)
    browser = site.login()
    screen = page(browser, f"{site.home}/wp-admin/admin.php?page=nudge")
    assert "<h1>Nudge</h1>" in screen
    for field in ("app_url", "webhook_secret", "opt_in_label", "consent_cookie"):
        assert f'name="nudge_settings[{field}]"' in screen
    assert "Connect to Nudge" not in screen  # not before the Nudge URL is set
    # WordPress installed without a rewriting web server has "Plain" permalinks, under which
    # WooCommerce's /wc-auth/v1/authorize and /wp-json/ are not routed: the screen says so
    assert 'id="nudge-plain-permalinks"' in screen
    fields = form_fields(screen)
    assert fields["option_page"] == "nudge" and fields["_wpnonce"]

    saved = browser.post(
        f"{site.home}/wp-admin/options.php",
        data={
            **fields,
            "nudge_settings[app_url]": f" {APP}/ ",
            "nudge_settings[webhook_secret]": "s3cret-from-nudge",
            "nudge_settings[opt_in_label]": "<b>Email me</b> offers",
            "nudge_settings[consent_cookie]": "cmplz_marketing=allow",
        },
        allow_redirects=False,
        timeout=60,
    )
    assert saved.status_code == 302 and "settings-updated=true" in saved.headers["Location"]
    assert site.option("nudge_settings") == {
        "app_url": f"{APP}/",
        "webhook_secret": "s3cret-from-nudge",
        "opt_in_label": "Email me offers",  # tags stripped
        "consent_cookie": "cmplz_marketing=allow",
    }
    # a form without WordPress's nonce changes nothing
    forged = browser.post(
        f"{site.home}/wp-admin/options.php",
        data={**fields, "_wpnonce": "forged", "nudge_settings[app_url]": "https://evil.example"},
        timeout=60,
    )
    assert forged.status_code == 403
    assert site.option("nudge_settings")["app_url"] == f"{APP}/"  # type: ignore[index]

    site.php("require ABSPATH_FILE; update_option( 'permalink_structure', '/%postname%/' );")
    again = html.unescape(page(browser, f"{site.home}/wp-admin/admin.php?page=nudge"))
    assert 'id="nudge-plain-permalinks"' not in again
    store = "127.0.0.1/shop"  # the site's home URL without scheme and port: Nudge's name for it
    connect = f"{APP}/woocommerce/connect?store=http%3A%2F%2F127.0.0.1%3A{site.port}%2Fshop%2F"
    assert f'href="{connect}"' in again
    assert f"Webhooks and carts go to {APP}/webhooks/woocommerce/{store}" in again
    assert "Open Nudge settings" in again  # URL and secret set: connected
    assert "s3cret-from-nudge" not in again  # the secret is never shown back
    # an empty secret field keeps the secret
    fields = form_fields(again)
    browser.post(
        f"{site.home}/wp-admin/options.php",
        data={**fields, "nudge_settings[app_url]": APP, "nudge_settings[webhook_secret]": ""},
        timeout=60,
    )
    assert site.option("nudge_settings")["webhook_secret"] == "s3cret-from-nudge"  # type: ignore[index]
    quiet(site)


def test_the_connection_route_keeps_what_nudge_sends_for_a_store_manager_only(site):
    """``wc-nudge/v1/connection``, the route Nudge calls once connected. Nudge authenticates
    with the REST key pair WooCommerce checks; without WooCommerce, the administrator's own
    WordPress session (cookie and REST nonce) stands for it: the route, its permission and
    what it keeps are the plugin's."""
    activate(site)
    set_settings(site, app_url="https://old.example", opt_in_label="Yes please")
    route = f"{site.home}/?rest_route=/wc-nudge/v1/connection"
    sent = {"app_url": APP, "webhook_secret": "from-connect"}
    assert requests.post(route, json=sent, timeout=60).status_code == 401  # no one signed in

    browser = site.login()
    nonce = browser.get(f"{site.home}/wp-admin/admin-ajax.php?action=rest-nonce", timeout=60)
    assert nonce.status_code == 200 and nonce.text
    headers = {"X-WP-Nonce": nonce.text}
    site.php(
        "require ABSPATH_FILE; get_role( 'administrator' )->remove_cap( 'manage_woocommerce' );"
    )
    refused = browser.post(route, json=sent, headers=headers, timeout=60)
    assert refused.status_code == 403  # an administrator who does not manage the store
    grant_woocommerce_capability(site)
    missing = browser.post(route, json={"app_url": APP}, headers=headers, timeout=60)
    assert missing.status_code == 400 and "webhook_secret" in missing.text
    # a store connected before: WooCommerce granted a key pair at each connect
    earlier, newest = "Nudge - API (2026-12-01 10:00:00)", "Nudge - API (2026-12-07 16:56:14)"
    api_keys(site, earlier, "Accounting - API (2026-11-02 09:00:00)", newest)
    kept = browser.post(route, json=sent, headers=headers, timeout=60)
    assert kept.status_code == 200 and kept.json() == {"connected": True}
    assert site.option("nudge_settings") == {**sent, "opt_in_label": "Yes please"}
    # the pair Nudge connected with is the newest; the earlier one is revoked, others kept
    assert key_descriptions(site) == ["Accounting - API (2026-11-02 09:00:00)", newest]
    quiet(site)


# WooCommerce's table of REST API key pairs, reduced to the columns the plugin reads (the
# site has no WooCommerce); the plugin revokes Nudge's pairs as WooCommerce's "Revoke" does.
API_KEYS = (
    "CREATE TABLE wp_woocommerce_api_keys (key_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT "
    "PRIMARY KEY, user_id BIGINT UNSIGNED NOT NULL, description VARCHAR(200) NULL, "
    "permissions VARCHAR(10) NOT NULL)"
)


def api_keys(site: wordpress.Site, *descriptions: str) -> None:
    """The table, made anew (the site is shared by the tests), with these key pairs."""
    site.php(
        "require ABSPATH_FILE; global $wpdb;"
        ' $wpdb->query( "DROP TABLE IF EXISTS {$wpdb->prefix}woocommerce_api_keys" );'
        " $wpdb->query( $argv[1] );"
        "foreach ( json_decode( $argv[2] ) as $d ) { $wpdb->insert( $wpdb->prefix ."
        " 'woocommerce_api_keys', array( 'user_id' => 1, 'description' => $d,"
        " 'permissions' => 'read_write' ) ); }",
        API_KEYS,
        json.dumps(descriptions),
    )


def key_descriptions(site: wordpress.Site) -> list[str]:
    return json.loads(
        site.php(
            "require ABSPATH_FILE; global $wpdb; echo json_encode( $wpdb->get_col("
            ' "SELECT description FROM {$wpdb->prefix}woocommerce_api_keys ORDER BY key_id" ) );'
        )
    )


def set_settings(site: wordpress.Site, **settings: str) -> None:
    site.php(
        "require ABSPATH_FILE; update_option( 'nudge_settings', json_decode( $argv[1], true ) );",
        json.dumps(settings),
    )


def storefront_tags(front: str) -> list[str]:
    return re.findall(r"<script[^>]*/storefront/[^>]*>", front)


def test_the_storefront_script_is_on_the_stores_pages(site):
    activate(site)
    set_settings(site, app_url=APP, webhook_secret="s", consent_cookie="cmplz_marketing=allow")
    visitor = requests.Session()
    for url in (f"{site.home}/", f"{site.home}/?p=1", f"{site.home}/?s=beans"):
        [tag] = storefront_tags(page(visitor, url))
        assert f"src='{APP}/storefront/127.0.0.1/shop/nudge.js'" in tag.replace('"', "'")
        assert 'data-consent-cookie="cmplz_marketing=allow"' in tag
    version = site.php("require ABSPATH_FILE; echo get_bloginfo( 'version' );")
    if tuple(int(p) for p in version.split(".")[:2]) >= (6, 3):
        assert "defer" in tag  # WordPress 6.3's loading strategies; 6.1 prints it plainly
    quiet(site)


def test_deactivating_keeps_the_settings_and_deleting_removes_them(site):
    activate(site)
    set_settings(site, app_url=APP, webhook_secret="s")
    site.php(
        "require ABSPATH_FILE; set_transient( 'nudge_cart_0123', array( array( 1, 1, 0, array() ) ), 600 );"
    )
    api_keys(site, "Nudge - API (2026-12-07 16:56:14)", "Accounting - API (2026-11-02 09:00:00)")
    site.php(ADMIN_API + "deactivate_plugins( $argv[1] );", PLUGIN)
    assert site.php(ADMIN_API + "echo json_encode( is_plugin_active( $argv[1] ) );", PLUGIN) == (
        "false"
    )
    assert storefront_tags(page(requests.Session(), f"{site.home}/")) == []
    assert site.option("nudge_settings") == {"app_url": APP, "webhook_secret": "s"}  # reconnects

    # Plugins › Delete: WordPress runs uninstall.php, then removes the folder
    deleted = site.php(
        ADMIN_API + "require_once ABSPATH . 'wp-admin/includes/file.php';"
        "$done = delete_plugins( array( $argv[1] ) );"
        "echo is_wp_error( $done ) ? $done->get_error_message() : json_encode( $done );",
        PLUGIN,
    )
    assert deleted == "true"
    assert not (site.root / "wp-content" / "plugins" / "nudge").exists()
    assert site.option("nudge_settings") is False
    assert site.option("_transient_nudge_cart_0123") is False
    assert site.option("_transient_timeout_nudge_cart_0123") is False
    # Nudge's key pair no longer opens the store; the merchant's other keys stay
    assert key_descriptions(site) == ["Accounting - API (2026-11-02 09:00:00)"]
    quiet(site)
