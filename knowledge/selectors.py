"""Tenant-scoped reads. Every function takes the tenant first; other tenants' rows are NotFound.

Documents are also scoped by person: a personal document (``scope="personal"``) is visible only
to its owner, as in retrieval. ``user`` is the acting user; ``None`` (an API key, which acts for
the whole tenant) sees tenant-scope documents only. Another user's personal document is
NotFound, exactly like another tenant's.

Ingest jobs follow their document: ``job_list``/``job_get`` only return jobs of documents the
acting user may see (``_visible``, the one place the rule lives, joined through the job's
document). Operator code acts for the whole tenant and does not read through these selectors:
the management commands (``kb_reindex``, ``kb_reap``), the worker and the reaper work on the
models directly, as anyone with shell access to the deployment can.
"""

from __future__ import annotations

from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.http import FileResponse, HttpResponse
from django.http.response import HttpResponseBase

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


def document_visibility(*, user: Any, via: str = "") -> Q:
    """The one owner rule, for any tenant: tenant-scope documents, plus ``user``'s own personal
    ones (``None``, an API key: tenant-scope only). ``via`` is the lookup path from another
    model to its document (for a job, ``"document__"``), so related rows follow their document
    through a join, not a subquery. The pages, the API and the Django admin all filter by it."""
    visible = Q(**{f"{via}scope": models.DocScope.TENANT})
    user_id = getattr(user, "pk", None)
    if user_id is not None:
        visible |= Q(**{f"{via}scope": models.DocScope.PERSONAL, f"{via}owner_id": user_id})
    return visible


def _visible(*, tenant: models.Tenant, user: Any, via: str = "") -> Q:
    """``document_visibility`` within one tenant."""
    return document_visibility(user=user, via=via) & Q(**{f"{via}tenant": tenant})


def _visible_documents(*, tenant: models.Tenant, user: Any) -> QuerySet[models.Document]:
    return models.Document.objects.filter(_visible(tenant=tenant, user=user))


def document_presence(*, tenant: models.Tenant, user: Any, document_ids: set[int]) -> dict[int, bool]:
    """Of these ids, the tenant's documents that still exist, each with whether ``user`` may
    open it (one query). For records that name documents which may since have gone."""
    visible = ExpressionWrapper(_visible(tenant=tenant, user=user), output_field=BooleanField())
    rows = (
        models.Document.objects.filter(tenant=tenant, pk__in=document_ids)
        .annotate(visible=visible).values_list("pk", "visible")
    )
    return dict(rows)


def document_list(
    *,
    tenant: models.Tenant,
    user: Any = None,
    kind: str | None = None,
    status: str | None = None,
    search: str | None = None,
) -> QuerySet[models.Document]:
    qs = _visible_documents(tenant=tenant, user=user)
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(ingest_error__icontains=search))
    return qs


def document_get(*, tenant: models.Tenant, user: Any = None, document_id: int) -> models.Document:
    doc = _visible_documents(tenant=tenant, user=user).filter(pk=document_id).first()
    if doc is None:
        raise NotFound("document not found")
    return doc


def document_chunks(*, tenant: models.Tenant, document: models.Document) -> QuerySet[models.Chunk]:
    """The chunks of a document the caller already got through ``document_get``, without the
    embedding and search vector (large, and no page or endpoint shows them)."""
    return (
        models.Chunk.objects.filter(tenant=tenant, document=document)
        .defer("embedding", "search_vector")
        .order_by("chunk_index")
    )


def document_download(*, document: models.Document) -> HttpResponseBase:
    """The document's content as a download: its stored file, else its inline text.

    The one place both the browser page and the API build this response, so both send the same
    security headers: the browser must never render the user's bytes as a page of this site.
    """
    response: HttpResponseBase
    if document.file:
        try:
            handle = document.file.open("rb")
        except FileNotFoundError as exc:
            raise NotFound("the stored file is missing") from exc
        response = FileResponse(handle, as_attachment=True, filename=document.name,
                                content_type=document.content_type)
    elif document.inline_text:
        response = HttpResponse(document.inline_text, content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = "attachment; filename=document.txt"
    else:
        raise NotFound("this document has no stored content")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def job_list(
    *,
    tenant: models.Tenant,
    user: Any = None,
    status: str | None = None,
    document_id: int | None = None,
) -> QuerySet[models.IngestJob]:
    """Jobs of the documents ``user`` may see (``None``: an API key, tenant-scope documents)."""
    qs = models.IngestJob.objects.filter(
        _visible(tenant=tenant, user=user, via="document__"), tenant=tenant
    ).select_related("document")
    if status:
        qs = qs.filter(status=status)
    if document_id:
        qs = qs.filter(document_id=document_id)
    return qs


def job_get(*, tenant: models.Tenant, user: Any = None, job_id: int) -> models.IngestJob:
    """A job of a document ``user`` may see; any other job is NotFound, like another tenant's."""
    job = job_list(tenant=tenant, user=user).filter(pk=job_id).first()
    if job is None:
        raise NotFound("ingest job not found")
    return job


def apikey_list(*, tenant: models.Tenant) -> QuerySet[models.ApiKey]:
    return models.ApiKey.objects.filter(tenant=tenant).select_related("created_by")


def apikey_get(*, tenant: models.Tenant, key_id: int) -> models.ApiKey:
    key = models.ApiKey.objects.filter(tenant=tenant, pk=key_id).first()
    if key is None:
        raise NotFound("API key not found")
    return key
