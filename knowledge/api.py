"""KB management API (DESIGN §6): /api/v1/kb/… Thin: auth, then a selector or a service.

A logged-in member also sees their own personal documents; an API key acts for the whole
tenant and sees tenant-scope documents only (``selectors``); ingest jobs follow their document.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from ninja import File, Form, Query, Router, Status
from ninja.files import UploadedFile

from kbsite.errors import Forbidden
from kbsite.pagination import Page, paginate
from knowledge import auth, ingestion, models, schemas, selectors, services
from knowledge.snapshots import services as snapshot_services

router = Router(tags=["KB files"])

# Who may call what comes from auth.RULES, the table the pages use too.
read_auth = auth.TenantAuth(action=auth.Action.READ_FILES)
write_auth = auth.TenantAuth(action=auth.Action.MANAGE_FILES)
jobs_auth = auth.TenantAuth(action=auth.Action.READ_JOBS)


class FileFilters(Page):
    kind: models.Kind | None = None
    status: models.DocStatus | None = None
    search: str | None = None


class JobFilters(Page):
    status: models.JobStatus | None = None
    document: int | None = None


def _document(request: HttpRequest, document_id: int) -> models.Document:
    p = auth.principal(request)
    return selectors.document_get(tenant=p.tenant, user=p.user, document_id=document_id)


def _job(request: HttpRequest, job_id: int) -> models.IngestJob:
    p = auth.principal(request)
    return selectors.job_get(tenant=p.tenant, user=p.user, job_id=job_id)


@router.post("/files", response={201: schemas.UploadOut, 200: schemas.UploadOut}, auth=read_auth)
def upload_file(
    request: HttpRequest,
    file: File[UploadedFile],
    kind: Form[models.Kind] = models.Kind.KNOWLEDGE,
    auto_ingest: Form[bool] = True,
    scope: Form[models.DocScope] = models.DocScope.TENANT,
) -> Status:
    """``scope=personal`` (DESIGN §6): a member's own document, from their session only."""
    p = auth.principal(request)
    if scope == models.DocScope.PERSONAL:
        if p.user is None or not auth.allows(p, auth.Action.UPLOAD_PERSONAL):
            raise Forbidden("a personal document is uploaded from a member's own session, not with an API key")
    elif not auth.allows(p, auth.Action.MANAGE_FILES):
        raise Forbidden("only a tenant admin (or a manage key) may upload documents shared with the tenant")
    result = services.document_upload(
        tenant=p.tenant, fileobj=file, filename=file.name or "", kind=kind, scope=scope,
        owner=p.user if scope == models.DocScope.PERSONAL else None, auto_ingest=auto_ingest, created_by=p.user,
    )
    doc: Any = result.document
    doc.duplicate = result.duplicate
    doc.ingestion = result.ingestion.outcome if result.ingestion else None
    return Status(200 if result.duplicate else 201, doc)


@router.get("/files", response=schemas.DocumentPage, auth=read_auth)
def list_files(request: HttpRequest, filters: Query[FileFilters]) -> dict:
    p = auth.principal(request)
    qs = selectors.document_list(
        tenant=p.tenant, user=p.user, kind=filters.kind, status=filters.status, search=filters.search
    )
    return paginate(qs, filters)


@router.get("/files/{document_id}", response=schemas.DocumentOut, auth=read_auth)
def get_file(request: HttpRequest, document_id: int) -> models.Document:
    return _document(request, document_id)


@router.get("/files/{document_id}/download", auth=read_auth)
def download_file(request: HttpRequest, document_id: int) -> HttpResponseBase:
    return selectors.document_download(document=_document(request, document_id))


@router.delete("/files/{document_id}", response={204: None}, auth=read_auth)
def delete_file(request: HttpRequest, document_id: int) -> Status:
    """An admin (or a manage key) deletes the tenant's documents; a member their own personal
    uploads. 409 for a snapshot: it is generated (edit the business profile instead)."""
    p = auth.principal(request)
    doc = _document(request, document_id)
    own = (p.user is not None and doc.scope == models.DocScope.PERSONAL and doc.owner_id == p.user.pk
           and doc.source_kind == models.SourceKind.UPLOAD)
    if not own and not auth.allows(p, auth.Action.MANAGE_FILES):
        raise Forbidden("only a tenant admin (or a manage key) may delete documents shared with the tenant")
    snapshot_services.ensure_editable(doc)
    services.document_delete(document=doc)
    return Status(204, None)


@router.get("/files/{document_id}/chunks", response=schemas.ChunkPage, auth=read_auth)
def file_chunks(request: HttpRequest, document_id: int, page: Query[Page]) -> dict:
    p = auth.principal(request)
    doc = selectors.document_get(tenant=p.tenant, user=p.user, document_id=document_id)
    return paginate(selectors.document_chunks(tenant=p.tenant, document=doc), page)


@router.post("/files/{document_id}/ingest", response={202: schemas.IngestOut}, auth=write_auth)
def ingest_file(request: HttpRequest, document_id: int, body: schemas.IngestIn | None = None) -> Status:
    doc = _document(request, document_id)
    force = bool(body and body.force) or request.GET.get("force") in ("1", "true", "yes")
    outcome = ingestion.request_ingestion(document=doc, trigger=models.Trigger.API, force=force)
    return Status(202, outcome)


@router.get("/ingest-jobs", response=schemas.JobPage, auth=jobs_auth, tags=["Ingest jobs"])
def list_jobs(request: HttpRequest, filters: Query[JobFilters]) -> dict:
    p = auth.principal(request)
    qs = selectors.job_list(tenant=p.tenant, user=p.user, status=filters.status, document_id=filters.document)
    return paginate(qs, filters)


@router.get("/ingest-jobs/{job_id}", response=schemas.JobOut, auth=jobs_auth, tags=["Ingest jobs"])
def get_job(request: HttpRequest, job_id: int) -> models.IngestJob:
    return _job(request, job_id)


@router.post("/ingest-jobs/{job_id}/retry", response={202: schemas.IngestOut}, auth=write_auth, tags=["Ingest jobs"])
def retry_job(request: HttpRequest, job_id: int) -> Status:
    job = _job(request, job_id)
    outcome = ingestion.retry_job(job=job)
    return Status(202, outcome)
