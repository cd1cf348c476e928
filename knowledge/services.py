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
from knowledge import apikeys, documents, models, purge

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


def tenant_set_retrieval(*, tenant: models.Tenant, enabled: bool | None) -> models.Tenant:
    """The tenant's retrieval override: True/False, or None to follow KB_RETRIEVAL_ENABLED."""
    tenant.retrieval_enabled = enabled
    tenant.save(update_fields=["retrieval_enabled"])
    return tenant


_UNSET: Any = object()


def neutralisation_settings_update(
    *,
    tenant: models.Tenant,
    locale: str = _UNSET,
    source_kinds: dict[str, bool] = _UNSET,
    person_names: bool = _UNSET,
    published_contacts: list[str] = _UNSET,
) -> models.NeutralisationSettings:
    """Create or change the tenant's PII neutralisation settings (only the arguments given).

    ``source_kinds`` overrides the default per source kind (``{"upload": True}``);
    ``published_contacts`` is the business's own phone / e-mail / address, never
    neutralised (the business profile fills it). Documents already ingested keep their
    chunks until they are re-ingested."""
    from knowledge.ingestion import neutralise

    with transaction.atomic():
        row, _ = models.NeutralisationSettings.objects.select_for_update().get_or_create(tenant=tenant)
        if locale is not _UNSET:
            error = neutralise.locale_error(locale)
            if error:
                raise InvalidInput(error)
            row.locale = locale.strip()
        if source_kinds is not _UNSET:
            unknown = sorted(set(source_kinds) - set(models.SourceKind.values))
            if unknown or not all(isinstance(v, bool) for v in source_kinds.values()):
                raise InvalidInput("source_kinds maps source kinds to true or false")
            row.source_kinds = dict(source_kinds)
        if person_names is not _UNSET:
            row.person_names = bool(person_names)
        if published_contacts is not _UNSET:
            row.published_contacts = [v.strip() for v in published_contacts if v and v.strip()]
        row.save()
    return row


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
    """Delete a document; its chunks and jobs go in the same transaction, its file after
    commit, its personal content's audit text is redacted (``knowledge.purge``)."""
    purge.document_purge(document=document, reason="document deleted")
