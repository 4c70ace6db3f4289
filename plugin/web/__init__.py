"""The app's HTTP routes: where every webhook enters, the settings page and its JSON API.

- ``webhooks``: ``POST /webhooks/<platform>`` — verify, store in the durable inbox, answer.
- ``app_page``: ``GET /``, the embedded settings page, and the frame policy of every HTML page.
- ``api``: ``/api/...`` for that page, authenticated by Shopify session tokens
  (``plugin.shopify_app.session_tokens``); ``email_preview``: a step's draft email rendered
  for the page's live preview.
- ``unsubscribe``: the one-click unsubscribe link every marketing email carries.
- ``staff_address``: the link that confirms a staff address before anything is sent to it.

The storefront's endpoints live in ``plugin.storefront`` and the install flow's in
``plugin.shopify_app``. Routes store and read; the deciding happens in ``plugin.pipeline``.
May import ``plugin.storage``, ``plugin.shop_settings``, ``plugin.pipeline``, ``plugin.emails``,
``plugin.shopify_app``, ``connectors`` and ``rules``.
"""
