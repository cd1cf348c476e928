"""Browser pages for tenant admins and support staff (Django admin look + htmx).

Thin views: the tenant always comes from the logged-in user's memberships (``tenant_view``),
reads go through selectors (other tenants' ids are 404), and every write goes through the
same services as the API.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from kbsite.errors import ServiceError
from kbsite.pages import KbContext, forbidden, is_htmx, render_page, safe_next, tenant_view
from knowledge import auth, checks, flags, forms, ingestion, models, retrieval, selectors, services
from knowledge.ingestion import neutralise
from knowledge.snapshots import services as snapshot_services

IN_FLIGHT_DOC = frozenset({models.DocStatus.QUEUED, models.DocStatus.INGESTING})
RETRYABLE_JOB = frozenset({models.JobStatus.FAILED, models.JobStatus.SKIPPED})
STAGE_ORDER = {name: i for i, name in enumerate(("read", "extract", "neutralise", "chunk", "embed", "store"))}
FILES_PER_PAGE = 50
CHUNKS_PER_PAGE = 25
JOBS_PER_PAGE = 50


# --- Tenant switcher -------------------------------------------------------------------------


@login_required
@require_http_methods(["POST"])
def tenant_switch(request: HttpRequest) -> HttpResponse:
    form = forms.TenantSwitchForm(request.POST)
    if not form.is_valid():
        return HttpResponse("invalid tenant", status=400)
    user: Any = request.user
    tenant = selectors.tenants_for_user(user=user).filter(pk=form.cleaned_data["tenant"]).first()
    if tenant is None:
        raise Http404("tenant not found")
    services.tenant_select(user=user, tenant=tenant)
    if user.is_superuser and selectors.membership_get(tenant=tenant, user=user) is None:
        request.session[auth.SESSION_TENANT_KEY] = tenant.pk
    else:
        request.session.pop(auth.SESSION_TENANT_KEY, None)
    messages.info(request, f"Now working on {tenant.name}.")
    return HttpResponseRedirect(safe_next(request, reverse("kb:files")))


# --- KB files ----------------------------------------------------------------------------------


@tenant_view(action=auth.Action.READ_FILES)
def files(request: HttpRequest, kb: KbContext) -> HttpResponse:
    """The KB files table. htmx requests get only the table, which polls itself every 2 s
    while a listed document is queued or ingesting, and stops once none is."""
    filters = forms.FileFilterForm(request.GET or None)
    cleaned = filters.cleaned_data if filters.is_valid() else {}
    qs = selectors.document_list(
        tenant=kb.tenant, user=request.user, kind=cleaned.get("kind") or None, status=cleaned.get("status") or None,
        search=cleaned.get("q") or None,
    )
    page = Paginator(qs, FILES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "title": "KB files",
        "page": page,
        "documents": list(page.object_list),
        "filters": filters,
        "filtered": any(cleaned.values()),
        "in_flight": any(d.status in IN_FLIGHT_DOC for d in page.object_list),
        "upload_form": forms.UploadForm(
            initial={"scope": models.DocScope.TENANT if kb.can_manage else models.DocScope.PERSONAL}),
        "max_upload_mb": settings.KB_MAX_UPLOAD_MB,
    }
    if is_htmx(request):
        return render_page(request, kb, "kb/_files_table.html", context, section="files")
    return render_page(request, kb, "kb/files.html", context, section="files")


@tenant_view(action=auth.Action.UPLOAD_PERSONAL, methods=("POST",))
def upload(request: HttpRequest, kb: KbContext) -> HttpResponse:
    """Admins upload for the tenant or for themselves; a member uploads personal documents
    only (DESIGN §6: the same form and endpoint for everyone, ``scope`` says whose it is)."""
    form = forms.UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"Upload failed: {error}")
        return redirect("kb:files")
    scope = form.cleaned_data["scope"] or models.DocScope.TENANT
    personal = scope == models.DocScope.PERSONAL
    if not personal and not kb.can_manage:
        messages.error(request, "Upload failed: only a tenant admin may upload documents shared with the tenant.")
        return redirect("kb:files")
    uploaded = duplicates = 0
    for fileobj in form.cleaned_data["uploads"]:
        name = fileobj.name or "file"
        try:
            result = services.document_upload(
                tenant=kb.tenant, fileobj=fileobj, filename=name, kind=form.cleaned_data["kind"],
                auto_ingest=form.cleaned_data["auto_ingest"], created_by=request.user,
                trigger=models.Trigger.UI, scope=scope,
                owner=request.user if personal else None,
            )
        except ServiceError as exc:
            messages.error(request, f"{name}: {exc.message}")
            continue
        if result.duplicate:
            duplicates += 1
            messages.warning(request, f"{name}: the same content is already here as “{result.document.name}”.")
        else:
            uploaded += 1
            if result.ingestion is not None and result.ingestion.outcome == ingestion.Outcome.SKIPPED:
                messages.warning(request, f"{name}: uploaded, ingestion skipped: {result.ingestion.reason}")
    if uploaded:
        messages.success(request, f"Uploaded {uploaded} file{'s' if uploaded != 1 else ''}.")
    return redirect("kb:files")


@tenant_view(action=auth.Action.READ_FILES)
def document_detail(request: HttpRequest, kb: KbContext, pk: int) -> HttpResponse:
    doc = selectors.document_get(tenant=kb.tenant, user=request.user, document_id=pk)
    jobs = list(selectors.job_list(tenant=kb.tenant, user=request.user, document_id=doc.pk)[:50])
    chunks = selectors.document_chunks(tenant=kb.tenant, document=doc)
    chunk_page = Paginator(chunks, CHUNKS_PER_PAGE).get_page(request.GET.get("page"))
    latest = jobs[0] if jobs else None
    rows = [job_row(j) for j in jobs]
    served = next((r for r in rows if r["job"].status == models.JobStatus.READY and not r["job"].embed_only_missing), None)
    context = {
        "title": doc.name,
        "doc": doc,
        "jobs": rows,
        # PII neutralisation: whether it applies now, and what the served version's job replaced.
        "neutralised": neutralise.policy_for(tenant=kb.tenant, source_kind=doc.source_kind).enabled,
        "served_pii": served["pii"] if served else None,
        "chunk_page": chunk_page,
        "in_flight": doc.status in IN_FLIGHT_DOC,
        "can_retry": latest is not None and latest.status in RETRYABLE_JOB,
    }
    return render_page(request, kb, "kb/document.html", context, section="files")


def job_row(job: models.IngestJob) -> dict[str, Any]:
    """A job with its stats split into stage timings and counts, for the templates."""
    stats = job.stats or {}
    timings = stats.get("timings_ms") or {}
    counts = {k: v for k, v in stats.items() if k not in ("timings_ms", "pii")}
    pii = stats.get("pii")
    # JSONB does not keep key order: show the stages in pipeline order, unknown ones last.
    ordered = sorted(timings.items(), key=lambda kv: (STAGE_ORDER.get(kv[0], len(STAGE_ORDER)), kv[0]))
    return {
        "job": job,
        "timings": ordered,
        "total_ms": round(sum(v for v in timings.values() if isinstance(v, int | float)), 2),
        "counts": list(counts.items()),
        # PII neutralised, per type (never values); None when the step did not run.
        "pii": sorted(pii.items()) if isinstance(pii, dict) else None,
    }


@tenant_view(action=auth.Action.MANAGE_FILES, methods=("POST",))
def document_ingest(request: HttpRequest, kb: KbContext, pk: int) -> HttpResponse:
    doc = selectors.document_get(tenant=kb.tenant, user=request.user, document_id=pk)
    # A ready document is re-ingested on purpose: the same content counts.
    force = doc.status == models.DocStatus.READY or request.POST.get("force") == "1"
    outcome = ingestion.request_ingestion(document=doc, trigger=models.Trigger.UI, force=force)
    _report_outcome(request, doc.name, outcome)
    return HttpResponseRedirect(safe_next(request, reverse("kb:document", args=[doc.pk])))


@tenant_view(action=auth.Action.MANAGE_FILES, methods=("POST",))
def document_retry(request: HttpRequest, kb: KbContext, pk: int) -> HttpResponse:
    doc = selectors.document_get(tenant=kb.tenant, user=request.user, document_id=pk)
    latest = selectors.job_list(tenant=kb.tenant, user=request.user, document_id=doc.pk).first()
    if latest is None or latest.status not in RETRYABLE_JOB:
        messages.warning(request, f"{doc.name}: there is no failed ingestion to retry.")
    else:
        try:
            _report_outcome(request, doc.name, ingestion.retry_job(job=latest))
        except ServiceError as exc:
            messages.error(request, f"{doc.name}: {exc.message}")
    return HttpResponseRedirect(safe_next(request, reverse("kb:document", args=[doc.pk])))


def _report_outcome(request: HttpRequest, name: str, outcome: ingestion.IngestionOutcome) -> None:
    if outcome.outcome == ingestion.Outcome.QUEUED:
        messages.success(request, f"{name}: queued for ingestion.")
    elif outcome.outcome == ingestion.Outcome.DUPLICATE:
        messages.info(request, f"{name}: nothing to do ({outcome.reason}).")
    else:
        messages.warning(request, f"{name}: skipped ({outcome.reason}).")


@tenant_view(action=auth.Action.UPLOAD_PERSONAL, methods=("GET", "HEAD", "POST"))
def document_delete(request: HttpRequest, kb: KbContext, pk: int) -> HttpResponse:
    """GET asks for confirmation (like the admin's delete page); POST deletes. Admins delete
    the tenant's documents; everyone deletes their own personal ones."""
    doc = selectors.document_get(tenant=kb.tenant, user=request.user, document_id=pk)
    if not (kb.can_manage or is_own_personal(doc, request.user)):
        return forbidden(request, kb, "Only a tenant admin may delete documents shared with the tenant.")
    if doc.source_kind == models.SourceKind.SNAPSHOT:
        try:
            snapshot_services.ensure_editable(doc)
        except ServiceError as exc:
            messages.error(request, exc.message)
            return redirect("kb:document", pk=doc.pk)
    if request.method == "POST":
        name = doc.name
        services.document_delete(document=doc)
        messages.success(request, f"Deleted “{name}” and its chunks.")
        return redirect("kb:files")
    return render_page(request, kb, "kb/document_delete.html", {"title": "Delete KB file", "doc": doc},
                       section="files")


def is_own_personal(doc: models.Document, user: Any) -> bool:
    """A personal upload of the user's own (a connection's documents follow their source)."""
    return (doc.scope == models.DocScope.PERSONAL and doc.source_kind == models.SourceKind.UPLOAD
            and doc.owner_id is not None and doc.owner_id == user.pk)


@tenant_view(action=auth.Action.READ_FILES)
def document_download(request: HttpRequest, kb: KbContext, pk: int) -> HttpResponseBase:
    doc = selectors.document_get(tenant=kb.tenant, user=request.user, document_id=pk)
    return selectors.document_download(document=doc)


# --- Ingest jobs -------------------------------------------------------------------------------


@tenant_view(action=auth.Action.READ_JOBS)
def jobs(request: HttpRequest, kb: KbContext) -> HttpResponse:
    filters = forms.JobFilterForm(request.GET or None)
    status = filters.cleaned_data.get("status") if filters.is_valid() else None

    def visible_jobs(job_status: str | None = None) -> QuerySet[models.IngestJob]:
        # Only jobs of documents this user may see: another member's personal file stays hidden.
        return selectors.job_list(tenant=kb.tenant, user=request.user, status=job_status)

    counts = dict(visible_jobs().order_by().values_list("status").annotate(n=Count("pk")))
    running = list(visible_jobs(models.JobStatus.RUNNING)[:50])
    failures = list(visible_jobs(models.JobStatus.FAILED)[:20])
    page = Paginator(visible_jobs(status or None), JOBS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "title": "Ingest jobs",
        "counts": {s.value: counts.get(s.value, 0) for s in models.JobStatus},
        "running": running,
        "failures": failures,
        "page": page,
        "rows": [job_row(j) for j in page.object_list],
        "filters": filters,
        "worker": checks.worker_heartbeat(),
        "liveness": ingestion.worker_liveness(tenant=kb.tenant),
        "recall_audit": retrieval.recording.failure_stats(),
        "in_flight": bool(counts.get(models.JobStatus.QUEUED) or counts.get(models.JobStatus.RUNNING)),
    }
    return render_page(request, kb, "kb/jobs.html", context, section="jobs")


@tenant_view(action=auth.Action.MANAGE_FILES, methods=("POST",))
def job_retry(request: HttpRequest, kb: KbContext, pk: int) -> HttpResponse:
    job = selectors.job_get(tenant=kb.tenant, user=request.user, job_id=pk)
    try:
        _report_outcome(request, job.document.name, ingestion.retry_job(job=job))
    except ServiceError as exc:
        messages.error(request, f"Job {job.pk}: {exc.message}")
    return HttpResponseRedirect(safe_next(request, reverse("kb:jobs")))


# --- Retrieval test ----------------------------------------------------------------------------


@tenant_view(action=auth.Action.RETRIEVE, methods=("GET", "HEAD", "POST"))
def retrieval_test(request: HttpRequest, kb: KbContext) -> HttpResponse:
    """Ask as a caller would; the same retrieval code path as the API, audited as a test."""
    form = forms.RetrievalTestForm(request.POST or None)
    context: dict[str, Any] = {"title": "Retrieval test", "form": form, **_retrieval_switch_context(kb)}
    if request.method == "POST" and form.is_valid():
        user: Any = request.user
        result = retrieval.retrieve(
            tenant=kb.tenant,
            query=form.cleaned_data["query"],
            top_k=form.cleaned_data["top_k"],
            session_id=form.cleaned_data.get("session_id") or "",
            caller=f"ui:{user.get_username()}",
            source="ui_test",
            is_test=True,
            user=user,
        )
        response = result.as_response()
        context.update(
            result=result,
            response=response,
            hits=list(result.knowledge),
            raw_json=json.dumps(response, indent=2, ensure_ascii=False, default=str),
        )
    template = "kb/_retrieval_result.html" if is_htmx(request) else "kb/retrieval_test.html"
    return render_page(request, kb, template, context, section="retrieval")


def _retrieval_switch_context(kb: KbContext) -> dict[str, Any]:
    override = kb.tenant.retrieval_enabled
    return {
        "retrieval_on": flags.retrieval_enabled(kb.tenant),
        "retrieval_override": override,
        "retrieval_global": bool(settings.KB_RETRIEVAL_ENABLED),
        "switch_form": forms.RetrievalSwitchForm(
            initial={"retrieval": forms.RetrievalSwitchForm.value_of(override)}
        ),
    }


@tenant_view(roles=auth.ADMIN_ROLES, methods=("POST",))
def retrieval_switch(request: HttpRequest, kb: KbContext) -> HttpResponse:
    """A tenant admin turns retrieval on or off for their own tenant (or back to the default)."""
    form = forms.RetrievalSwitchForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose on, off or the global default.")
        return redirect("kb:retrieval_test")
    tenant = services.tenant_set_retrieval(tenant=kb.tenant, enabled=form.enabled())
    state = "on" if flags.retrieval_enabled(tenant) else "off"
    messages.success(request, f"Retrieval is now {state} for {tenant.name}.")
    return redirect("kb:retrieval_test")


# --- API keys ----------------------------------------------------------------------------------


@tenant_view(action=auth.Action.MANAGE_KEYS, methods=("GET", "HEAD", "POST"))
def keys(request: HttpRequest, kb: KbContext) -> HttpResponse:
    """List and create keys. A new key's plaintext is in this one response only (no-store)."""
    form = forms.ApiKeyCreateForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created = services.apikey_create(
                tenant=kb.tenant, scopes=list(form.cleaned_data["scopes"]), name=form.cleaned_data["name"],
                created_by=request.user,
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            form = forms.ApiKeyCreateForm()
    context = {
        "title": "API keys",
        "form": form,
        "created": created,
        "api_keys": list(selectors.apikey_list(tenant=kb.tenant)),
    }
    response = render_page(request, kb, "kb/keys.html", context, section="keys")
    if created is not None:
        response["Cache-Control"] = "no-store"
    return response


@tenant_view(action=auth.Action.MANAGE_KEYS, methods=("POST",))
def key_revoke(request: HttpRequest, kb: KbContext, pk: int) -> HttpResponse:
    key = selectors.apikey_get(tenant=kb.tenant, key_id=pk)
    services.apikey_revoke(key=key)
    messages.success(request, f"Revoked key {key.prefix}… ({key.name or 'unnamed'}).")
    return redirect("kb:keys")
