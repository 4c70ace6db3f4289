"""Register a shop's webhook subscriptions from manifest.json, through the Admin API.

Only for a deployment whose ``shopify.app.toml`` does not declare them: Shopify recommends
app-wide subscriptions in the app's configuration (`nudge app toml` writes them), which
reach every shop and follow the app's URL without registering each shop again. With
``NUDGE_SHOPIFY_MANAGED_WEBHOOKS`` on, the install skips this.

Idempotent: the shop's current subscriptions are listed first and only missing ones are
created, so it runs again safely at every install. Compliance topics are not registered
here: Shopify takes them only from the app's configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.shopify.admin_api import AdminClient
from plugin.shopify_app.manifest import Manifest, absolute

LIST_QUERY = """
query NudgeWebhooks($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    edges { node { id topic uri } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

CREATE_MUTATION = """
mutation NudgeWebhookCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""

MAX_PAGES = 20


@dataclass
class Registration:
    """What one registration run did."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


def existing_subscriptions(client: AdminClient) -> set[tuple[str, str]]:
    """(GraphQL topic, uri) of every subscription the shop already has for this app."""
    found: set[tuple[str, str]] = set()
    after = None
    for _ in range(MAX_PAGES):
        page = client.query(LIST_QUERY, {"after": after}).get("webhookSubscriptions") or {}
        for edge in page.get("edges") or []:
            node = edge.get("node") or {}
            found.add((str(node.get("topic")), str(node.get("uri"))))
        info = page.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            break
        after = info.get("endCursor")
    return found


def register_webhooks(client: AdminClient, manifest: Manifest, app_url: str) -> Registration:
    """Create each manifest subscription the shop lacks; leave existing ones alone."""
    result = Registration()
    have = existing_subscriptions(client)
    for subscription in manifest.subscriptions:
        uri = absolute(app_url, subscription.uri)
        if (subscription.graphql_topic, uri) in have:
            result.existing.append(subscription.topic)
            continue
        client.mutate(
            CREATE_MUTATION,
            {"topic": subscription.graphql_topic, "webhookSubscription": {"uri": uri}},
            "webhookSubscriptionCreate",
        )
        result.created.append(subscription.topic)
    return result
