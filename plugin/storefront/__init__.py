"""The storefront: the script's endpoints, and its signups.

- ``routes``: ``/storefront/<shop>/...`` — the script, page views, the overlay, topic signups.
- ``proxy``: ``/storefront/proxy/...`` — the same, reached through Shopify's app proxy.
- ``signups``: double opt-in topic signups; ``rate_limit``: the endpoints' token buckets.

May import ``plugin.storage``, ``plugin.shop_settings``, ``plugin.emails``,
``plugin.pipeline`` (enrollment, the inbox), ``connectors`` and ``rules``.
"""
