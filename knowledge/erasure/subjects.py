"""Naming a subject without naming it: an HMAC of its id under the erasure key, and finding
the user an operator or an admin means."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q

from kbsite.errors import InvalidInput, NotFound
from knowledge import models


def _key() -> bytes:
    configured = getattr(settings, "KB_ERASURE_KEY", "")
    if configured:
        return str(configured).encode()
    # Derived, so that a deployment without KB_ERASURE_KEY still never uses SECRET_KEY itself.
    return hmac.new(settings.SECRET_KEY.encode(), b"kb.erasure.subject-key", hashlib.sha256).digest()


def key_id() -> str:
    """A short fingerprint of the key, so a receipt says which key its hash was made with."""
    return hashlib.sha256(b"kb.erasure.key-id:" + _key()).hexdigest()[:12]


def subject_hash(*, user_id: int | None = None, tenant_id: int | None = None) -> str:
    """``HMAC-SHA256(key, "user:<id>")`` or ``"tenant:<id>"``: after a restore from backup, the
    erased subjects can be found again by hashing ids, without a plain id on any receipt."""
    if (user_id is None) == (tenant_id is None):
        raise ValueError("a subject is a user or a tenant")
    value = f"user:{user_id}" if user_id is not None else f"tenant:{tenant_id}"
    return hmac.new(_key(), value.encode(), hashlib.sha256).hexdigest()


def user_find(*, identifier: str, tenant: models.Tenant | None = None, allow_id: bool = False) -> Any:
    """The user an identifier means: an id (``allow_id``), else a username, else an e-mail
    address (case-insensitive; refused when several users have it). With ``tenant``, only
    members of that tenant are found: anyone else is NotFound, like a user who does not exist."""
    identifier = (identifier or "").strip()
    if not identifier:
        raise InvalidInput("name the user: an id, a username or an e-mail address")
    users = get_user_model().objects.all()
    if tenant is not None:
        users = users.filter(kb_memberships__tenant=tenant)
    if allow_id and identifier.isdigit():
        found = users.filter(pk=int(identifier)).first()
        if found is not None:
            return found
    found = users.filter(username=identifier).first()
    if found is not None:
        return found
    by_email = list(users.filter(Q(email__iexact=identifier) & ~Q(email=""))[:2])
    if len(by_email) > 1:
        raise InvalidInput("several users have this e-mail address: name the user by username")
    if by_email:
        return by_email[0]
    raise NotFound("no such user" if tenant is None else "no such member in this tenant")
