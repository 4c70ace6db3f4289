"""Encryption at rest for shop credentials (Admin API access and refresh tokens).

The key is derived from ``NUDGE_SECRET_KEY`` with HKDF, under its own label, so the
cookie-signing uses of that secret and this one never share key material. MultiFernet
takes older secrets too: decrypting tries each, encrypting always uses the first.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["InvalidToken", "TokenCipher"]

_INFO = b"nudge shop credentials v1"


def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


class TokenCipher:
    """Encrypt and decrypt credentials with keys derived from the app secret(s)."""

    def __init__(self, secret_key: str, previous: Iterable[str] = ()):
        if not secret_key:
            raise ValueError("a secret key is needed to encrypt credentials")
        self._fernet = MultiFernet([_fernet(secret_key), *(_fernet(s) for s in previous)])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """The plaintext; raises ``InvalidToken`` for tampered data or an unknown key."""
        return self._fernet.decrypt(ciphertext.encode()).decode()
