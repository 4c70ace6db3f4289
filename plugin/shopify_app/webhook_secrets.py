"""A shop's own webhook secret (WooCommerce, a Shopify custom app), encrypted at rest.

Encrypted like the Admin API tokens (plugin.shopify_app.crypto). A secret written before
that was kept in plaintext in ``Shop.webhook_secret``: it is still read, and ``store``
moves it to the encrypted column (the webhook intake does so the first time it uses it).
"""

from __future__ import annotations

import logging

from plugin.shopify_app.crypto import InvalidToken, TokenCipher
from plugin.storage.models import Shop

log = logging.getLogger(__name__)


def store(shop: Shop, secret: str, cipher: TokenCipher) -> None:
    """Keep the shop's webhook secret, encrypted; the plaintext column is cleared."""
    shop.webhook_secret_encrypted = cipher.encrypt(secret)
    shop.webhook_secret = None


def read(shop: Shop, cipher: TokenCipher) -> str | None:
    """The shop's own webhook secret, or None when it has none (or it cannot be decrypted).

    A plaintext one wins: it was written after the encrypted one, the old way.
    """
    if shop.webhook_secret:
        return shop.webhook_secret
    if not shop.webhook_secret_encrypted:
        return None
    try:
        return cipher.decrypt(shop.webhook_secret_encrypted)
    except InvalidToken:
        log.warning("the webhook secret of %s cannot be decrypted (key changed?)", shop.domain)
        return None


def has_own(shop: Shop) -> bool:
    """Whether the shop signs with a secret of its own (else the app secret, on Shopify)."""
    return bool(shop.webhook_secret or shop.webhook_secret_encrypted)
