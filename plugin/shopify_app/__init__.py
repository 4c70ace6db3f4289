"""The Shopify app's plumbing: install, tokens, the manifest, webhook registration, shop actions.

- ``install``: token exchange (embedded) and the authorization-code grant, with their routes.
- ``session_tokens``: the settings page's session tokens: which shop is calling ``/api``.
- ``tokens`` and ``crypto``: the shop's offline token pair, encrypted at rest and refreshed.
- ``manifest``: ``manifest.json`` read, and turned into ``shopify.app.toml`` and the theme
  app extension; ``webhook_registration``: the shop's subscriptions made to match it.
- ``shop_actions``: discount codes and customer tags made in the shop through the Admin API
  (``connectors.shopify.admin_api``).
- ``compliance``: the mandatory privacy webhooks and ``app/uninstalled``.

May import ``plugin.storage``, ``plugin.services``, ``connectors`` and ``rules``.
"""
