"""``manifest.json``: the one place that names the app, its scopes, webhooks and URLs.

The app reads it to ask for scopes at install, to register each shop's webhook
subscriptions, and to print the equivalent ``shopify.app.toml`` for the Shopify CLI.
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

    ``compliance_only`` leaves out the topic subscriptions, for when they are registered
    per shop at install (as Nudge does) and should not also be app-wide.
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


def theme_extension_files(manifest: Manifest, *, app_url: str) -> dict[str, str]:
    """The theme app extension (relative path -> text) whose app embed adds the storefront
    script to every page, for `shopify app deploy`: the merchant switches it on under
    Theme settings > App embeds instead of editing the theme."""
    extension = manifest.raw["theme_extension"]
    proxy = manifest.raw.get("app_proxy") or {}
    script = absolute(app_url.rstrip("/"), extension["script"]).replace(
        "<shop>", "{{ shop.permanent_domain }}"
    )
    proxy_path = f"/{proxy['prefix']}/{proxy['subpath']}" if proxy else ""
    schema = {
        "name": extension["name"],
        "target": "body",
        "settings": [],
    }
    folder = f"extensions/{extension['handle']}"
    return {
        f"{folder}/shopify.extension.toml": "\n".join(
            [
                "# Generated from manifest.json by `nudge app extension`; edit manifest.json instead.",
                f"name = {_toml_string(extension['name'])}",
                'type = "theme"',
                "",
            ]
        ),
        f"{folder}/blocks/nudge.liquid": (
            f'<script src="{script}" data-app-proxy="{proxy_path}" defer></script>\n'
            "{% schema %}\n" + json.dumps(schema, indent=2) + "\n{% endschema %}\n"
        ),
    }
