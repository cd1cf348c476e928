"""Purge: documents removed for good — their chunks, jobs and rows in one transaction, their
stored files after commit, and (through ``signals.documents_purged``) the recall audit text
of removed personal content redacted by the audit app. Every purge returns a receipt.

Entry points (services, keyword-only):

* ``documents_purge(tenant=, documents=<queryset>, reason=)`` — any set of one tenant's
  documents (one document, a connection's, a source's: pass the queryset);
* ``document_purge(document=, reason=)``;
* ``user_purge(user=, tenant=None, reason=)`` — the user's personal documents in one tenant
  or in all of them;
* ``tenant_purge(tenant=, reason=)`` and ``tenant_delete(tenant=, reason=)`` (purge, then
  the tenant row and everything that cascades from it).

Deleting a user or a tenant by any path (the Django admin, ``user.delete()``) goes through
the purge too: ``knowledge.apps`` connects ``pre_delete`` receivers (``on_user_deleting``,
``on_tenant_deleting``). Files no row refers to any more (a crash between commit and the
file deletion, a file written for a row that never committed) are removed by
``sweep_files`` — only once older than ``KB_FILE_SWEEP_GRACE_MINUTES``, because an upload
writes its file before its row commits.
"""

from __future__ import annotations

import datetime as dt
import logging
import posixpath
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.core.files.storage import Storage, default_storage
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from knowledge import models, policy_cache, signals

logger = logging.getLogger(__name__)

FILE_PREFIX = "kb"  # Document.file names are kb/<tenant id>/<random hex> (models.document_upload_to)


@dataclass(frozen=True)
class PurgeReceipt:
    documents: int
    chunks: int
    files: int  # stored files deleted after commit
    audit_rows_redacted: int
    finished_at: dt.datetime

    def __add__(self, other: PurgeReceipt) -> PurgeReceipt:
        return PurgeReceipt(
            documents=self.documents + other.documents, chunks=self.chunks + other.chunks,
            files=self.files + other.files, audit_rows_redacted=self.audit_rows_redacted + other.audit_rows_redacted,
            finished_at=max(self.finished_at, other.finished_at),
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["finished_at"] = self.finished_at.isoformat()
        return data


def _empty() -> PurgeReceipt:
    return PurgeReceipt(documents=0, chunks=0, files=0, audit_rows_redacted=0, finished_at=timezone.now())


def documents_purge(
    *, tenant: models.Tenant | int, documents: QuerySet[models.Document], reason: str
) -> PurgeReceipt:
    """Remove ``documents`` (only those of ``tenant``) with their chunks and jobs in one
    transaction; their files are deleted when it commits. ``reason`` goes to the log."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    with transaction.atomic():
        rows = list(
            documents.filter(tenant_id=tenant_id)
            .select_for_update(of=("self",))
            .order_by("pk")
            .values_list("pk", "scope", "kind", "file")
        )
        if not rows:
            return _empty()
        # Attachments go with their message (Document.parent is RESTRICT), at any depth.
        seen = {pk for pk, _, _, _ in rows}
        frontier = set(seen)
        while frontier:
            children = list(
                models.Document.objects.filter(tenant_id=tenant_id, parent_id__in=frontier)
                .exclude(pk__in=seen).select_for_update(of=("self",))
                .values_list("pk", "scope", "kind", "file")
            )
            rows += children
            frontier = {pk for pk, _, _, _ in children}
            seen |= frontier
        ids = [pk for pk, _, _, _ in rows]
        personal_ids = [pk for pk, scope, _, _ in rows if scope == models.DocScope.PERSONAL]
        files = [name for _, _, _, name in rows if name]
        chunks, _ = models.Chunk.objects.filter(tenant_id=tenant_id, document_id__in=ids).delete()
        models.Document.objects.filter(tenant_id=tenant_id, pk__in=ids).delete()
        if any(kind == models.Kind.POLICY for _, _, kind, _ in rows):
            policy_cache.bump(tenant_id=tenant_id)
        redacted = 0
        for _receiver, response in signals.documents_purged.send(
            sender=models.Document, tenant_id=tenant_id, document_ids=ids, personal_document_ids=personal_ids
        ):
            if isinstance(response, int):
                redacted += response
        if files:
            transaction.on_commit(lambda: _delete_files(files))
    logger.info(
        "purged %s documents (%s chunks, %s files) of tenant %s: %s", len(ids), chunks, len(files), tenant_id, reason
    )
    return PurgeReceipt(
        documents=len(ids), chunks=chunks, files=len(files), audit_rows_redacted=redacted,
        finished_at=timezone.now(),
    )


def document_purge(*, document: models.Document, reason: str) -> PurgeReceipt:
    return documents_purge(
        tenant=document.tenant_id, documents=models.Document.objects.filter(pk=document.pk), reason=reason
    )


def user_purge(*, user: Any, tenant: models.Tenant | None = None, reason: str) -> PurgeReceipt:
    """Remove the user's personal documents in ``tenant`` — or, without a tenant, every
    document they own in every tenant (all of which would cascade with the user row)."""
    owned = models.Document.objects.filter(owner_id=user.pk)
    if tenant is not None:
        owned = owned.filter(tenant_id=tenant.pk, scope=models.DocScope.PERSONAL)
    receipt = _empty()
    with transaction.atomic():
        for tenant_id in sorted(set(owned.values_list("tenant_id", flat=True))):
            receipt = receipt + documents_purge(tenant=tenant_id, documents=owned, reason=reason)
    return receipt


def tenant_purge(*, tenant: models.Tenant, reason: str) -> PurgeReceipt:
    """Remove every document of the tenant (the tenant row stays)."""
    return documents_purge(tenant=tenant, documents=models.Document.objects.all(), reason=reason)


def tenant_delete(*, tenant: models.Tenant, reason: str) -> PurgeReceipt:
    """Delete the tenant and everything it owns; its files go after commit."""
    with transaction.atomic():
        receipt = tenant_purge(tenant=tenant, reason=reason)
        tenant.delete()  # the pre_delete receiver finds nothing left to purge
    return receipt


# --- pre_delete receivers (connected in knowledge.apps) ------------------------------------------


def on_user_deleting(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A user is being deleted (admin, shell, erasure): purge their documents in every tenant
    first, so their files go and their personal content's audit text is redacted."""
    user_purge(user=instance, reason="user deleted")


def on_tenant_deleting(sender: Any, instance: models.Tenant, **kwargs: Any) -> None:
    tenant_purge(tenant=instance, reason="tenant deleted")


# --- Files ----------------------------------------------------------------------------------------


def _storage() -> Storage:
    field = models.Document._meta.get_field("file")
    return field.storage  # type: ignore[attr-defined, no-any-return]


def _delete_files(names: Iterable[str]) -> None:
    storage = _storage()
    for name in names:
        try:
            storage.delete(name)
        except Exception:  # noqa: BLE001 — the sweep removes what is left
            logger.warning("could not delete stored file %s; the file sweep will", name, exc_info=True)


@dataclass(frozen=True)
class SweepResult:
    scanned: int
    deleted: int
    kept_young: int  # orphans younger than the grace period (may be an upload in flight)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def sweep_files(*, now: dt.datetime | None = None, grace_minutes: int | None = None,
                dry_run: bool = False) -> SweepResult:
    """Delete stored files that no document refers to and that are older than the grace period."""
    storage = _storage() or default_storage
    now = now or timezone.now()
    grace = dt.timedelta(minutes=settings.KB_FILE_SWEEP_GRACE_MINUTES if grace_minutes is None else grace_minutes)
    scanned = deleted = young = 0
    if not storage.exists(FILE_PREFIX):
        return SweepResult(0, 0, 0)
    tenant_dirs, loose = storage.listdir(FILE_PREFIX)
    groups: list[tuple[int | None, list[str]]] = [(None, [posixpath.join(FILE_PREFIX, f) for f in loose])]
    for tdir in tenant_dirs:
        base = posixpath.join(FILE_PREFIX, tdir)
        _subdirs, names = storage.listdir(base)
        tenant_id = int(tdir) if tdir.isdigit() else None
        groups.append((tenant_id, [posixpath.join(base, n) for n in names]))
    for tenant_id, names in groups:
        if not names:
            continue
        referenced = set(
            models.Document.objects.filter(tenant_id=tenant_id, file__in=names).values_list("file", flat=True)
        ) if tenant_id is not None else set(
            models.Document.objects.filter(file__in=names).values_list("file", flat=True)
        )
        for name in names:
            scanned += 1
            if name in referenced:
                continue
            try:
                modified = storage.get_modified_time(name)
            except (FileNotFoundError, NotImplementedError):
                continue
            if timezone.is_naive(modified):
                modified = timezone.make_aware(modified, dt.UTC)
            if now - modified < grace:
                young += 1
                continue
            # Re-check just before deleting: a row may have committed since the listing.
            if models.Document.objects.filter(file=name).exists():
                continue
            if not dry_run:
                storage.delete(name)
            deleted += 1
    if deleted:
        logger.info("file sweep: %s orphaned stored files deleted", deleted)
    return SweepResult(scanned=scanned, deleted=deleted, kept_young=young)
