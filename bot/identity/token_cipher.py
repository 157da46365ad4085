"""Authenticated encryption of stored forest tokens under BOT_SECRET_KEY.

AES-GCM from the ``cryptography`` package, with a key derived by HKDF so any long random secret
works. The storage key is bound in as associated data: a value copied under another person's key
does not decrypt, so nobody can be made to act with someone else's token.

Several secrets may be given, newest first: the first seals, every one opens. A rolling deploy
or a key change then unlinks nobody; a value opened with an older secret is sealed again with the
first (``Opened.stale``), so the older one can be dropped once everything was rewritten.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"
_NONCE_BYTES = 12


class UndecryptableValue(Exception):
    """The value was not written with any of these secrets for this key (or was tampered with)."""


@dataclass(frozen=True)
class Opened:
    plaintext: bytes
    # Sealed with an older secret: seal it again with the first.
    stale: bool


class TokenCipher:
    def __init__(self, secrets: str | Sequence[str]) -> None:
        listed = [secrets] if isinstance(secrets, str) else list(secrets)
        if not listed:
            raise ValueError("TokenCipher needs at least one secret")
        self._aeads = [AESGCM(_derive(secret)) for secret in listed]

    def seal(self, plaintext: bytes, bound_to: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aeads[0].encrypt(nonce, plaintext, bound_to.encode())

    def open(self, sealed: bytes, bound_to: str) -> bytes:
        return self.open_any(sealed, bound_to).plaintext

    def open_any(self, sealed: bytes, bound_to: str) -> Opened:
        if len(sealed) < 1 + _NONCE_BYTES or sealed[:1] != _VERSION:
            raise UndecryptableValue("unknown format")
        nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        for position, aead in enumerate(self._aeads):
            try:
                plaintext = aead.decrypt(nonce, ciphertext, bound_to.encode())
            except InvalidTag:
                continue
            return Opened(plaintext, stale=position > 0)
        raise UndecryptableValue("authentication failed")


def _derive(secret: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"forest-approvals links v1"
    ).derive(secret.encode())
