"""The companion WordPress plugin: every PHP file parses, and a cart it signs is what
Nudge's verifier and webhook route accept (the plugin's own PHP run with `php`).

Without `php` these tests are skipped on an engineer's machine; in CI (``CI=true``, where
`.ci/run` installs PHP from Debian) a missing `php` fails them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors import woocommerce
from connectors.woocommerce import carts
from plugin.pipeline.inbox import process_inbox
from plugin.shopify_app import webhook_secrets
from plugin.shopify_app.crypto import TokenCipher
from plugin.storage.models import CheckoutRow, Shop
from tests.support import woo
from tests.support.clock import T0

PLUGIN = Path(woocommerce.__file__).parent / "wordpress" / "nudge"
PHP = shutil.which("php")

if PHP is None and os.environ.get("CI") != "true":
    pytest.skip("php is not installed (CI installs it)", allow_module_level=True)

# Run the plugin's signing functions on a cart given as JSON; print the request as JSON.
SIGN = """
define('NUDGE_SIGNING_STANDALONE', true);
require $argv[1];
$cart = json_decode(file_get_contents('php://stdin'), true);
echo json_encode(nudge_cart_request($cart, $argv[2], $argv[3]));
"""


def php(*args: str, stdin: str = "") -> str:
    assert PHP is not None, "php is missing: CI installs php-cli (.ci/run)"
    done = subprocess.run(
        [PHP, *args], input=stdin, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_every_php_file_of_the_plugin_parses():
    files = sorted(PLUGIN.rglob("*.php"))
    assert {f.name for f in files} >= {"nudge.php", "signing.php", "class-nudge-carts.php"}
    for file in files:
        assert "No syntax errors" in php("-l", str(file))


def signed_by_php(cart: dict, secret: str) -> tuple[bytes, dict[str, str]]:
    request = json.loads(
        php(
            "-r",
            SIGN,
            str(PLUGIN / "includes" / "signing.php"),
            secret,
            f"https://{woo.WOO_SHOP}/",
            stdin=json.dumps(cart),
        )
    )
    return request["body"].encode(), request["headers"]


def test_a_cart_the_plugin_signs_passes_nudges_verifier_and_route(client, services):
    with services.sessions() as session, session.begin():
        row = Shop(domain=woo.WOO_SHOP, platform="woocommerce", settings={})
        webhook_secrets.store(row, woo.WOO_SECRET, TokenCipher(services.settings["SECRET_KEY"]))
        session.add(row)
    cart = {**woo.cart("0123456789abcdef0123456789abcdef", T0), "first_name": "Zoë ☕"}
    body, headers = signed_by_php(cart, woo.WOO_SECRET)
    assert woocommerce.verify(headers, body, woo.WOO_SECRET)
    assert not woocommerce.verify(headers, body, "another-secret")
    assert headers["X-WC-Webhook-Topic"] == carts.TOPIC
    assert headers["X-WC-Webhook-Source"] == f"https://{woo.WOO_SHOP}/"

    response = client.post(f"/webhooks/woocommerce/{woo.WOO_SHOP}", data=body, headers=headers)
    assert response.status_code == 200 and response.json["status"] == "accepted"
    # the same cart posted again is the same delivery
    again = client.post(f"/webhooks/woocommerce/{woo.WOO_SHOP}", data=body, headers=headers)
    assert again.json["status"] == "duplicate"
    process_inbox(services, T0)
    with services.sessions() as session:
        stored = session.scalars(select(CheckoutRow)).one()
    assert (stored.token, stored.email, stored.recovery_url) == (
        cart["cart_key"],
        "ada@example.com",
        cart["checkout_url"],
    )


def test_the_plugins_settings_link_is_signed_as_nudge_checks_it():
    from plugin.woocommerce_app.sessions import link_signature

    script = (
        "define('NUDGE_SIGNING_STANDALONE', true); require $argv[1];"
        " echo nudge_settings_signature($argv[2], (int) $argv[3], $argv[4]);"
    )
    signing = str(PLUGIN / "includes" / "signing.php")
    signed = php("-r", script, signing, woo.WOO_SHOP, "1767225600", woo.WOO_SECRET)
    assert signed == link_signature(woo.WOO_SHOP, 1767225600, woo.WOO_SECRET)


@pytest.mark.parametrize(
    "home_url",
    [
        "https://woo.example.com/",
        "https://Woo.Example.com",
        "https://example.com/shop/",
        "http://example.com:8080/a/Shop/",
        "https://example.com//shop//",
    ],
)
def test_the_plugin_names_its_store_as_nudge_does(home_url):
    from connectors.woocommerce.stores import store_key

    script = "define('NUDGE_SIGNING_STANDALONE', true); require $argv[1];"
    script += " echo nudge_store_key($argv[2]);"
    named = php("-r", script, str(PLUGIN / "includes" / "signing.php"), home_url)
    assert named == store_key(home_url)


def test_a_cart_from_a_store_in_a_folder_reaches_its_shop(client, services):
    with services.sessions() as session, session.begin():
        session.add(woo.woo_store(services.settings["SECRET_KEY"], domain="example.com/shop"))
        session.add(woo.woo_store(services.settings["SECRET_KEY"], "example.com", "root-secret"))
    cart = {**woo.cart("k-folder", T0), "checkout_url": "https://example.com/shop/?nudge_cart=k"}
    request = json.loads(
        php(
            "-r",
            SIGN,
            str(PLUGIN / "includes" / "signing.php"),
            woo.WOO_SECRET,
            "https://example.com/shop/",
            stdin=json.dumps(cart),
        )
    )
    body, headers = request["body"].encode(), request["headers"]
    # the store at the root of the host is another shop, with its own secret: refused there
    refused = client.post("/webhooks/woocommerce/example.com", data=body, headers=headers)
    assert refused.status_code == 401
    accepted = client.post("/webhooks/woocommerce/example.com/shop", data=body, headers=headers)
    assert accepted.status_code == 200 and accepted.json["status"] == "accepted"
    process_inbox(services, T0)
    with services.sessions() as session:
        stored = session.execute(select(Shop.domain, CheckoutRow.recovery_url).join(Shop)).one()
    assert tuple(stored) == ("example.com/shop", cart["checkout_url"])


# The classic checkout's box as the plugin asks WooCommerce to print it: only the call's
# arguments are recorded here (woocommerce_form_field is WooCommerce's).
CLASSIC_BOX = """
define('ABSPATH', '/');
function __($text, $domain = null) { return $text; }
function esc_html($text) { return $text; }
function get_option($name, $default = false) { return $default; }
function is_user_logged_in() { return false; }
function woocommerce_form_field($key, $args, $value) { echo json_encode([$key, $args, $value]); }
require $argv[1]; require $argv[2];
Nudge_Consent::classic_box();
"""


def test_the_classic_box_makes_woocommerce_send_the_form_when_ticked():
    """WooCommerce's checkout script posts the form (update_order_review, where the plugin
    reads the box for the cart) on address changes and on a change of a checkbox inside
    ``.update_totals_on_change`` (WooCommerce 8.9's assets/js/frontend/checkout.js); without
    that class a box ticked last, after the address, never reached the cart."""
    includes = PLUGIN / "includes"
    key, args, value = json.loads(
        php(
            "-r",
            CLASSIC_BOX,
            str(includes / "class-nudge-settings.php"),
            str(includes / "class-nudge-consent.php"),
        )
    )
    assert (key, args["type"], value) == ("nudge_accepts_marketing", "checkbox", 0)
    assert "update_totals_on_change" in args["class"]
    assert args["label"] == "Email me news and offers"
