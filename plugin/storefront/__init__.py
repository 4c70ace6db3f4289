"""The storefront: the script's endpoints, visitors' identity, browsing facts and signups.

- ``routes``: ``/storefront/<shop>/...`` — the script, page views, the overlay, topic signups.
- ``identity``: who a visitor is, only as far as a signed token proves it.
- ``browsing``: page views and open carts as facts for the sales-rep alert.
- ``signups``: double opt-in topic signups; ``rate_limit``: the endpoints' token buckets.

May import ``plugin.storage``, ``plugin.shop_settings``, ``plugin.emails``,
``plugin.pipeline`` (enrollment, the inbox), ``connectors`` and ``rules``.
"""
