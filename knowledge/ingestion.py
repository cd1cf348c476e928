"""The ingestion façade and pipeline: the only code path that writes chunks.

``request_ingestion`` answers at once (queued | duplicate | skipped) and queues a django-q2
task on commit that carries only the job id. ``run_job`` is what the worker runs: it claims
the job with a conditional UPDATE (counting the attempt before doing any work), heartbeats
while it runs, and replaces the document's chunks as a whole in one transaction, so nothing
half-written is ever retrievable and the previous good version is served until then.
``reap_stale_jobs`` puts jobs whose worker died back in the queue, up to the attempt limit.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from kbsite.errors import Conflict
from knowledge import filetypes, models, policy_cache

logger = logging.getLogger(__name__)

# Bump when extraction or chunking changes the chunks produced for the same bytes.
PIPELINE_VERSION = "p1"
ACTIVE_JOB_STATUSES = (models.JobStatus.QUEUED, models.JobStatus.RUNNING)
TASK_FUNC = "knowledge.tasks.ingest_job"


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


class PermanentError(Exception):
    """A failure that retrying cannot fix (bad file, configuration)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryableError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- Flags -------------------------------------------------------------------------------


def embeddings_enabled(tenant: models.Tenant) -> bool:
    if tenant.embeddings_enabled is not None:
        return tenant.embeddings_enabled and settings.KB_EMBEDDINGS_ENABLED
    return settings.KB_EMBEDDINGS_ENABLED


def configured_embedding_model() -> str:
    """The ``provider:model`` name recorded on chunks embedded with the current settings."""
    return f"{settings.KB_EMBEDDING_PROVIDER}:{settings.KB_EMBEDDING_MODEL}"


def current_embedding_model(tenant: models.Tenant) -> str:
    return configured_embedding_model() if embeddings_enabled(tenant) else ""


def idempotency_key(
    *, source_kind: str, source_id: str, content_sha256: str, embedding_model: str, mode: str = "full"
) -> str:
    raw = "\x1f".join([source_kind, source_id, content_sha256, PIPELINE_VERSION, embedding_model, mode])
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
        doc = models.Document.objects.select_for_update().select_related("tenant").get(pk=document.pk)
        tenant = doc.tenant
        model_name = current_embedding_model(tenant)
        mode = "embed-missing" if embed_only_missing else "full"
        key = idempotency_key(
            source_kind=doc.source_kind,
            source_id=doc.source_id or str(doc.pk),
            content_sha256=doc.content_sha256,
            embedding_model=model_name,
            mode=mode,
        )
        in_flight = models.IngestJob.objects.filter(
            tenant=tenant, document=doc, status__in=ACTIVE_JOB_STATUSES
        ).first()
        if in_flight is not None:
            return IngestionOutcome(Outcome.DUPLICATE, in_flight, "ingestion already in progress")
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

        skip_reason = _skip_reason(tenant=tenant, document=doc)
        job = models.IngestJob.objects.create(
            tenant=tenant,
            document=doc,
            idempotency_key=key,
            source_kind=doc.source_kind,
            source_id=doc.source_id or str(doc.pk),
            content_sha256=doc.content_sha256,
            pipeline_version=PIPELINE_VERSION,
            status=models.JobStatus.SKIPPED if skip_reason else models.JobStatus.QUEUED,
            trigger=trigger,
            force=force,
            embed_only_missing=embed_only_missing,
            max_attempts=settings.KB_INGEST_MAX_ATTEMPTS,
            skip_reason=skip_reason,
            embedding_model=model_name,
            finished_at=timezone.now() if skip_reason else None,
        )
        if skip_reason:
            return IngestionOutcome(Outcome.SKIPPED, job, skip_reason)
        # A document being re-ingested shows the work in flight; its current chunks stay
        # served until the new version replaces them.
        doc.status = models.DocStatus.QUEUED
        doc.ingest_error = ""
        doc.save(update_fields=["status", "ingest_error", "updated_at"])
        transaction.on_commit(lambda: enqueue(job_id=job.pk))
        return IngestionOutcome(Outcome.QUEUED, job)


def _skip_reason(*, tenant: models.Tenant, document: models.Document) -> str:
    if document.file_type not in filetypes.CONTENT_TYPES:
        return f"unsupported file type {document.file_type!r}"
    budget = tenant.embedding_token_budget
    if embeddings_enabled(tenant) and budget is not None and tenant.embedding_tokens_used >= budget:
        return "the tenant's embedding token budget is used up"
    return ""


def enqueue(*, job_id: int) -> None:
    from django_q.tasks import async_task

    async_task(TASK_FUNC, job_id, task_name=f"ingest-job-{job_id}", group="ingest")


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


# --- Worker --------------------------------------------------------------------------------


@dataclass
class _Stats:
    timings_ms: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings_ms[name] = round((time.perf_counter() - started) * 1000, 2)

    def as_json(self) -> dict[str, Any]:
        return {"timings_ms": self.timings_ms, **self.counts}


def claim(*, job_id: int) -> models.IngestJob | None:
    """Atomically take a queued job and count the attempt. None when someone else has it."""
    now = timezone.now()
    won = models.IngestJob.objects.filter(
        pk=job_id, status=models.JobStatus.QUEUED, attempts__lt=F("max_attempts")
    ).update(
        status=models.JobStatus.RUNNING, attempts=F("attempts") + 1, heartbeat_at=now,
        started_at=now, error="", updated_at=now,
    )
    if not won:
        return None
    return models.IngestJob.objects.select_related("document", "tenant").get(pk=job_id)


def run_job(*, job_id: int) -> str:
    """Run one ingest job end to end. Returns the job's final status."""
    _relax_commit_durability()
    job = claim(job_id=job_id)
    if job is None:
        logger.info("ingest job %s not claimable (taken, finished or gone)", job_id)
        return "not-claimed"
    models.Document.objects.filter(pk=job.document_id, tenant_id=job.tenant_id).update(
        status=models.DocStatus.INGESTING, updated_at=timezone.now()
    )
    stats = _Stats()
    try:
        with _heartbeat(job_id=job.pk, attempt=job.attempts):
            if job.embed_only_missing:
                _embed_missing(job=job, stats=stats)
            else:
                _ingest(job=job, stats=stats)
        return models.JobStatus.READY
    except RetryableError as exc:
        return _fail_or_requeue(job=job, reason=exc.reason, retryable=True, stats=stats)
    except PermanentError as exc:
        return _fail_or_requeue(job=job, reason=exc.reason, retryable=False, stats=stats)
    except Exception as exc:  # the worker must survive anything a file can do
        logger.exception("ingest job %s crashed", job.pk)
        reason = f"internal error while ingesting ({type(exc).__name__}); the team has been notified"
        return _fail_or_requeue(job=job, reason=reason, retryable=False, stats=stats)


def _relax_commit_durability() -> None:
    """Worker commits don't wait for the WAL flush (an fsync per commit dominated small jobs).

    Safe because the job row is the truth: a database crash can at worst lose the last few
    hundred milliseconds of commits, which leaves the job ``running`` with a stale heartbeat
    for the reaper to re-run — the same path as a worker crash.
    """
    with connection.cursor() as cur:
        cur.execute("SET synchronous_commit TO OFF")


@contextmanager
def _heartbeat(*, job_id: int, attempt: int) -> Iterator[None]:
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.KB_INGEST_HEARTBEAT_SECONDS):
                models.IngestJob.objects.filter(
                    pk=job_id, status=models.JobStatus.RUNNING, attempts=attempt
                ).update(heartbeat_at=timezone.now())
        except Exception:  # a missed heartbeat only risks a re-run, never data
            logger.warning("heartbeat for job %s failed", job_id, exc_info=True)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _read_source(document: models.Document) -> bytes:
    if document.file:
        with document.file.open("rb") as fh:
            return fh.read()
    return document.inline_text.encode("utf-8")


def _ingest(*, job: models.IngestJob, stats: _Stats) -> None:
    from knowledge import chunking, extraction

    doc = job.document
    tenant = job.tenant
    with stats.stage("read"):
        try:
            data = _read_source(doc)
        except FileNotFoundError as exc:
            raise PermanentError("the stored file is missing; upload it again") from exc
    if hashlib.sha256(data).hexdigest() != doc.content_sha256 and doc.file:
        raise PermanentError("the stored file does not match its checksum; upload it again")
    with stats.stage("extract"):
        try:
            extracted = extraction.extract(
                data, file_type=doc.file_type, filename=doc.name,
                max_pages=settings.KB_MAX_PDF_PAGES, max_chars=settings.KB_MAX_EXTRACTED_CHARS,
            )
        except extraction.ExtractionError as exc:
            raise PermanentError(exc.reason) from exc
    del data
    stats.counts["chars"] = extracted.chars
    stats.counts["pages"] = extracted.pages or 0
    title = extracted.title or doc.name
    with stats.stage("chunk"):
        drafts = chunking.chunk_sections(
            extracted.sections, title=title, size=settings.KB_CHUNK_SIZE, overlap=settings.KB_CHUNK_OVERLAP
        )
    if not drafts:
        raise PermanentError("the file contains no readable text")
    stats.counts["chunks"] = len(drafts)
    contexts = [chunking.contextualize(d, title) for d in drafts]
    vectors: list[list[float]] | None = None
    model_name = ""
    tokens = 0
    if embeddings_enabled(tenant):
        with stats.stage("embed"):
            vectors, tokens, model_name = _embed(contexts)
    stats.counts["embedding_tokens"] = tokens
    with stats.stage("store"):
        stored = _store(job=job, drafts=drafts, vectors=vectors, model_name=model_name, title=title,
                        tokens=tokens, stats=stats)
    if stored:  # record the store stage's own timing too
        models.IngestJob.objects.filter(pk=job.pk, status=models.JobStatus.READY).update(stats=stats.as_json())


def _embed(texts: list[str]) -> tuple[list[list[float]], int, str]:
    from knowledge import embeddings

    try:
        provider = embeddings.get_provider()
        batch = provider.embed_documents(texts)  # each provider batches for its own limits
    except embeddings.EmbeddingError as exc:
        if exc.retryable:
            raise RetryableError(f"embedding service error: {exc.reason}") from exc
        raise PermanentError(f"embedding failed: {exc.reason}") from exc
    return batch.vectors, batch.tokens, f"{provider.name}:{provider.model}"


def _store(
    *, job: models.IngestJob, drafts: list[Any], vectors: list[list[float]] | None, model_name: str,
    title: str, tokens: int, stats: _Stats,
) -> bool:
    now = timezone.now()
    with transaction.atomic():
        doc = models.Document.objects.select_for_update().filter(pk=job.document_id, tenant_id=job.tenant_id).first()
        still_ours = models.IngestJob.objects.filter(
            pk=job.pk, status=models.JobStatus.RUNNING, attempts=job.attempts
        ).exists()
        if doc is None or not still_ours:
            logger.info("job %s lost its claim or document; discarding its work", job.pk)
            return False
        models.Chunk.objects.filter(tenant_id=doc.tenant_id, document_id=doc.pk).delete()
        _insert_chunks(doc=doc, drafts=drafts, vectors=vectors, model_name=model_name, title=title, now=now)
        doc.status = models.DocStatus.READY
        doc.ingest_error = ""
        doc.ingested_at = now
        doc.chunk_count = len(drafts)
        doc.save(update_fields=["status", "ingest_error", "ingested_at", "chunk_count", "updated_at"])
        if tokens:
            models.Tenant.objects.filter(pk=doc.tenant_id).update(
                embedding_tokens_used=F("embedding_tokens_used") + tokens
            )
        if doc.kind == models.Kind.POLICY:
            policy_cache.bump(tenant_id=doc.tenant_id)
        models.IngestJob.objects.filter(pk=job.pk).update(
            status=models.JobStatus.READY, finished_at=now, heartbeat_at=now, updated_at=now,
            embedding_model=model_name, stats=stats.as_json(), error="",
        )
    logger.info("ingest job %s ready: %s chunks", job.pk, len(drafts))
    return True


_INSERT_CHUNK_SQL = """
INSERT INTO knowledge_chunk (
    tenant_id, document_id, chunk_index, text, heading, page, metadata, embedding, embedding_dim,
    embedding_model, search_vector, kind, scope, owner_id, source_kind, created_at
) VALUES (
    %s, %s, %s, %s, %s, %s, %s, %s::vector, %s, %s,
    setweight(to_tsvector('english', %s), 'A') || setweight(to_tsvector('english', %s), 'B')
        || kb_tenant_lexeme(%s),
    %s, %s, %s, %s, %s
)
"""


def _insert_chunks(
    *, doc: models.Document, drafts: list[Any], vectors: list[list[float]] | None, model_name: str,
    title: str, now: Any,
) -> None:
    """Insert a document's chunks in one round of pipelined statements.

    The search vector (title + heading weighted A, so "hours" finds "Saturday 9-12"; text
    weighted B; plus the tenant's lexeme, see migration 0004) is computed in the INSERT itself: a follow-up UPDATE would write every row
    twice and insert each one into the HNSW index twice.
    """
    import json

    params = []
    for i, draft in enumerate(drafts):
        vec = vectors[i] if vectors is not None else None
        params.append((
            doc.tenant_id, doc.pk, draft.index, draft.text, draft.heading, draft.page,
            json.dumps({"title": title}),
            "[" + ",".join(f"{x:.7g}" for x in vec) + "]" if vec is not None else None,
            len(vec) if vec is not None else None, model_name if vec is not None else "",
            f"{title} {draft.heading}", draft.text, doc.tenant_id,
            doc.kind, doc.scope, doc.owner_id, doc.source_kind, now,
        ))
    with connection.cursor() as cur:
        cur.executemany(_INSERT_CHUNK_SQL, params)


def _embed_missing(*, job: models.IngestJob, stats: _Stats) -> None:
    """Embed chunks stored without an embedding (or with another model), keeping their text."""
    from knowledge import chunking

    target = current_embedding_model(job.tenant)
    if not target:
        raise PermanentError("embeddings are disabled for this tenant")
    chunks = list(
        models.Chunk.objects.filter(tenant_id=job.tenant_id, document_id=job.document_id)
        .filter(Q(embedding__isnull=True) | ~Q(embedding_model=target))
        .order_by("chunk_index")
    )
    title = job.document.name
    contexts = [
        chunking.contextualize(chunking.ChunkDraft(index=c.chunk_index, text=c.text, heading=c.heading, page=c.page),
                               (c.metadata or {}).get("title", title))
        for c in chunks
    ]
    stats.counts["chunks"] = len(chunks)
    vectors: list[list[float]] = []
    tokens = 0
    model_name = target
    if chunks:
        with stats.stage("embed"):
            vectors, tokens, model_name = _embed(contexts)
    stats.counts["embedding_tokens"] = tokens
    now = timezone.now()
    with transaction.atomic():
        doc = models.Document.objects.select_for_update().filter(pk=job.document_id).first()
        if doc is None:
            return
        for chunk, vec in zip(chunks, vectors, strict=True):
            models.Chunk.objects.filter(pk=chunk.pk, tenant_id=job.tenant_id).update(
                embedding=vec, embedding_dim=len(vec), embedding_model=model_name
            )
        if tokens:
            models.Tenant.objects.filter(pk=job.tenant_id).update(
                embedding_tokens_used=F("embedding_tokens_used") + tokens
            )
        models.IngestJob.objects.filter(pk=job.pk).update(
            status=models.JobStatus.READY, finished_at=now, updated_at=now,
            embedding_model=model_name, stats=stats.as_json(),
        )
        doc.status = models.DocStatus.READY if doc.chunk_count else models.DocStatus.FAILED
        doc.save(update_fields=["status", "updated_at"])


def _fail_or_requeue(*, job: models.IngestJob, reason: str, retryable: bool, stats: _Stats) -> str:
    now = timezone.now()
    with transaction.atomic():
        current = models.IngestJob.objects.select_for_update().filter(pk=job.pk).first()
        if current is None or current.status != models.JobStatus.RUNNING or current.attempts != job.attempts:
            return "lost-claim"
        if retryable and current.attempts < current.max_attempts:
            current.status = models.JobStatus.QUEUED
            current.error = f"attempt {current.attempts} failed: {reason}; retrying"
            current.stats = stats.as_json()
            current.save(update_fields=["status", "error", "stats", "updated_at"])
            transaction.on_commit(lambda: enqueue(job_id=job.pk))
            return models.JobStatus.QUEUED
        if retryable:
            reason = f"gave up after {current.attempts} attempts: {reason}"
        current.status = models.JobStatus.FAILED
        current.error = reason
        current.finished_at = now
        current.stats = stats.as_json()
        current.save(update_fields=["status", "error", "finished_at", "stats", "updated_at"])
        _mark_document_failed(document_id=job.document_id, tenant_id=job.tenant_id, reason=reason)
    return models.JobStatus.FAILED


def _mark_document_failed(*, document_id: int, tenant_id: int, reason: str) -> None:
    doc = models.Document.objects.select_for_update().filter(pk=document_id, tenant_id=tenant_id).first()
    if doc is None:
        return
    if models.Chunk.objects.filter(tenant_id=tenant_id, document_id=document_id).exists():
        # A re-ingest of a document that is being served failed: keep serving the good version.
        doc.status = models.DocStatus.READY
        doc.ingest_error = f"the latest re-ingest failed, the previous version is still served: {reason}"
        doc.save(update_fields=["status", "ingest_error", "updated_at"])
        return
    doc.status = models.DocStatus.FAILED
    doc.ingest_error = reason
    doc.save(update_fields=["status", "ingest_error", "updated_at"])


def reap_stale_jobs() -> dict[str, int]:
    """Put jobs whose worker died back in the queue; fail them after the attempt limit.

    Also re-sends queued jobs that have waited far too long (their task was lost): a
    duplicate task is harmless because only one can claim the job.
    """
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.KB_INGEST_STALE_SECONDS)
    requeued = failed = resent = 0
    stale = models.IngestJob.objects.filter(status=models.JobStatus.RUNNING, heartbeat_at__lt=stale_before)
    for job in stale.only("pk", "attempts", "max_attempts", "document_id", "tenant_id"):
        with transaction.atomic():
            if job.attempts >= job.max_attempts:
                reason = (
                    f"gave up after {job.attempts} attempts: the worker stopped while processing this "
                    "file (it may be too large or malformed)"
                )
                won = models.IngestJob.objects.filter(
                    pk=job.pk, status=models.JobStatus.RUNNING, attempts=job.attempts, heartbeat_at__lt=stale_before
                ).update(status=models.JobStatus.FAILED, error=reason, finished_at=now, updated_at=now)
                if won:
                    _mark_document_failed(document_id=job.document_id, tenant_id=job.tenant_id, reason=reason)
                    failed += 1
            else:
                won = models.IngestJob.objects.filter(
                    pk=job.pk, status=models.JobStatus.RUNNING, attempts=job.attempts, heartbeat_at__lt=stale_before
                ).update(
                    status=models.JobStatus.QUEUED, updated_at=now,
                    error=f"attempt {job.attempts} stopped responding; retrying",
                )
                if won:
                    transaction.on_commit(functools.partial(enqueue, job_id=job.pk))
                    requeued += 1
    lost_before = now - timedelta(seconds=settings.KB_INGEST_STALE_SECONDS * 5)
    for pk in models.IngestJob.objects.filter(
        status=models.JobStatus.QUEUED, updated_at__lt=lost_before
    ).values_list("pk", flat=True):
        models.IngestJob.objects.filter(pk=pk, status=models.JobStatus.QUEUED).update(updated_at=now)
        enqueue(job_id=pk)
        resent += 1
    if requeued or failed or resent:
        logger.warning("reaper: requeued=%s failed=%s resent=%s", requeued, failed, resent)
    return {"requeued": requeued, "failed": failed, "resent": resent}
