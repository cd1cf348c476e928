"""What the worker runs for one ingest job: claim, heartbeat, the steps, store — or record why not."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction

from knowledge import models
from knowledge.ingestion import facade, pipeline, store
from knowledge.ingestion.jobs import INGEST_JOBS
from knowledge.ingestion.pipeline import IngestError, Stats, Superseded, Work

logger = logging.getLogger(__name__)


def claim(*, job_id: int) -> models.IngestJob | None:
    """Atomically take a queued job and count the attempt. None when someone else has it."""
    if not INGEST_JOBS.claim(pk=job_id):
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
        models.Document.objects.filter(
            pk=job.document_id, tenant_id=job.tenant_id, content_sha256=job.content_sha256
        ).update(status=models.DocStatus.INGESTING, updated_at=job.started_at)
    stats = Stats()
    try:
        with INGEST_JOBS.heartbeat(pk=job.pk, attempt=job.attempts, every=settings.KB_INGEST_HEARTBEAT_SECONDS):
            if job.embed_only_missing:
                won = _embed_missing(job=job, stats=stats)
            else:
                work = Work(job=job, stats=stats)
                pipeline.run_steps(work)
                won = store.store(work)
        return models.JobStatus.READY if won else "lost-claim"
    except Superseded:
        return supersede(job=job, stats=stats)
    except IngestError as exc:
        return fail_or_requeue(job=job, reason=exc.reason, retryable=exc.retryable, stats=stats)
    except (OperationalError, InterfaceError) as exc:  # the database went away: try again later
        logger.warning("ingest job %s: database error", job.pk, exc_info=True)
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()  # reconnect for the bookkeeping below
        reason = f"the database could not be reached ({type(exc).__name__})"
        return fail_or_requeue(job=job, reason=reason, retryable=True, stats=stats)
    except Exception as exc:  # the worker must survive anything a file can do
        logger.exception("ingest job %s crashed", job.pk)
        reason = f"internal error while ingesting ({type(exc).__name__}); the details are in the worker's log"
        return fail_or_requeue(job=job, reason=reason, retryable=False, stats=stats)


def _relax_commit_durability() -> None:
    """Worker commits don't wait for the WAL flush (an fsync per commit dominated small jobs).

    Safe because the job row is the truth: a database crash can at worst lose the last few
    hundred milliseconds of commits, which leaves the job ``running`` with a stale heartbeat
    for the reaper to re-run — the same path as a worker crash.
    """
    with connection.cursor() as cur:
        cur.execute("SET synchronous_commit TO OFF")


def _embed_missing(*, job: models.IngestJob, stats: Stats) -> bool:
    """Embed chunks stored without an embedding (or with another model), keeping their text.

    The document's status and error stay as they are: what it serves does not change. False
    when the job lost its claim or the document is gone.
    """
    from knowledge import chunking

    target = facade.current_embedding_model(job.tenant)
    if not target:
        raise IngestError("embeddings are disabled for this tenant")
    chunks = list(
        facade.chunks_to_embed(model_name=target)
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
            vectors, tokens, model_name = pipeline.embed_texts(contexts)
    stats.counts["embedding_tokens"] = tokens
    return store.store_embeddings(
        job=job, chunks=chunks, vectors=vectors, model_name=model_name, tokens=tokens, stats=stats
    )


def supersede(*, job: models.IngestJob, stats: Stats) -> str:
    """End a job whose content the document no longer has: ``skipped``, nothing stored, and
    the document's current content is never left without a job (one is requested unless an
    equal one is in flight or already stored). ``lost-claim`` when the attempt lost the job."""
    with transaction.atomic():
        doc = store.lock_document(job)
        if not INGEST_JOBS.finish(
            pk=job.pk, attempt=job.attempts, status=models.JobStatus.SKIPPED,
            skip_reason=facade.SUPERSEDED, stats=stats.as_json(), error="",
        ):
            return "lost-claim"
        if doc is not None:
            outcome = facade.request_ingestion(document=doc, trigger=job.trigger)
            logger.info("ingest job %s superseded; current content: %s", job.pk, outcome.outcome)
    return models.JobStatus.SKIPPED


def fail_or_requeue(*, job: models.IngestJob, reason: str, retryable: bool, stats: Stats) -> str:
    """End this attempt: back in the queue when a later attempt may succeed and attempts are
    left, otherwise failed (with the document). ``lost-claim`` when the attempt no longer
    holds the job."""
    with transaction.atomic():
        current = INGEST_JOBS.lock_held(pk=job.pk, attempt=job.attempts)
        if current is None:
            return "lost-claim"
        if retryable and current.attempts < current.max_attempts:
            INGEST_JOBS.requeue(
                pk=job.pk, attempt=job.attempts, stats=stats.as_json(),
                error=f"attempt {current.attempts} failed: {reason}; retrying",
            )
            transaction.on_commit(lambda: facade.enqueue(job_id=job.pk))
            return models.JobStatus.QUEUED
        if retryable:
            reason = f"gave up after {current.attempts} attempts: {reason}"
        INGEST_JOBS.fail(pk=job.pk, attempt=job.attempts, error=reason, stats=stats.as_json())
        store.mark_document_failed(job=current, reason=reason)
    return models.JobStatus.FAILED
