"""What a merchant set for their shop: its workflows (with versions) and its policies.

- ``workflows``: the shipped definitions, overridden by the shop's saved versions.
- ``policies``: send window, frequency cap, sender, overlay and the other shop-wide settings.

May import ``plugin.storage`` and ``rules``.
"""
