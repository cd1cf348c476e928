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
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from kbsite.errors import Conflict
from knowledge import embeddings, filetypes, models, policy_cache

logger = logging.getLogger(__name__)

# Bump when extraction or chunking changes the chunks produced for the same bytes.
# p2: ZWNJ/ZWJ are kept (chunking normalises with extraction's rules).
PIPELINE_VERSION = "p2"
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


class IngestError(Exception):
    """A job step failed; ``reason`` is shown to the tenant, ``retryable`` says whether a
    later attempt may succeed (a service outage) or not (a bad file, the configuration)."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


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
        # of=self: locking the tenant row too would block every insert that references it
        # (FOR KEY SHARE), such as retrieval audit rows.
        doc = models.Document.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=document.pk)
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

        skip_reason = _skip_reason(tenant=tenant, document=doc, embed_only_missing=embed_only_missing)
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
        if not embed_only_missing:
            # A document being re-ingested shows the work in flight; its current chunks stay
            # served until the new version replaces them. Embedding stored chunks changes
            # neither what is served nor why the last ingestion failed: the job row tells.
            doc.status = models.DocStatus.QUEUED
            doc.ingest_error = ""
            doc.save(update_fields=["status", "ingest_error", "updated_at"])
        transaction.on_commit(lambda: enqueue(job_id=job.pk))
        return IngestionOutcome(Outcome.QUEUED, job)


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
    """Run one ingest job end to end. Returns the job's final status, or why it did not run.

    A failure is recorded on the job (and, unless the job only embeds, on the document);
    if even that fails because the database is gone, the exception escapes, the heartbeat
    stops and the reaper takes the job back.
    """
    _relax_commit_durability()
    job = claim(job_id=job_id)
    if job is None:
        logger.info("ingest job %s not claimable (taken, finished or gone)", job_id)
        return "not-claimed"
    if not job.embed_only_missing:
        models.Document.objects.filter(pk=job.document_id, tenant_id=job.tenant_id).update(
            status=models.DocStatus.INGESTING, updated_at=timezone.now()
        )
    stats = _Stats()
    try:
        with _heartbeat(job_id=job.pk, attempt=job.attempts):
            if job.embed_only_missing:
                won = _embed_missing(job=job, stats=stats)
            else:
                won = _ingest(job=job, stats=stats)
        return models.JobStatus.READY if won else "lost-claim"
    except IngestError as exc:
        return _fail_or_requeue(job=job, reason=exc.reason, retryable=exc.retryable, stats=stats)
    except (OperationalError, InterfaceError) as exc:  # the database went away: try again later
        logger.warning("ingest job %s: database error", job.pk, exc_info=True)
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()  # reconnect for the bookkeeping below
        reason = f"the database could not be reached ({type(exc).__name__})"
        return _fail_or_requeue(job=job, reason=reason, retryable=True, stats=stats)
    except Exception as exc:  # the worker must survive anything a file can do
        logger.exception("ingest job %s crashed", job.pk)
        reason = f"internal error while ingesting ({type(exc).__name__}); the details are in the worker's log"
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


def _ingest(*, job: models.IngestJob, stats: _Stats) -> bool:
    """Extract, chunk, embed and store the document. False when the job lost its claim."""
    from knowledge import chunking, extraction

    doc = job.document
    tenant = job.tenant
    with stats.stage("read"):
        try:
            data = _read_source(doc)
        except FileNotFoundError as exc:
            raise IngestError("the stored file is missing; upload it again") from exc
    if doc.file and hashlib.sha256(data).hexdigest() != doc.content_sha256:
        raise IngestError("the stored file does not match its checksum; upload it again")
    with stats.stage("extract"):
        try:
            extracted = extraction.extract(
                data, file_type=doc.file_type, filename=doc.name,
                max_pages=settings.KB_MAX_PDF_PAGES, max_chars=settings.KB_MAX_EXTRACTED_CHARS,
            )
        except extraction.ExtractionError as exc:
            raise IngestError(exc.reason) from exc
    del data
    stats.counts["chars"] = extracted.chars
    stats.counts["pages"] = extracted.pages or 0
    title = extracted.title or doc.name
    with stats.stage("chunk"):
        drafts = chunking.chunk_sections(
            extracted.sections, title=title, size=settings.KB_CHUNK_SIZE, overlap=settings.KB_CHUNK_OVERLAP
        )
    if not drafts:
        raise IngestError("the file contains no readable text")
    stats.counts["chunks"] = len(drafts)
    contexts = [chunking.contextualize(d, title) for d in drafts]
    vectors: list[list[float]] | None = None
    model_name = ""
    tokens = 0
    if embeddings_enabled(tenant):
        with stats.stage("embed"):
            vectors, tokens, model_name = _embed(contexts)
    stats.counts["embedding_tokens"] = tokens
    return _store(job=job, drafts=drafts, vectors=vectors, model_name=model_name, title=title,
                  tokens=tokens, stats=stats)


def _embed(texts: list[str]) -> tuple[list[list[float]], int, str]:
    try:
        provider = embeddings.get_provider()
        batch = provider.embed_documents(texts)  # each provider batches for its own limits
    except embeddings.EmbeddingError as exc:
        if exc.retryable:
            raise IngestError(f"embedding service error: {exc.reason}", retryable=True) from exc
        raise IngestError(f"embedding failed: {exc.reason}") from exc
    return batch.vectors, batch.tokens, f"{provider.name}:{provider.model}"


def _finish_job(*, job: models.IngestJob, model_name: str, stats: _Stats, now: Any) -> bool:
    """Mark the claimed job ready if this attempt still holds it. False when the claim was
    lost (the reaper re-queued or failed the job, or the job is gone).

    Call it inside the transaction that stores the job's work, and roll that back when it
    returns False: this conditional UPDATE is what decides, so two attempts can never both
    store their work.
    """
    won = models.IngestJob.objects.filter(
        pk=job.pk, status=models.JobStatus.RUNNING, attempts=job.attempts
    ).update(
        status=models.JobStatus.READY, finished_at=now, heartbeat_at=now, updated_at=now,
        embedding_model=model_name, stats=stats.as_json(), error="",
    )
    return bool(won)


def _charge_tokens(*, tenant_id: int, tokens: int) -> None:
    if tokens:
        models.Tenant.objects.filter(pk=tenant_id).update(embedding_tokens_used=F("embedding_tokens_used") + tokens)


def _lock_document(job: models.IngestJob) -> models.Document | None:
    # Serialises the work stored for one document with request_ingestion and other jobs'.
    return (
        models.Document.objects.select_for_update()
        .filter(pk=job.document_id, tenant_id=job.tenant_id)
        .first()
    )


def _store(
    *, job: models.IngestJob, drafts: list[Any], vectors: list[list[float]] | None, model_name: str,
    title: str, tokens: int, stats: _Stats,
) -> bool:
    """Replace the document's chunks and finish the job in one transaction. False, with
    nothing written, when the job lost its claim or the document is gone."""
    now = timezone.now()
    with transaction.atomic():
        with stats.stage("store"):
            doc = _lock_document(job)
            if doc is None:
                logger.info("job %s lost its document; discarding its work", job.pk)
                return False
            models.Chunk.objects.filter(tenant_id=doc.tenant_id, document_id=doc.pk).delete()
            _insert_chunks(doc=doc, drafts=drafts, vectors=vectors, model_name=model_name, title=title, now=now)
        if not _finish_job(job=job, model_name=model_name, stats=stats, now=now):
            transaction.set_rollback(True)
            logger.info("job %s lost its claim; discarding its work", job.pk)
            return False
        doc.status = models.DocStatus.READY
        doc.ingest_error = ""
        doc.ingested_at = now
        doc.chunk_count = len(drafts)
        doc.save(update_fields=["status", "ingest_error", "ingested_at", "chunk_count", "updated_at"])
        _charge_tokens(tenant_id=doc.tenant_id, tokens=tokens)
        if doc.kind == models.Kind.POLICY:
            policy_cache.bump(tenant_id=doc.tenant_id)
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

    metadata = json.dumps({"title": title})
    params = []
    for i, draft in enumerate(drafts):
        vec = vectors[i] if vectors is not None else None
        params.append((
            doc.tenant_id, doc.pk, draft.index, draft.text, draft.heading, draft.page, metadata,
            embeddings.vector_literal(vec) if vec is not None else None,
            len(vec) if vec is not None else None, model_name if vec is not None else "",
            f"{title} {draft.heading}", draft.text, doc.tenant_id,
            doc.kind, doc.scope, doc.owner_id, doc.source_kind, now,
        ))
    with connection.cursor() as cur:
        cur.executemany(_INSERT_CHUNK_SQL, params)


_UPDATE_EMBEDDING_SQL = """
UPDATE knowledge_chunk SET embedding = %s::vector, embedding_dim = %s, embedding_model = %s
WHERE id = %s AND tenant_id = %s
"""


def _embed_missing(*, job: models.IngestJob, stats: _Stats) -> bool:
    """Embed chunks stored without an embedding (or with another model), keeping their text.

    The document's status and error stay as they are: what it serves does not change. False
    when the job lost its claim or the document is gone.
    """
    from knowledge import chunking

    target = current_embedding_model(job.tenant)
    if not target:
        raise IngestError("embeddings are disabled for this tenant")
    chunks = list(
        chunks_to_embed(model_name=target)
        .filter(tenant_id=job.tenant_id, document_id=job.document_id)
        .order_by("chunk_index")
        .only("pk", "chunk_index", "text", "heading", "page", "metadata")
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
        with stats.stage("store"):
            if _lock_document(job) is None:
                logger.info("job %s lost its document; discarding its work", job.pk)
                return False
            params = [
                (embeddings.vector_literal(vec), len(vec), model_name, chunk.pk, job.tenant_id)
                for chunk, vec in zip(chunks, vectors, strict=True)
            ]
            if params:
                with connection.cursor() as cur:
                    cur.executemany(_UPDATE_EMBEDDING_SQL, params)
        if not _finish_job(job=job, model_name=model_name, stats=stats, now=now):
            transaction.set_rollback(True)
            logger.info("job %s lost its claim; discarding its work", job.pk)
            return False
        _charge_tokens(tenant_id=job.tenant_id, tokens=tokens)
    logger.info("embed-only job %s ready: %s chunks embedded", job.pk, len(chunks))
    return True


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
        _mark_document_failed(job=current, reason=reason)
    return models.JobStatus.FAILED


def _mark_document_failed(*, job: models.IngestJob, reason: str) -> None:
    if job.embed_only_missing:
        return  # the document's chunks and text are as they were: only the job failed
    doc = models.Document.objects.select_for_update().filter(pk=job.document_id, tenant_id=job.tenant_id).first()
    if doc is None:
        return
    if models.Chunk.objects.filter(tenant_id=job.tenant_id, document_id=job.document_id).exists():
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

    Also re-sends queued jobs that have waited far too long, but only while the broker's
    queue is empty: then their task was lost (a purged queue, a crash between commit and
    enqueue). While tasks are waiting, such a job may just be behind a backlog, and sending
    it again would only grow the queue. A duplicate task is harmless: only one can claim the
    job.
    """
    from django_q.brokers import get_broker

    now = timezone.now()
    queue_empty = get_broker().queue_size() == 0  # before this run queues anything itself
    stale_before = now - timedelta(seconds=settings.KB_INGEST_STALE_SECONDS)
    requeued = failed = resent = 0
    stale = models.IngestJob.objects.filter(status=models.JobStatus.RUNNING, heartbeat_at__lt=stale_before)
    for job in stale.only("pk", "attempts", "max_attempts", "document_id", "tenant_id", "embed_only_missing"):
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
                    _mark_document_failed(job=job, reason=reason)
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
    if queue_empty:
        lost_before = now - timedelta(seconds=settings.KB_INGEST_STALE_SECONDS * 5)
        lost = models.IngestJob.objects.filter(status=models.JobStatus.QUEUED, updated_at__lt=lost_before)
        for pk in lost.values_list("pk", flat=True):
            # Conditional, so that of two reapers only one sends the task.
            if lost.filter(pk=pk).update(updated_at=now):
                enqueue(job_id=pk)
                resent += 1
    if requeued or failed or resent:
        logger.warning("reaper: requeued=%s failed=%s resent=%s", requeued, failed, resent)
    return {"requeued": requeued, "failed": failed, "resent": resent}
