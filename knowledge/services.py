"""Writes: tenants, memberships, API keys, KB file upload and delete.

Every write is one function in one transaction. Ingestion has its own module
(knowledge.ingestion) because it is the one way chunks are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from kbsite.errors import Conflict, InvalidInput
from knowledge import apikeys, documents, models, policy_cache

VALID_SCOPES = {s.value for s in models.Scope}


# --- Tenants and members ----------------------------------------------------------------


def tenant_create(*, slug: str, name: str) -> models.Tenant:
    clean = slugify(slug)
    if not clean or clean != slug:
        raise InvalidInput("slug must be lowercase letters, digits and hyphens")
    try:
        with transaction.atomic():
            return models.Tenant.objects.create(slug=clean, name=name.strip() or clean)
    except IntegrityError as exc:
        raise Conflict(f"tenant {slug!r} already exists") from exc


def membership_set(*, tenant: models.Tenant, user: Any, role: str) -> models.Membership:
    if role not in models.Role.values:
        raise InvalidInput(f"role must be one of {', '.join(models.Role.values)}")
    membership, _ = models.Membership.objects.update_or_create(
        tenant=tenant, user=user, defaults={"role": role}
    )
    return membership


def tenant_select(*, user: Any, tenant: models.Tenant) -> None:
    """Remember the tenant a user switched to (the switcher's choice survives logins)."""
    models.Membership.objects.filter(user_id=user.pk, tenant=tenant).update(last_selected_at=timezone.now())


# --- API keys -----------------------------------------------------------------------------


@dataclass
class CreatedKey:
    key: models.ApiKey
    plaintext: str


def apikey_create(
    *, tenant: models.Tenant, scopes: list[str], name: str = "", created_by: Any = None
) -> CreatedKey:
    scopes = sorted({s.strip() for s in scopes if s.strip()})
    if not scopes or not set(scopes) <= VALID_SCOPES:
        raise InvalidInput(f"scopes must be a non-empty subset of {', '.join(sorted(VALID_SCOPES))}")
    plaintext, prefix, secret_hash = apikeys.generate()
    key = models.ApiKey.objects.create(
        tenant=tenant,
        name=name.strip()[:100],
        prefix=prefix,
        secret_hash=secret_hash,
        scopes=scopes,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    return CreatedKey(key=key, plaintext=plaintext)


def apikey_revoke(*, key: models.ApiKey) -> models.ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


# --- KB files -------------------------------------------------------------------------------


# Document writes live in ``knowledge.documents``; uploads keep their name here for callers.
document_upload = documents.document_upload


def document_delete(*, document: models.Document) -> None:
    """Delete a document; its chunks and jobs go with it (FK cascade, same transaction), its
    file after commit."""
    storage_name = document.file.name if document.file else ""
    storage = document.file.storage if document.file else None
    was_policy = document.kind == models.Kind.POLICY
    tenant_id = document.tenant_id
    with transaction.atomic():
        for attachment in models.Document.objects.filter(tenant_id=tenant_id, parent_id=document.pk):
            document_delete(document=attachment)  # their files too (parent is RESTRICT)
        document.delete()
        if was_policy:
            policy_cache.bump(tenant_id=tenant_id)
        if storage_name and storage is not None:
            transaction.on_commit(lambda: storage.delete(storage_name))
