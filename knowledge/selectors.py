"""Tenant-scoped reads. Every function takes the tenant first; other tenants' rows are NotFound."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from kbsite.errors import NotFound
from knowledge import models


def tenant_get_by_slug(*, slug: str) -> models.Tenant:
    try:
        return models.Tenant.objects.get(slug=slug)
    except models.Tenant.DoesNotExist as exc:
        raise NotFound(f"tenant {slug!r} not found") from exc


def tenants_for_user(*, user: Any) -> QuerySet[models.Tenant]:
    if getattr(user, "is_superuser", False):
        return models.Tenant.objects.all()
    return models.Tenant.objects.filter(memberships__user_id=user.pk).distinct()


def membership_get(*, tenant: models.Tenant, user: Any) -> models.Membership | None:
    return models.Membership.objects.filter(tenant=tenant, user_id=user.pk).first()


def document_list(
    *,
    tenant: models.Tenant,
    kind: str | None = None,
    status: str | None = None,
    search: str | None = None,
    source_kind: str | None = None,
) -> QuerySet[models.Document]:
    qs = models.Document.objects.filter(tenant=tenant)
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    if source_kind:
        qs = qs.filter(source_kind=source_kind)
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(ingest_error__icontains=search))
    return qs


def document_get(*, tenant: models.Tenant, document_id: int, for_update: bool = False) -> models.Document:
    qs = models.Document.objects.filter(tenant=tenant, pk=document_id)
    if for_update:
        qs = qs.select_for_update()
    doc = qs.first()
    if doc is None:
        raise NotFound("document not found")
    return doc


def document_chunks(*, tenant: models.Tenant, document_id: int) -> QuerySet[models.Chunk]:
    document_get(tenant=tenant, document_id=document_id)
    return models.Chunk.objects.filter(tenant=tenant, document_id=document_id).order_by("chunk_index")


def job_list(
    *, tenant: models.Tenant, status: str | None = None, document_id: int | None = None
) -> QuerySet[models.IngestJob]:
    qs = models.IngestJob.objects.filter(tenant=tenant).select_related("document")
    if status:
        qs = qs.filter(status=status)
    if document_id:
        qs = qs.filter(document_id=document_id)
    return qs


def job_get(*, tenant: models.Tenant, job_id: int) -> models.IngestJob:
    job = models.IngestJob.objects.filter(tenant=tenant, pk=job_id).select_related("document").first()
    if job is None:
        raise NotFound("ingest job not found")
    return job


def apikey_list(*, tenant: models.Tenant) -> QuerySet[models.ApiKey]:
    return models.ApiKey.objects.filter(tenant=tenant)


def apikey_get(*, tenant: models.Tenant, key_id: int) -> models.ApiKey:
    key = models.ApiKey.objects.filter(tenant=tenant, pk=key_id).first()
    if key is None:
        raise NotFound("API key not found")
    return key
