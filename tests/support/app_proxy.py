"""Shopify's side of the storefront: the app proxy's signed query, and a shop's storefront
as Shopify serves it with Nudge's app embed switched on (for the browser tests).

The storefront serves theme pages with the embed's block rendered, the extension's assets
(standing in for Shopify's CDN), and the app proxy: ``/apps/nudge/...`` is forwarded to the
app's ``/storefront/proxy/...`` as Shopify forwards it (query signed, cookies stripped, the
client's address in ``X-Forwarded-For``), here by calling the app's WSGI callable.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import mimetypes
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from tests.support.shop import SHOP

PATH_PREFIX = "/apps/nudge"
SHOPIFY_ADDRESS = "192.0.2.10"  # where Shopify's proxy requests come from
CUSTOMER_COOKIE = "test_logged_in_customer"  # stands in for the shop's own session cookie


def proxy_query(
    secret: str,
    now: datetime,
    *,
    shop: str = SHOP,
    customer: str = "",
    path_prefix: str = PATH_PREFIX,
    **extra: str,
) -> str:
    """The query Shopify's app proxy adds to a forwarded request, signed as Shopify signs it:
    every parameter but the signature as key=value, sorted, joined, HMAC-SHA256 hex."""
    params = {
        **extra,
        "shop": shop,
        "logged_in_customer_id": customer,
        "path_prefix": path_prefix,
        "timestamp": str(int(now.timestamp())),
    }
    message = "".join(sorted(f"{key}={value}" for key, value in params.items()))
    signature = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode({**params, "signature": signature})


def liquid_value(value: object) -> str:
    """A setting as Liquid prints it: true/false, nothing for nil."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def render_block(block: str, settings: dict[str, Any], asset_url: Callable[[str], str]) -> str:
    """The app embed's markup as Shopify renders it for a theme (its schema left out).

    Only what the block uses is understood; anything else left unrendered fails the test.
    """
    markup = block.split("{% schema %}")[0]
    markup = re.sub(r"\{\{ '([^']+)' \| asset_url \}\}", lambda m: asset_url(m[1]), markup)
    markup = re.sub(
        r"\{\{ block\.settings\.(\w+) \}\}",
        lambda m: html.escape(liquid_value(settings[m[1]])),
        markup,
    )
    assert "{{" not in markup and "{%" not in markup, markup
    return markup


def block_schema(block: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(block.split("{% schema %}")[1].split("{% endschema %}")[0])
    return schema


def theme_defaults(block: str) -> dict[str, Any]:
    """The block's settings as a theme has them before the merchant changes any."""
    return {s["id"]: s.get("default") for s in block_schema(block)["settings"]}


# Shopify's Customer Privacy API, as the storefront has it: nothing allowed until the
# visitor answers the cookie banner (the test calls setTrackingConsent, as a banner does).
CUSTOMER_PRIVACY = """<script>
(function () {
  var consent = {analytics: false, marketing: false};
  var api = {
    analyticsProcessingAllowed: function () { return consent.analytics; },
    marketingAllowed: function () { return consent.marketing; },
    setTrackingConsent: function (given, done) {
      consent = {analytics: !!given.analytics, marketing: !!given.marketing};
      document.dispatchEvent(new CustomEvent("visitorConsentCollected", {detail: {
        analyticsAllowed: consent.analytics, marketingAllowed: consent.marketing,
        preferencesAllowed: !!given.preferences, saleOfDataAllowed: !!given.sale_of_data}}));
      if (done) done();
    },
  };
  window.Shopify = {
    loadFeatures: function (features, callback) {
      window.setTimeout(function () {
        window.Shopify.customerPrivacy = api;
        callback(false);
      }, 10);
    },
  };
})();
</script>"""


class ShopifyStorefront:
    """A WSGI storefront of ``SHOP`` with the app embed on, in front of the app."""

    def __init__(
        self,
        app: Any,
        extension: Path,
        *,
        secret: str,
        now: Callable[[], datetime],
        settings: dict[str, Any] | None = None,
        design_mode: bool = False,
    ):
        self.app, self.extension, self.secret, self.now = app, extension, secret, now
        self.design_mode = design_mode  # pages as the theme editor shows them
        self.block = (extension / "blocks" / "nudge.liquid").read_text()
        self.settings = {**theme_defaults(self.block), **(settings or {})}
        self.forwarded: list[str] = []  # the paths the proxy forwarded, in order

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path.startswith("/cdn/assets/"):
            return self._asset(path.removeprefix("/cdn/assets/"), start_response)
        if path.startswith(PATH_PREFIX + "/"):
            return self._proxy(environ, path.removeprefix(PATH_PREFIX), start_response)
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [self.page(path).encode()]

    def page(self, title: str) -> str:
        """A theme page: the script the embed's schema names, and the embed's markup."""
        script = block_schema(self.block)["javascript"]
        embed = render_block(self.block, self.settings, lambda name: f"/cdn/assets/{name}")
        editor = "<script>window.Shopify.designMode = true</script>" if self.design_mode else ""
        return f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
{CUSTOMER_PRIVACY}{editor}
<script src="/cdn/assets/{script}" defer></script></head>
<body><h1>{title}</h1><p>Tea, coffee and the things that go with them.</p>
{embed}</body></html>"""

    def _asset(self, name: str, start_response: Any) -> Iterable[bytes]:
        path = self.extension / "assets" / name
        if "/" in name or not path.is_file():
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        start_response("200 OK", [("Content-Type", kind)])
        return [path.read_bytes()]

    def _proxy(self, environ: dict[str, Any], rest: str, start_response: Any) -> Iterable[bytes]:
        cookies = environ.get("HTTP_COOKIE", "")
        found = re.search(rf"(?:^|; ){CUSTOMER_COOKIE}=(\d+)", cookies)
        forwarded = dict(environ)
        forwarded.pop("HTTP_COOKIE", None)
        asked = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        query = proxy_query(self.secret, self.now(), customer=found[1] if found else "", **asked)
        forwarded.update(
            PATH_INFO="/storefront/proxy" + rest,
            QUERY_STRING=query,
            REMOTE_ADDR=SHOPIFY_ADDRESS,
            HTTP_X_FORWARDED_FOR=environ.get("REMOTE_ADDR", ""),
            HTTP_X_FORWARDED_HOST=SHOP,
        )
        self.forwarded.append(rest)

        def start_without_cookies(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            kept = [(k, v) for k, v in headers if k.lower() != "set-cookie"]
            return start_response(status, kept, *exc)

        return self.app(forwarded, start_without_cookies)  # type: ignore[no-any-return]
