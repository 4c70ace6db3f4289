"""Results: what the workflows brought a shop — messages and their engagement, orders
credited to messages (last touch, ``rules.attribution``), revenue, and the lift measured
against each workflow's holdout group (``rules.stats``), A/B test results. Read-only, but
for ``ab_winners``, which saves the winner of a test once one is clear.

May import ``rules``, ``plugin.storage`` and ``plugin.shop_settings``.
"""
