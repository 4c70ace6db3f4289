"""``manifest.json``: the one place that names the app, its scopes, webhooks and URLs.

The app reads it to ask for scopes at install, to print the equivalent ``shopify.app.toml``
for the Shopify CLI (webhook subscriptions declared app-wide), to register a shop's
subscriptions when that configuration does not, and to write the theme app extension.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from connectors import shopify

MANIFEST_PATH = Path(__file__).parents[2] / "manifest.json"
# the storefront script: served by the app to other sites, shipped in the theme extension
STOREFRONT_ASSETS = Path(__file__).parents[1] / "static" / "storefront"
CALLBACK_PATH = "/auth/callback"


@dataclass(frozen=True)
class Subscription:
    """One webhook topic and the route that handles it."""

    topic: str
    uri: str

    @property
    def graphql_topic(self) -> str:
        """The Admin GraphQL ``WebhookSubscriptionTopic``: ``orders/create`` -> ``ORDERS_CREATE``."""
        return self.topic.replace("/", "_").replace(".", "_").upper()


@dataclass(frozen=True)
class Manifest:
    """What manifest.json says, typed."""

    raw: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.raw["name"])

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.raw["access_scopes"])

    @property
    def api_version(self) -> str:
        return str(self.raw["webhooks"]["api_version"])

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """Topics each shop is subscribed to through the Admin API (facts and lifecycle)."""
        webhooks = self.raw["webhooks"]
        groups = [*webhooks["subscriptions"], webhooks.get("lifecycle", {"topics": []})]
        return tuple(Subscription(t, g["uri"]) for g in groups for t in g["topics"])

    @property
    def compliance(self) -> tuple[Subscription, ...]:
        """Privacy topics: declared in the app's configuration, never registered per shop."""
        group = self.raw["webhooks"]["compliance"]
        return tuple(Subscription(t, group["uri"]) for t in group["topics"])


@cache
def load(path: Path = MANIFEST_PATH) -> Manifest:
    """Read manifest.json (once per process)."""
    return Manifest(json.loads(path.read_text()))


def handled_topics() -> frozenset[str]:
    """Every topic the Shopify webhook route has a handler for."""
    return shopify.TOPICS | shopify.COMPLIANCE_TOPICS


def unhandled_topics(manifest: Manifest) -> set[str]:
    """Topics the manifest subscribes to that no handler takes."""
    subscribed = {s.topic for s in (*manifest.subscriptions, *manifest.compliance)}
    return subscribed - handled_topics()


def unsubscribed_handlers(manifest: Manifest) -> set[str]:
    """Topics a handler exists for that the manifest never subscribes to."""
    subscribed = {s.topic for s in (*manifest.subscriptions, *manifest.compliance)}
    return set(handled_topics()) - subscribed


def missing_scopes(manifest: Manifest, granted: str | None) -> list[str]:
    """Scopes the manifest asks for that the shop has not granted (write_x implies read_x)."""
    have = {g.strip() for g in (granted or "").split(",") if g.strip()}
    have |= {"read_" + g.removeprefix("write_") for g in have if g.startswith("write_")}
    return [s for s in manifest.scopes if s not in have]


def known_missing_scopes(manifest: Manifest, granted: str | None) -> list[str]:
    """``missing_scopes``, but none when the grant's scopes are unknown (a token given by
    hand with `nudge shop add --token` comes without them): nothing is known to be missing."""
    return [] if granted is None else missing_scopes(manifest, granted)


def absolute(app_url: str, uri: str) -> str:
    """A manifest route as a full URL under the app's public base URL."""
    return app_url.rstrip("/") + "/" + uri.lstrip("/") if uri.startswith("/") else uri


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of printable text is a valid TOML basic string


def _toml_list(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(_toml_string(v) for v in values) + "]"


def shopify_app_toml(
    manifest: Manifest, *, client_id: str, app_url: str, compliance_only: bool = False
) -> str:
    """The ``shopify.app.toml`` equivalent to the manifest, for `shopify app deploy`.

    Every webhook subscription is declared app-wide: Shopify delivers it for every shop that
    installs the app, at the app's URL as deployed. ``compliance_only`` leaves out all but
    the compliance topics, for a deployment that registers the others per shop at install
    (``NUDGE_SHOPIFY_MANAGED_WEBHOOKS`` off); declaring both would deliver each twice.
    """
    app_url = app_url.rstrip("/")
    lines = [
        "# Generated from manifest.json by `nudge app toml`; edit manifest.json instead.",
        f"client_id = {_toml_string(client_id)}",
        f"name = {_toml_string(manifest.name)}",
        f"handle = {_toml_string(str(manifest.raw.get('handle', '')))}",
        f"application_url = {_toml_string(absolute(app_url, manifest.raw.get('application_url', '/')))}",
        f"embedded = {'true' if manifest.raw.get('embedded', True) else 'false'}",
        "",
        "[access_scopes]",
        f"scopes = {_toml_string(','.join(manifest.scopes))}",
        "",
        "[auth]",
        f"redirect_urls = {_toml_list([app_url + CALLBACK_PATH])}",
        "",
        "[webhooks]",
        f"api_version = {_toml_string(manifest.api_version)}",
    ]
    by_uri: dict[str, list[str]] = {}
    for subscription in () if compliance_only else manifest.subscriptions:
        by_uri.setdefault(subscription.uri, []).append(subscription.topic)
    for uri, topics in by_uri.items():
        lines += [
            "",
            "[[webhooks.subscriptions]]",
            f"topics = {_toml_list(topics)}",
            f"uri = {_toml_string(absolute(app_url, uri))}",
        ]
    compliance: dict[str, list[str]] = {}
    for subscription in manifest.compliance:
        compliance.setdefault(subscription.uri, []).append(subscription.topic)
    for uri, topics in compliance.items():
        lines += [
            "",
            "[[webhooks.subscriptions]]",
            f"compliance_topics = {_toml_list(topics)}",
            f"uri = {_toml_string(absolute(app_url, uri))}",
        ]
    proxy = manifest.raw.get("app_proxy")
    if proxy:  # the storefront script asks for the signed-in customer through it
        lines += [
            "",
            "[app_proxy]",
            f"url = {_toml_string(absolute(app_url, proxy['url']))}",
            f"subpath = {_toml_string(proxy['subpath'])}",
            f"prefix = {_toml_string(proxy['prefix'])}",
        ]
    return "\n".join(lines) + "\n"


def theme_extension_files(manifest: Manifest) -> dict[str, str]:
    """The theme app extension (relative path -> text), for `shopify app deploy`.

    Its app embed adds the storefront script to every page once the merchant switches it on
    (Theme settings > App embeds), with no edit to the theme. The script ships in the
    extension's ``assets/`` (the very files the app serves to other sites), so Shopify's CDN
    serves it; the embed's schema loads it, and its markup tells it the app proxy's path
    (every call goes to the shop's own domain) and the theme editor's settings. No address
    of the app is written into it.
    """
    extension = manifest.raw["theme_extension"]
    proxy = manifest.raw["app_proxy"]
    settings = extension["settings"]
    schema = {
        "name": extension["name"],
        "target": "body",
        "javascript": extension["javascript"],
        "settings": settings,
    }
    # what the script reads (Liquid fills in the asset's CDN address and the settings)
    attributes = {
        "app-proxy": f"/{proxy['prefix']}/{proxy['subpath']}",
        "overlay-src": "{{ '" + extension["overlay_javascript"] + "' | asset_url }}",
        **{s["id"].replace("_", "-"): "{{ block.settings." + s["id"] + " }}" for s in settings},
    }
    markup = " ".join(f'data-{name}="{value}"' for name, value in attributes.items())
    folder = f"extensions/{extension['handle']}"
    files = {
        f"{folder}/shopify.extension.toml": "\n".join(
            [
                "# Generated from manifest.json by `nudge app extension`; edit manifest.json instead.",
                f"name = {_toml_string(extension['name'])}",
                'type = "theme"',
                "",
            ]
        ),
        f"{folder}/blocks/nudge.liquid": (
            f'<div id="nudge-storefront" hidden {markup}></div>\n'
            "{% schema %}\n" + json.dumps(schema, indent=2) + "\n{% endschema %}\n"
        ),
    }
    for name in (extension["javascript"], extension["overlay_javascript"]):
        files[f"{folder}/assets/{name}"] = (STOREFRONT_ASSETS / name).read_text("utf-8")
    # the block has no words of its own (the overlay's come from the app's settings)
    files[f"{folder}/locales/en.default.json"] = "{}\n"
    return files
