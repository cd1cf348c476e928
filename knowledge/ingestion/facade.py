"""The ingestion façade: the only way in (``request_ingestion``), retry, status, the queueing.

``request_ingestion`` answers at once — ``queued``, ``duplicate`` (same content already
ingested or in flight; newer content while older is in flight is queued, never dropped) or ``skipped`` (embeddings off, over budget, unsupported type) —
creating the job row and sending the django-q2 task on commit. The task carries only the
job id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from kbsite.errors import Conflict
from knowledge import embeddings, filetypes, models

# Bump when extraction or chunking changes the chunks produced for the same bytes.
# p2: ZWNJ/ZWJ are kept (chunking normalises with extraction's rules).
PIPELINE_VERSION = "p2"
ACTIVE_JOB_STATUSES = (models.JobStatus.QUEUED, models.JobStatus.RUNNING)
TASK_FUNC = "knowledge.tasks.ingest_job"
TASK_GROUP = "ingest"


def task_name(job_id: int) -> str:
    """The django-q2 task name of a job's task (the reaper finds lost tasks by it)."""
    return f"ingest-job-{job_id}"


class Outcome:
    QUEUED = "queued"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"


@dataclass
class IngestionOutcome:
    outcome: str
    job: models.IngestJob | None
    reason: str = ""


@dataclass
class IngestionStatus:
    document_status: str
    error: str
    chunk_count: int
    job: models.IngestJob | None


# --- Flags -------------------------------------------------------------------------------


def embeddings_enabled(tenant: models.Tenant) -> bool:
    """The global flag, unless the tenant turned embeddings off for itself."""
    return settings.KB_EMBEDDINGS_ENABLED and tenant.embeddings_enabled is not False


def configured_embedding_model() -> str:
    """The ``provider:model`` name recorded on chunks embedded with the current settings."""
    return embeddings.model_name()


def current_embedding_model(tenant: models.Tenant) -> str:
    return configured_embedding_model() if embeddings_enabled(tenant) else ""


def chunks_to_embed(*, model_name: str) -> QuerySet[models.Chunk]:
    """Chunks an embed-only job has work for: stored without an embedding or with another model's."""
    return models.Chunk.objects.filter(Q(embedding__isnull=True) | ~Q(embedding_model=model_name))


def idempotency_key(
    *, source_kind: str, external_id: str, content_sha256: str, embedding_model: str, mode: str = "full"
) -> str:
    raw = "\x1f".join([source_kind, external_id, content_sha256, PIPELINE_VERSION, embedding_model, mode])
    return hashlib.sha256(raw.encode()).hexdigest()


# --- Façade --------------------------------------------------------------------------------


def request_ingestion(
    *,
    document: models.Document,
    trigger: str = models.Trigger.API,
    force: bool = False,
    embed_only_missing: bool = False,
) -> IngestionOutcome:
    """Queue ingestion of ``document`` unless the same content is already ingested or in flight."""
    with transaction.atomic():
        # of=self: locking the tenant row too would block every insert that references it
        # (FOR KEY SHARE), such as retrieval audit rows.
        doc = models.Document.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=document.pk)
        tenant = doc.tenant
        model_name = current_embedding_model(tenant)
        mode = "embed-missing" if embed_only_missing else "full"
        key = idempotency_key(
            source_kind=doc.source_kind,
            external_id=doc.external_id or str(doc.pk),
            content_sha256=doc.content_sha256,
            embedding_model=model_name,
            mode=mode,
        )
        in_flight = list(
            models.IngestJob.objects.filter(tenant=tenant, document=doc, status__in=ACTIVE_JOB_STATUSES)
            .order_by("-id")
        )
        same = next((j for j in in_flight if j.idempotency_key == key), None)
        if same is not None:
            return IngestionOutcome(Outcome.DUPLICATE, same, "ingestion already in progress")
        if in_flight and embed_only_missing:
            # Embedding stored chunks while a job replaces them would be wasted work.
            return IngestionOutcome(Outcome.DUPLICATE, in_flight[0], "ingestion already in progress")
        # Newer content (or another model) while older work is in flight: never dropped
        # (DESIGN §4). Queued jobs for the older key are superseded now; a running one finds
        # out before it stores (the document's content hash no longer matches its own, see
        # ``store``), and the job created below stores the current content.
        _supersede_queued(jobs=[j for j in in_flight if j.status == models.JobStatus.QUEUED], now=timezone.now())
        last_ok = (
            models.IngestJob.objects.filter(tenant=tenant, document=doc, status=models.JobStatus.READY)
            .order_by("-finished_at", "-id")
            .first()
        )
        if (
            not force
            and doc.status == models.DocStatus.READY
            and last_ok is not None
            and last_ok.idempotency_key == key
        ):
            return IngestionOutcome(Outcome.DUPLICATE, last_ok, "this content is already ingested")

        skip_reason = _skip_reason(tenant=tenant, document=doc, embed_only_missing=embed_only_missing)
        now = timezone.now()
        job = models.IngestJob.objects.create(
            tenant=tenant,
            document=doc,
            idempotency_key=key,
            source_kind=doc.source_kind,
            external_id=doc.external_id or str(doc.pk),
            content_sha256=doc.content_sha256,
            pipeline_version=PIPELINE_VERSION,
            status=models.JobStatus.SKIPPED if skip_reason else models.JobStatus.QUEUED,
            trigger=trigger,
            force=force,
            embed_only_missing=embed_only_missing,
            max_attempts=settings.KB_INGEST_MAX_ATTEMPTS,
            skip_reason=skip_reason,
            embedding_model=model_name,
            queued_at=None if skip_reason else now,
            finished_at=now if skip_reason else None,
        )
        if skip_reason:
            return IngestionOutcome(Outcome.SKIPPED, job, skip_reason)
        if not embed_only_missing:
            # A document being re-ingested shows the work in flight; its current chunks stay
            # served until the new version replaces them. Embedding stored chunks changes
            # neither what is served nor why the last ingestion failed: the job row tells.
            doc.status = models.DocStatus.QUEUED
            doc.ingest_error = ""
            doc.save(update_fields=["status", "ingest_error", "updated_at"])
        transaction.on_commit(lambda: enqueue(job_id=job.pk))
        return IngestionOutcome(Outcome.QUEUED, job)


SUPERSEDED = "superseded by a newer version of the document"


def _supersede_queued(*, jobs: list[models.IngestJob], now: datetime) -> None:
    """End queued jobs whose content is no longer the document's. Conditional on ``queued``:
    a job a worker claimed meanwhile is left to find out by itself before it stores."""
    for job in jobs:
        models.IngestJob.objects.filter(pk=job.pk, status=models.JobStatus.QUEUED).update(
            status=models.JobStatus.SKIPPED, skip_reason=SUPERSEDED, finished_at=now, updated_at=now,
        )


def _skip_reason(*, tenant: models.Tenant, document: models.Document, embed_only_missing: bool) -> str:
    if embed_only_missing:
        if not embeddings_enabled(tenant):
            return "embeddings are disabled for this tenant"
        if not models.Chunk.objects.filter(tenant_id=tenant.pk, document_id=document.pk).exists():
            return "the document has no stored chunks to embed: ingest it first"
    if document.file_type not in filetypes.CONTENT_TYPES:
        return f"unsupported file type {document.file_type!r}"
    budget = tenant.embedding_token_budget
    if embeddings_enabled(tenant) and budget is not None and tenant.embedding_tokens_used >= budget:
        return "the tenant's embedding token budget is used up"
    return ""


def enqueue(*, job_id: int) -> None:
    """Send the job's task. It carries its own time limit; the cluster's ``timeout`` is the
    short one for housekeeping tasks (see ``Q_CLUSTER`` in the settings)."""
    from django_q.tasks import async_task

    async_task(
        TASK_FUNC, job_id, task_name=task_name(job_id), group=TASK_GROUP, timeout=settings.KB_INGEST_TIMEOUT,
    )


def get_ingestion_status(*, tenant: models.Tenant, document_id: int) -> IngestionStatus:
    from knowledge import selectors

    doc = selectors.document_get(tenant=tenant, document_id=document_id)
    job = models.IngestJob.objects.filter(tenant=tenant, document=doc).order_by("-created_at", "-id").first()
    return IngestionStatus(doc.status, doc.ingest_error, doc.chunk_count, job)


def retry_job(*, job: models.IngestJob) -> IngestionOutcome:
    """Retry a failed or skipped job's document as a new job (history is kept)."""
    if job.status in ACTIVE_JOB_STATUSES:
        raise Conflict("this job is still queued or running")
    return request_ingestion(
        document=job.document, trigger=models.Trigger.RETRY, force=True,
        embed_only_missing=job.embed_only_missing,
    )
