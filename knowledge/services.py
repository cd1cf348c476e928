"""Writes: tenants, memberships, API keys, KB file upload and delete.

Every write is one function in one transaction. Ingestion has its own module
(knowledge.ingestion) because it is the one way chunks are written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from kbsite.errors import Conflict, InvalidInput, TooLarge, UnsupportedMedia
from knowledge import apikeys, filetypes, ingestion, models, names, purge

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


@dataclass
class UploadResult:
    document: models.Document
    duplicate: bool
    ingestion: ingestion.IngestionOutcome | None


def _read_limited(fileobj: IO[bytes], limit: int) -> bytes:
    data = fileobj.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"file is larger than the {settings.KB_MAX_UPLOAD_MB} MB upload limit")
    return data


def document_upload(
    *,
    tenant: models.Tenant,
    fileobj: IO[bytes],
    filename: str,
    kind: str = models.Kind.KNOWLEDGE,
    auto_ingest: bool = True,
    created_by: Any = None,
    trigger: str = models.Trigger.UPLOAD,
) -> UploadResult:
    """Validate and store an uploaded file; the same bytes for the same tenant are a duplicate."""
    if kind not in models.Kind.values:
        raise InvalidInput("kind must be 'policy' or 'knowledge'")
    limit = settings.KB_MAX_UPLOAD_MB * 1024 * 1024
    size = getattr(fileobj, "size", None)
    if size is not None and size > limit:
        raise TooLarge(f"file is larger than the {settings.KB_MAX_UPLOAD_MB} MB upload limit")
    data = _read_limited(fileobj, limit)
    if not data.strip():
        raise InvalidInput("the file is empty")
    try:
        detected = filetypes.detect(data, filename)
    except filetypes.UnsupportedFile as exc:
        raise UnsupportedMedia(exc.reason) from exc
    sha = hashlib.sha256(data).hexdigest()

    existing = models.Document.objects.filter(
        tenant=tenant, source_kind=models.SourceKind.UPLOAD, content_sha256=sha
    ).first()
    if existing is not None:
        return UploadResult(document=existing, duplicate=True, ingestion=None)

    display = names.display_name(filename, fallback=f"upload.{detected.file_type}")
    try:
        with transaction.atomic():
            doc = models.Document(
                tenant=tenant,
                name=display,
                kind=kind,
                source_kind=models.SourceKind.UPLOAD,
                content_type=detected.content_type,
                file_type=detected.file_type,
                size_bytes=len(data),
                content_sha256=sha,
                status=models.DocStatus.UPLOADED,
                created_by=created_by if getattr(created_by, "pk", None) else None,
            )
            doc.file.save(detected.file_type, ContentFile(data), save=False)
            doc.save()
            doc.source_id = str(doc.pk)
            doc.save(update_fields=["source_id"])
            outcome = None
            if auto_ingest:
                outcome = ingestion.request_ingestion(document=doc, trigger=trigger)
    except IntegrityError:
        # A concurrent upload of the same bytes won the race: answer with its document.
        existing = models.Document.objects.get(
            tenant=tenant, source_kind=models.SourceKind.UPLOAD, content_sha256=sha
        )
        return UploadResult(document=existing, duplicate=True, ingestion=None)
    doc.refresh_from_db()
    return UploadResult(document=doc, duplicate=False, ingestion=outcome)


def document_delete(*, document: models.Document) -> None:
    """Delete a document; its chunks and jobs go in the same transaction, its file after
    commit, its personal content's audit text is redacted (``knowledge.purge``)."""
    purge.document_purge(document=document, reason="document deleted")
