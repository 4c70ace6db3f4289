"""A WooCommerce store's side of the app: connecting it without hand work.

May import ``storage`` and ``shopify_app`` (the shop credentials' encryption) besides the
shared modules.
"""
