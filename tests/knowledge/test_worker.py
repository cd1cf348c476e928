"""The real worker: qcluster processes, claims, heartbeats, reaping after SIGKILL."""

from __future__ import annotations

import io
import signal
import time
from typing import Any

import pytest

from knowledge import ingestion, models, services
from tests.conftest import Worker, wait_for
from tests.fakes.openai_server import FakeOpenAI

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _upload(tenant: models.Tenant, text: str, name: str = "doc.md") -> models.Document:
    return services.document_upload(
        tenant=tenant, fileobj=io.BytesIO(text.encode()), filename=name
    ).document


def _status(doc: models.Document) -> str:
    doc.refresh_from_db()
    return doc.status


def test_a_real_worker_ingests_an_upload_to_ready(tenant: models.Tenant, worker: Any) -> None:
    doc = _upload(tenant, "# Office hours\n\nSaturday 9 to 12. Closed Sundays.", "hours.md")
    wait_for(lambda: _status(doc) in ("ready", "failed"), timeout=90)
    assert doc.status == "ready", doc.ingest_error
    job = models.IngestJob.objects.get(document=doc)
    assert job.status == "ready" and job.attempts == 1
    assert job.stats["chunks"] == doc.chunk_count >= 1
    assert set(job.stats["timings_ms"]) >= {"extract", "chunk", "embed", "store"}
    assert (
        models.Chunk.objects.filter(document=doc, embedding__isnull=False).count()
        == doc.chunk_count
    )


def test_health_reports_the_worker_heartbeat(worker: Any, client: Any) -> None:
    body = wait_for(lambda: (b := client.get("/api/v1/health").json())["worker"]["running"] and b, timeout=60)
    assert body["worker"]["clusters"] >= 1
    assert body["worker"]["heartbeat_age_s"] < 30


def test_a_broken_file_fails_with_a_reason_and_the_worker_survives(
    tenant: models.Tenant, worker: Any
) -> None:
    bad = services.document_upload(
        tenant=tenant,
        fileobj=io.BytesIO(b"%PDF-1.7\n" + b"\x00garbage" * 100),
        filename="broken.pdf",
    ).document
    wait_for(lambda: _status(bad) in ("ready", "failed"), timeout=90)
    assert bad.status == "failed" and bad.ingest_error
    good = _upload(tenant, "Parking is free behind the building.", "parking.txt")
    wait_for(lambda: _status(good) in ("ready", "failed"), timeout=90)
    assert good.status == "ready"
    assert worker.alive()


class SlowOpenAI(FakeOpenAI):
    """The embeddings API, answering after ``delay`` seconds: long enough to kill a worker mid-job."""

    delay: float = 0.0
    started: int = 0  # requests received (``requests`` records them only once answered)

    def _answer(self, record: Any) -> Any:
        self.started += 1
        time.sleep(self.delay)
        return super()._answer(record)


def test_a_worker_killed_mid_job_is_reaped_and_the_job_finishes_exactly_once(
    tenant: models.Tenant, worker_env: dict[str, str], settings: Any
) -> None:
    fake = SlowOpenAI()
    with fake:
        fake.delay = 30
        env = {**worker_env, "KB_EMBEDDING_PROVIDER": "openai", "KB_EMBEDDING_MODEL": "text-embedding-3-small",
               "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": fake.api_key, "KB_OPENAI_MAX_RETRIES": "0"}
        first = Worker(env).start()
        try:
            doc = _upload(tenant, "# Hours\n\nSaturday 9 to 12.\n\n# Parking\n\nFree lot behind the building.")
            job = models.IngestJob.objects.get(document=doc)
            wait_for(lambda: fake.started >= 1, timeout=60)  # mid-job: waiting on embeddings
            first.kill(signal.SIGKILL)
        finally:
            first.kill()
        job.refresh_from_db()
        assert job.status == "running" and job.attempts == 1
        assert not models.Chunk.objects.filter(document=doc).exists()  # nothing half-written
        # Its heartbeat goes stale; the reaper puts it back in the queue.
        settings.KB_INGEST_STALE_SECONDS = 2
        wait_for(lambda: ingestion.reap_stale_jobs()["requeued"] == 1, timeout=30, interval=0.5)
        fake.delay = 0
        second = Worker(env).start()
        try:
            wait_for(lambda: _status(doc) in ("ready", "failed"), timeout=90)
        finally:
            second.kill()
    job.refresh_from_db()
    assert doc.status == "ready", doc.ingest_error
    assert job.status == "ready" and job.attempts == 2
    chunks = models.Chunk.objects.filter(document=doc)
    assert chunks.count() == doc.chunk_count
    assert sorted(chunks.values_list("chunk_index", flat=True)) == list(range(doc.chunk_count))
    assert set(chunks.values_list("embedding_dim", flat=True)) == {1536}


def test_the_openai_provider_in_the_worker_survives_a_429(
    tenant: models.Tenant, worker_env: dict[str, str]
) -> None:
    with FakeOpenAI() as fake:
        fake.fail_next(1, status=429)
        env = {**worker_env, "KB_EMBEDDING_PROVIDER": "openai", "KB_EMBEDDING_MODEL": "text-embedding-3-small",
               "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": fake.api_key}
        handle = Worker(env).start()
        try:
            doc = _upload(tenant, "Saturday 9 to 12.")
            wait_for(lambda: _status(doc) in ("ready", "failed"), timeout=90)
        finally:
            handle.kill()
        assert doc.status == "ready", doc.ingest_error
        assert [r.status for r in fake.requests] == [429, 200]
    job = models.IngestJob.objects.get(document=doc)
    assert job.stats["embedding_tokens"] > 0
