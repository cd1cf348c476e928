"""The ingestion façade and pipeline, run in-process (the worker tests run it in qcluster)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from knowledge import ingestion, models, services

pytestmark = pytest.mark.django_db


def _upload(tenant: models.Tenant, text: str, name: str = "doc.md", **kw: Any) -> models.Document:
    return services.document_upload(
        tenant=tenant, fileobj=io.BytesIO(text.encode()), filename=name, **kw
    ).document


def test_ingestion_makes_a_document_ready_with_chunks_and_stats(tenant: Any, run_jobs: Any) -> None:
    doc = _upload(
        tenant,
        "# Office hours\n\n## Weekend\n\nSaturday 9 to 12.\n\n# Parking\n\nFree lot.",
        "info.md",
    )
    assert doc.status == "queued"
    assert run_jobs() == ["ready"]
    doc.refresh_from_db()
    assert (
        doc.status == "ready"
        and doc.ingested_at
        and doc.chunk_count >= 1
        and doc.ingest_error == ""
    )
    job = doc.jobs.get()
    assert job.status == "ready" and job.attempts == 1 and job.trigger == "upload"
    assert job.stats["chars"] > 0 and job.stats["chunks"] == doc.chunk_count
    assert job.embedding_model == "hash:hash-384"
    chunk = models.Chunk.objects.filter(document=doc).get(chunk_index=0)
    assert chunk.embedding_dim == 384 and chunk.kind == "knowledge" and chunk.search_vector
    assert any("Weekend" in c.heading for c in models.Chunk.objects.filter(document=doc))


def test_reingesting_unchanged_content_is_a_duplicate_and_costs_nothing(
    tenant: Any, run_jobs: Any
) -> None:
    doc = _upload(tenant, "Saturday 9 to 12.")
    run_jobs()
    doc.refresh_from_db()
    outcome = ingestion.request_ingestion(document=doc)
    assert outcome.outcome == "duplicate"
    assert models.IngestJob.objects.filter(document=doc).count() == 1
    assert run_jobs() == []


def test_get_ingestion_status_reports_the_document_and_its_latest_job(tenant: Any, other_tenant: Any, run_jobs: Any) -> None:
    from kbsite.errors import NotFound

    doc = _upload(tenant, "Saturday 9 to 12.")
    queued = ingestion.get_ingestion_status(tenant=tenant, document_id=doc.pk)
    assert queued.document_status == "queued" and queued.job is not None and queued.job.status == "queued"
    run_jobs()
    ready = ingestion.get_ingestion_status(tenant=tenant, document_id=doc.pk)
    assert ready.document_status == "ready" and ready.chunk_count >= 1
    assert ready.job is not None and ready.job.status == "ready"
    with pytest.raises(NotFound):
        ingestion.get_ingestion_status(tenant=other_tenant, document_id=doc.pk)


def test_a_request_while_one_is_in_flight_is_a_duplicate(tenant: Any) -> None:
    doc = _upload(tenant, "Saturday 9 to 12.")
    again = ingestion.request_ingestion(document=doc, force=True)
    assert again.outcome == "duplicate" and again.reason == "ingestion already in progress"
    assert models.IngestJob.objects.filter(document=doc).count() == 1


def test_force_reingests_and_replaces_chunks_as_a_whole(tenant: Any, run_jobs: Any) -> None:
    doc = _upload(tenant, "Saturday 9 to 12.")
    run_jobs()
    old_ids = set(models.Chunk.objects.filter(document=doc).values_list("pk", flat=True))
    outcome = ingestion.request_ingestion(document=doc, force=True)
    assert outcome.outcome == "queued"
    # The previous version is still served while the new one is pending.
    assert set(models.Chunk.objects.filter(document=doc).values_list("pk", flat=True)) == old_ids
    run_jobs()
    new_ids = set(models.Chunk.objects.filter(document=doc).values_list("pk", flat=True))
    assert new_ids and not (new_ids & old_ids)


def test_a_job_can_only_be_claimed_once(tenant: Any) -> None:
    doc = _upload(tenant, "Saturday 9 to 12.")
    job = doc.jobs.get()
    assert ingestion.claim(job_id=job.pk) is not None
    assert ingestion.claim(job_id=job.pk) is None
    assert ingestion.run_job(job_id=job.pk) == "not-claimed"
    job.refresh_from_db()
    assert job.attempts == 1


def test_a_bad_file_fails_with_a_readable_reason(tenant: Any, run_jobs: Any) -> None:
    doc = services.document_upload(
        tenant=tenant, fileobj=io.BytesIO(b"%PDF-1.4\nnot really a pdf at all"), filename="x.pdf"
    ).document
    assert run_jobs() == ["failed"]
    doc.refresh_from_db()
    assert doc.status == "failed" and doc.ingest_error and "Traceback" not in doc.ingest_error
    assert doc.jobs.get().error == doc.ingest_error
    assert not models.Chunk.objects.filter(document=doc).exists()


def test_retry_creates_a_new_job_and_keeps_history(tenant: Any, run_jobs: Any, api: Any) -> None:
    doc = services.document_upload(
        tenant=tenant, fileobj=io.BytesIO(b"%PDF-1.4\nbroken"), filename="x.pdf"
    ).document
    run_jobs()
    failed = doc.jobs.get()
    response = api.post(f"/api/v1/kb/ingest-jobs/{failed.pk}/retry")
    assert response.status_code == 202
    assert response.json()["outcome"] == "queued"
    assert response.json()["job"]["trigger"] == "retry"
    assert doc.jobs.count() == 2


def test_retrying_a_running_job_is_a_conflict(tenant: Any, api: Any) -> None:
    doc = _upload(tenant, "Saturday 9 to 12.")
    job = doc.jobs.get()
    assert api.post(f"/api/v1/kb/ingest-jobs/{job.pk}/retry").status_code == 409


def test_ingest_endpoint_queues_then_reports_duplicate(
    tenant: Any, api: Any, run_jobs: Any
) -> None:
    doc = _upload(tenant, "Saturday 9 to 12.", auto_ingest=False)
    first = api.post(f"/api/v1/kb/files/{doc.pk}/ingest")
    assert first.status_code == 202 and first.json()["outcome"] == "queued"
    run_jobs()
    second = api.post(f"/api/v1/kb/files/{doc.pk}/ingest")
    assert second.json()["outcome"] == "duplicate"
    forced = api.post(f"/api/v1/kb/files/{doc.pk}/ingest", {"force": True})
    assert forced.json()["outcome"] == "queued"


def test_job_endpoints_list_filter_and_hide_other_tenants(
    tenant: Any, other_tenant: Any, api: Any, run_jobs: Any
) -> None:
    mine = _upload(tenant, "Saturday 9 to 12.")
    theirs = _upload(other_tenant, "Their hours.")
    run_jobs()
    listing = api.get("/api/v1/kb/ingest-jobs").json()
    assert listing["count"] == 1 and listing["items"][0]["document_id"] == mine.pk
    assert api.get("/api/v1/kb/ingest-jobs", {"status": "failed"}).json()["count"] == 0
    assert api.get("/api/v1/kb/ingest-jobs", {"document": mine.pk}).json()["count"] == 1
    their_job = theirs.jobs.get()
    assert api.get(f"/api/v1/kb/ingest-jobs/{their_job.pk}").status_code == 404
    assert api.post(f"/api/v1/kb/ingest-jobs/{their_job.pk}/retry").status_code == 404
    assert theirs.jobs.count() == 1
    job = api.get(f"/api/v1/kb/ingest-jobs/{mine.jobs.get().pk}").json()
    assert job["status"] == "ready" and "timings_ms" in job["stats"]


def test_embeddings_disabled_stores_chunks_for_lexical_search_then_embed_missing_fills_them(
    tenant: Any, run_jobs: Any, settings: Any
) -> None:
    settings.KB_EMBEDDINGS_ENABLED = False
    doc = _upload(tenant, "Saturday 9 to 12.")
    run_jobs()
    doc.refresh_from_db()
    assert doc.status == "ready"
    assert (
        models.Chunk.objects.filter(document=doc, embedding__isnull=True).count() == doc.chunk_count
    )
    settings.KB_EMBEDDINGS_ENABLED = True
    call_command(
        "kb_reindex",
        "--tenant",
        tenant.slug,
        "--embed-missing",
        "--no-progress",
        stdout=io.StringIO(),
    )
    run_jobs()
    assert models.Chunk.objects.filter(document=doc, embedding__isnull=True).count() == 0
    assert set(
        models.Chunk.objects.filter(document=doc).values_list("embedding_model", flat=True)
    ) == {"hash:hash-384"}


def test_reindex_skips_unchanged_and_force_requeues(tenant: Any, run_jobs: Any) -> None:
    _upload(tenant, "Saturday 9 to 12.")
    _upload(tenant, "Parking is free.", "p.txt")
    run_jobs()
    out = io.StringIO()
    call_command("kb_reindex", "--all", "--no-progress", stdout=out)
    assert "duplicate=2" in out.getvalue()
    out = io.StringIO()
    call_command("kb_reindex", "--tenant", tenant.slug, "--force", "--no-progress", stdout=out)
    assert "queued=2" in out.getvalue()
    assert run_jobs() == ["ready", "ready"]


def test_switching_the_model_is_a_reindex_not_a_duplicate(
    tenant: Any, run_jobs: Any, settings: Any
) -> None:
    doc = _upload(tenant, "Saturday 9 to 12.")
    run_jobs()
    settings.KB_EMBEDDING_MODEL = "hash-384-v2"
    assert ingestion.request_ingestion(document=doc).outcome == "queued"


def test_over_budget_tenants_are_skipped_with_a_reason(tenant: Any) -> None:
    tenant.embedding_token_budget = 10
    tenant.embedding_tokens_used = 10
    tenant.save()
    doc = _upload(tenant, "Saturday 9 to 12.")
    job = doc.jobs.get()
    assert job.status == "skipped" and "budget" in job.skip_reason


def test_reaper_requeues_stale_jobs_then_gives_up_after_max_attempts(
    tenant: Any, settings: Any
) -> None:
    settings.KB_INGEST_STALE_SECONDS = 5
    doc = _upload(tenant, "Saturday 9 to 12.")
    job = doc.jobs.get()
    old = timezone.now() - dt.timedelta(seconds=60)
    for attempt in range(1, job.max_attempts + 1):
        assert ingestion.claim(job_id=job.pk) is not None  # a worker takes it ...
        models.IngestJob.objects.filter(pk=job.pk).update(heartbeat_at=old)  # ... and dies
        result = ingestion.reap_stale_jobs()
        job.refresh_from_db()
        if attempt < job.max_attempts:
            assert result["requeued"] == 1 and job.status == "queued"
        else:
            assert result["failed"] == 1 and job.status == "failed"
    assert f"gave up after {job.max_attempts} attempts" in job.error
    doc.refresh_from_db()
    assert doc.status == "failed" and "gave up" in doc.ingest_error


def test_a_failed_reingest_keeps_serving_the_previous_version(
    tenant: Any, run_jobs: Any, settings: Any
) -> None:
    doc = _upload(tenant, "Saturday 9 to 12.")
    run_jobs()
    chunks = models.Chunk.objects.filter(document=doc).count()
    ingestion.request_ingestion(document=doc, force=True)
    # The stored file disappears (e.g. storage outage): the new attempt fails.
    doc.refresh_from_db()
    doc.file.storage.delete(doc.file.name)
    run_jobs()
    doc.refresh_from_db()
    assert doc.status == "ready" and "previous version is still served" in doc.ingest_error
    assert models.Chunk.objects.filter(document=doc).count() == chunks


def test_policy_ingestion_bumps_the_policy_version(tenant: Any, run_jobs: Any) -> None:
    before = tenant.policy_version
    _upload(tenant, "Never take card numbers by phone.", "policy.txt", kind="policy")
    run_jobs()
    tenant.refresh_from_db()
    assert tenant.policy_version > before


def test_deleting_during_ingestion_leaves_no_chunks(tenant: Any, run_jobs: Any) -> None:
    doc = _upload(tenant, "Saturday 9 to 12.")
    job = doc.jobs.get()
    services.document_delete(document=doc)
    assert ingestion.run_job(job_id=job.pk) == "not-claimed"
    assert not models.Chunk.objects.filter(document_id=doc.pk).exists()
