"""The real worker: qcluster processes, claims, heartbeats, reaping after SIGKILL."""

from __future__ import annotations

import io
import signal
from typing import Any

import pytest

from knowledge import ingestion, models, services
from tests.conftest import wait_for

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


def test_a_job_killed_mid_run_is_reaped_and_finishes_once(
    tenant: models.Tenant, worker: Any, settings: Any
) -> None:
    # Stop the worker first so the job is claimed by a worker we then kill at once.
    text = "\n\n".join(
        f"## Section {i}\n\n" + ("Our office offers cleaning and whitening. " * 20)
        for i in range(40)
    )
    doc = _upload(tenant, text, "big.md")
    job = models.IngestJob.objects.get(document=doc)
    wait_for(
        lambda: models.IngestJob.objects.filter(pk=job.pk).exclude(status="queued").exists(),
        timeout=60,
    )
    worker.kill(signal.SIGKILL)
    job.refresh_from_db()
    if job.status == "ready":
        pytest.skip("the job finished before it could be killed")
    assert job.status == "running" and job.attempts == 1
    # Nothing half-written is visible.
    assert not models.Chunk.objects.filter(document=doc).exists()
    settings.KB_INGEST_STALE_SECONDS = 2
    models.IngestJob.objects.filter(pk=job.pk).update(
        heartbeat_at=models.IngestJob.objects.get(pk=job.pk).heartbeat_at
        - __import__("datetime").timedelta(seconds=5)
    )
    assert ingestion.reap_stale_jobs()["requeued"] == 1
    worker.start()
    wait_for(lambda: _status(doc) in ("ready", "failed"), timeout=90)
    job.refresh_from_db()
    assert doc.status == "ready" and job.status == "ready"
    assert job.attempts == 2
    assert models.Chunk.objects.filter(document=doc).count() == doc.chunk_count
    indexes = list(models.Chunk.objects.filter(document=doc).values_list("chunk_index", flat=True))
    assert indexes == list(range(len(indexes)))
