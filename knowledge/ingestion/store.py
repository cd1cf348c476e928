"""The store step: a document's chunks replaced as a whole, and the job finished, in one
transaction — or nothing written at all when the attempt lost its claim."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from knowledge import embeddings, models, policy_cache
from knowledge.ingestion.jobs import INGEST_JOBS
from knowledge.ingestion.pipeline import Stats, Superseded, Work

logger = logging.getLogger(__name__)

def finish_job(*, job: models.IngestJob, model_name: str, stats: Stats, now: datetime) -> bool:
    """Mark the claimed job ready if this attempt still holds it (see ``JobTable.finish``)."""
    return INGEST_JOBS.finish(
        pk=job.pk, attempt=job.attempts, status=models.JobStatus.READY, now=now,
        embedding_model=model_name, stats=stats.as_json(), error="",
    )


def charge_tokens(*, tenant_id: int, tokens: int) -> None:
    if tokens:
        models.Tenant.objects.filter(pk=tenant_id).update(embedding_tokens_used=F("embedding_tokens_used") + tokens)


def lock_document(job: models.IngestJob) -> models.Document | None:
    # Serialises the work stored for one document with request_ingestion and other jobs'.
    return (
        models.Document.objects.select_for_update()
        .filter(pk=job.document_id, tenant_id=job.tenant_id)
        .first()
    )


def store(work: Work) -> bool:
    """Replace the document's chunks and finish the job in one transaction. False, with
    nothing written, when the job lost its claim or the document is gone."""
    job, stats = work.job, work.stats
    now = timezone.now()
    with transaction.atomic():
        with stats.stage("store"):
            doc = lock_document(job)
            if doc is None:
                logger.info("job %s lost its document; discarding its work", job.pk)
                return False
            if doc.content_sha256 != job.content_sha256:
                # A newer revision landed after the claim: its job stores it, never this one
                # under its hash. Checked under the row lock the content update takes too.
                raise Superseded()
            models.Chunk.objects.filter(tenant_id=doc.tenant_id, document_id=doc.pk).delete()
            _insert_chunks(
                doc=doc, drafts=work.drafts, vectors=work.vectors, model_name=work.model_name,
                title=work.title, now=now,
            )
        if not finish_job(job=job, model_name=work.model_name, stats=stats, now=now):
            transaction.set_rollback(True)
            logger.info("job %s lost its claim; discarding its work", job.pk)
            return False
        doc.status = models.DocStatus.READY
        doc.ingest_error = ""
        doc.ingested_at = now
        doc.chunk_count = len(work.drafts)
        doc.save(update_fields=["status", "ingest_error", "ingested_at", "chunk_count", "updated_at"])
        charge_tokens(tenant_id=doc.tenant_id, tokens=work.tokens)
        if doc.kind == models.Kind.POLICY:
            policy_cache.bump(tenant_id=doc.tenant_id)
    logger.info("ingest job %s ready: %s chunks", job.pk, len(work.drafts))
    return True


_INSERT_CHUNK_SQL = """
INSERT INTO knowledge_chunk (
    tenant_id, document_id, chunk_index, text, heading, page, metadata, embedding, embedding_dim,
    embedding_model, search_vector, kind, scope, owner_id, source_kind, connection_id, created_at
) VALUES (
    %s, %s, %s, %s, %s, %s, %s, %s::vector, %s, %s,
    setweight(to_tsvector('english', %s), 'A') || setweight(to_tsvector('english', %s), 'B')
        || kb_tenant_lexeme(%s),
    %s, %s, %s, %s, %s, %s
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
    metadata = json.dumps({"title": title})
    params = []
    for i, draft in enumerate(drafts):
        vec = vectors[i] if vectors is not None else None
        params.append((
            doc.tenant_id, doc.pk, draft.index, draft.text, draft.heading, draft.page, metadata,
            embeddings.vector_literal(vec) if vec is not None else None,
            len(vec) if vec is not None else None, model_name if vec is not None else "",
            f"{title} {draft.heading}", draft.text, doc.tenant_id,
            doc.kind, doc.scope, doc.owner_id, doc.source_kind, doc.connection_id, now,
        ))
    with connection.cursor() as cur:
        cur.executemany(_INSERT_CHUNK_SQL, params)


_UPDATE_EMBEDDING_SQL = """
UPDATE knowledge_chunk SET embedding = %s::vector, embedding_dim = %s, embedding_model = %s
WHERE id = %s AND tenant_id = %s
"""


def store_embeddings(*, job: models.IngestJob, chunks: list[models.Chunk], vectors: list[list[float]],
                     model_name: str, tokens: int, stats: Stats) -> bool:
    """Write an embed-only job's vectors onto the chunks they were computed for and finish the
    job, in one transaction. False, with nothing written, when the claim or document is gone."""
    now = timezone.now()
    with transaction.atomic():
        with stats.stage("store"):
            if lock_document(job) is None:
                logger.info("job %s lost its document; discarding its work", job.pk)
                return False
            params = [
                (embeddings.vector_literal(vec), len(vec), model_name, chunk.pk, job.tenant_id)
                for chunk, vec in zip(chunks, vectors, strict=True)
            ]
            if params:
                with connection.cursor() as cur:
                    cur.executemany(_UPDATE_EMBEDDING_SQL, params)
        if not finish_job(job=job, model_name=model_name, stats=stats, now=now):
            transaction.set_rollback(True)
            logger.info("job %s lost its claim; discarding its work", job.pk)
            return False
        charge_tokens(tenant_id=job.tenant_id, tokens=tokens)
    logger.info("embed-only job %s ready: %s chunks embedded", job.pk, len(chunks))
    return True


def mark_document_failed(*, job: models.IngestJob, reason: str) -> None:
    if job.embed_only_missing:
        return  # the document's chunks and text are as they were: only the job failed
    doc = models.Document.objects.select_for_update().filter(pk=job.document_id, tenant_id=job.tenant_id).first()
    if doc is None or doc.content_sha256 != job.content_sha256:
        return  # gone, or moved on: the newer content's job decides what the document shows
    if models.Chunk.objects.filter(tenant_id=job.tenant_id, document_id=job.document_id).exists():
        # A re-ingest of a document that is being served failed: keep serving the good version.
        doc.status = models.DocStatus.READY
        doc.ingest_error = f"the latest re-ingest failed, the previous version is still served: {reason}"
        doc.save(update_fields=["status", "ingest_error", "updated_at"])
        return
    doc.status = models.DocStatus.FAILED
    doc.ingest_error = reason
    doc.save(update_fields=["status", "ingest_error", "updated_at"])
