"""A job that loses its claim while it works (the reaper took it back) stores nothing and
charges no tokens; the attempt that holds the claim does both."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from knowledge import embeddings, ingestion, models, services
from tests.fakes.openai_server import FakeOpenAI, RecordedRequest

# Transactional: the fake API takes the job back from its own thread and connection, as
# the reaper would from another process.
pytestmark = pytest.mark.django_db(transaction=True)


class ReapingOpenAI(FakeOpenAI):
    """The embeddings API; while ``reap_job`` is set, each request first puts that job back
    in the queue, as the reaper does with a job whose heartbeat went stale."""

    reap_job: int = 0

    def _answer(self, record: RecordedRequest) -> Any:
        if self.reap_job:
            try:
                models.IngestJob.objects.filter(pk=self.reap_job, status=models.JobStatus.RUNNING).update(
                    status=models.JobStatus.QUEUED
                )
            finally:
                connection.close()
        return super()._answer(record)


@pytest.fixture
def fake_api(settings: Any) -> Iterator[ReapingOpenAI]:
    fake = ReapingOpenAI()
    with fake:
        settings.KB_EMBEDDING_PROVIDER = "openai"
        settings.KB_EMBEDDING_MODEL = "text-embedding-3-small"
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_API_KEY = fake.api_key
        settings.KB_OPENAI_MAX_RETRIES = 0
        yield fake
    embeddings.reset_providers("openai")


def _tokens_used(tenant: models.Tenant) -> int:
    tenant.refresh_from_db()
    return tenant.embedding_tokens_used


def test_an_ingest_job_that_lost_its_claim_stores_nothing_and_charges_nothing(
    tenant: models.Tenant, fake_api: ReapingOpenAI
) -> None:
    doc = services.document_upload(
        tenant=tenant, fileobj=io.BytesIO(b"Saturday 9 to 12. Parking is free."), filename="hours.txt"
    ).document
    job = doc.jobs.get()
    fake_api.reap_job = job.pk
    assert ingestion.run_job(job_id=job.pk) == "lost-claim"
    assert not models.Chunk.objects.filter(document=doc).exists()
    assert _tokens_used(tenant) == 0
    job.refresh_from_db()
    assert job.status == "queued" and job.finished_at is None
    # The next attempt holds the claim: it stores the chunks and pays for them, once.
    fake_api.reap_job = 0
    assert ingestion.run_job(job_id=job.pk) == "ready"
    job.refresh_from_db()
    doc.refresh_from_db()
    assert job.status == "ready" and job.attempts == 2 and doc.status == "ready"
    assert "store" in job.stats["timings_ms"]
    assert models.Chunk.objects.filter(document=doc, embedding_dim=1536).count() == doc.chunk_count >= 1
    assert _tokens_used(tenant) == job.stats["embedding_tokens"] > 0


def test_an_embed_only_job_that_lost_its_claim_changes_nothing_and_charges_nothing(
    tenant: models.Tenant, fake_api: ReapingOpenAI, settings: Any
) -> None:
    settings.KB_EMBEDDINGS_ENABLED = False
    doc = services.document_upload(
        tenant=tenant, fileobj=io.BytesIO(b"Saturday 9 to 12. Parking is free."), filename="hours.txt"
    ).document
    assert ingestion.run_job(job_id=doc.jobs.get().pk) == "ready"
    settings.KB_EMBEDDINGS_ENABLED = True
    job = ingestion.request_ingestion(document=doc, embed_only_missing=True).job
    assert job is not None
    fake_api.reap_job = job.pk
    assert ingestion.run_job(job_id=job.pk) == "lost-claim"
    assert not models.Chunk.objects.filter(document=doc, embedding__isnull=False).exists()
    assert _tokens_used(tenant) == 0
    fake_api.reap_job = 0
    assert ingestion.run_job(job_id=job.pk) == "ready"
    job.refresh_from_db()
    assert job.status == "ready" and job.embedding_model == "openai:text-embedding-3-small"
    assert not models.Chunk.objects.filter(document=doc, embedding__isnull=True).exists()
    assert _tokens_used(tenant) == job.stats["embedding_tokens"] > 0
