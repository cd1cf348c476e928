"""Tokens at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a MultiFernet of the keys in
``KB_TOKEN_KEYS`` (newest first). The newest key encrypts; every listed key decrypts, so keys
rotate by putting a new one first and running ``manage.py kb_tokens rotate``.

Each ciphertext is bound to a context (the row it belongs to): decrypting it under another
context fails, so a ciphertext copied into another connection's row is useless there.
Plaintext never leaves this module except as the return value of ``decrypt``.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_SEPARATOR = b"\x00"


class TokenDecryptError(Exception):
    """A ciphertext no configured key opens, or one bound to another row."""


def key_id(key: str) -> str:
    """A short, non-secret name of a key (stored on each row to find rows to rotate)."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


@lru_cache(maxsize=8)
def _fernets(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("KB_TOKEN_KEYS is empty")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "KB_TOKEN_KEYS must be Fernet keys (url-safe base64 of 32 bytes), comma-separated"
        ) from exc


def _keys() -> tuple[str, ...]:
    return tuple(settings.KB_TOKEN_KEYS)


def current_key_id() -> str:
    return key_id(_keys()[0])


def encrypt(plaintext: str, *, context: str) -> bytes:
    """Encrypt ``plaintext`` with the newest key, bound to ``context``."""
    data = context.encode() + _SEPARATOR + plaintext.encode()
    return _fernets(_keys()).encrypt(data)


def decrypt(ciphertext: bytes | memoryview, *, context: str) -> str:
    try:
        data = _fernets(_keys()).decrypt(bytes(ciphertext))
    except InvalidToken as exc:
        raise TokenDecryptError("no configured token key opens this ciphertext") from exc
    bound, _, plaintext = data.partition(_SEPARATOR)
    if bound != context.encode():
        raise TokenDecryptError("ciphertext belongs to another row")
    return plaintext.decode()


def rotate(ciphertext: bytes | memoryview) -> bytes:
    """Re-encrypt with the newest key (context and plaintext unchanged)."""
    try:
        return _fernets(_keys()).rotate(bytes(ciphertext))
    except InvalidToken as exc:
        raise TokenDecryptError("no configured token key opens this ciphertext") from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()
