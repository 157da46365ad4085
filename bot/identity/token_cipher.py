"""Authenticated encryption of stored forest tokens under BOT_SECRET_KEY.

AES-GCM from the ``cryptography`` package, with a key derived by HKDF so any long random secret
works. The storage key is bound in as associated data: a value copied under another person's key
does not decrypt, so nobody can be made to act with someone else's token.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"
_NONCE_BYTES = 12


class UndecryptableValue(Exception):
    """The value was not written with this secret for this key (or was tampered with)."""


class TokenCipher:
    def __init__(self, secret: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"forest-approvals links v1"
        ).derive(secret.encode())
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, bound_to: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, bound_to.encode())

    def open(self, sealed: bytes, bound_to: str) -> bytes:
        if len(sealed) < 1 + _NONCE_BYTES or sealed[:1] != _VERSION:
            raise UndecryptableValue("unknown format")
        nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, ciphertext, bound_to.encode())
        except InvalidTag:
            raise UndecryptableValue("authentication failed") from None
