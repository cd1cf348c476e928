"""API key format, hashing and verification. Keys are random, so SHA-256 is the right hash:
it is fast enough for every retrieval call and a leaked hash cannot be reversed."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.db.models import Q
from django.utils import timezone

from knowledge import models

KEY_PREFIX = "kb_"
_LAST_USED_EVERY = dt.timedelta(seconds=60)


def generate() -> tuple[str, str, str]:
    """Return (plaintext key, lookup prefix, secret hash)."""
    prefix = secrets.token_hex(5)
    secret = secrets.token_urlsafe(32)
    plaintext = f"{KEY_PREFIX}{prefix}_{secret}"
    return plaintext, prefix, hash_key(plaintext)


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def authenticate(plaintext: str) -> models.ApiKey | None:
    """The active key matching ``plaintext``, or None. Compares hashes in constant time."""
    if not plaintext.startswith(KEY_PREFIX):
        return None
    prefix, sep, _ = plaintext[len(KEY_PREFIX) :].partition("_")
    if not sep or len(prefix) != 10:
        return None
    key = models.ApiKey.objects.select_related("tenant").filter(prefix=prefix, revoked_at__isnull=True).first()
    expected = key.secret_hash if key else hash_key("x")
    if not hmac.compare_digest(expected, hash_key(plaintext)) or key is None:
        return None
    _touch(key)
    return key


def _touch(key: models.ApiKey) -> None:
    # A write per request would cost latency on the retrieval hot path: at most once a minute.
    now = timezone.now()
    if key.last_used_at and now - key.last_used_at < _LAST_USED_EVERY:
        return
    models.ApiKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - _LAST_USED_EVERY)
    ).update(last_used_at=now)
    key.last_used_at = now
