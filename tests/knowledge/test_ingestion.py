"""The ingestion façade and pipeline, run in-process (the worker tests run it in qcluster)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from knowledge import budgets, ingestion, models, services
from knowledge.ingestion import pipeline

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
    assert set(job.stats["timings_ms"]) >= {"read", "extract", "chunk", "embed", "store"}
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
    budgets.budget_set(tenant=tenant, monthly_tokens=10)
    budgets.charge(tenant_id=tenant.pk, model="hash:hash-384", tokens=10)
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


def test_a_job_of_a_document_deleted_before_it_is_claimed_does_not_run(tenant: Any) -> None:
    doc = _upload(tenant, "Saturday 9 to 12.")
    job = doc.jobs.get()
    services.document_delete(document=doc)
    assert ingestion.run_job(job_id=job.pk) == "not-claimed"
    assert not models.Chunk.objects.filter(document_id=doc.pk).exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_deleting_a_document_while_its_job_is_running_leaves_no_chunks(
    tenant: models.Tenant, worker_env: dict[str, str]
) -> None:
    """The delete lands while a real worker is inside the job (waiting on the embeddings API):
    whatever the worker does next, nothing of the document stays, the job does not stay
    running, and the worker goes on to the next job."""
    from tests.conftest import Worker, wait_for
    from tests.knowledge.test_worker import SlowOpenAI

    fake = SlowOpenAI()
    with fake:
        fake.delay = 4
        env = {**worker_env, "KB_EMBEDDING_PROVIDER": "openai", "KB_EMBEDDING_MODEL": "text-embedding-3-small",
               "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": fake.api_key, "KB_OPENAI_MAX_RETRIES": "0"}
        worker = Worker(env).start()
        try:
            doc = _upload(tenant, "# Hours\n\nSaturday 9 to 12.\n\n# Parking\n\nFree lot behind the building.")
            job = doc.jobs.get()
            wait_for(lambda: fake.started >= 1, timeout=60)  # claimed, extracted, chunked, embedding
            job.refresh_from_db()
            assert job.status == models.JobStatus.RUNNING
            services.document_delete(document=doc)
            fake.delay = 0
            # One worker process: once the next upload is ready, the deleted one's job is over.
            after = _upload(tenant, "Parking is free behind the building.", "parking.txt")
            wait_for(lambda: models.Document.objects.get(pk=after.pk).status in ("ready", "failed"), timeout=90)
            assert worker.alive()
        finally:
            worker.kill()
    assert len(fake.requests) >= 2  # the deleted document's embedding call was answered
    assert models.Document.objects.get(pk=after.pk).status == "ready"
    assert not models.Document.objects.filter(pk=doc.pk).exists()
    assert not models.Chunk.objects.filter(document_id=doc.pk).exists()
    assert not models.IngestJob.objects.filter(
        pk=job.pk, status__in=[models.JobStatus.QUEUED, models.JobStatus.RUNNING]
    ).exists()


# --- embed-only jobs ---------------------------------------------------------------------


def _reindex_embed_missing(tenant: models.Tenant) -> str:
    out = io.StringIO()
    call_command("kb_reindex", "--tenant", tenant.slug, "--embed-missing", "--no-progress", stdout=out)
    return out.getvalue()


def test_embed_missing_leaves_a_failed_document_and_its_reason_alone(tenant: Any, run_jobs: Any) -> None:
    doc = services.document_upload(
        tenant=tenant, fileobj=io.BytesIO(b"%PDF-1.4\nnot really a pdf at all"), filename="x.pdf"
    ).document
    assert run_jobs() == ["failed"]
    doc.refresh_from_db()
    reason = doc.ingest_error
    assert doc.status == "failed" and reason
    assert "0 documents" in _reindex_embed_missing(tenant)  # nothing to embed: not selected
    outcome = ingestion.request_ingestion(document=doc, embed_only_missing=True)
    assert outcome.outcome == "skipped" and "no stored chunks" in outcome.reason
    assert run_jobs() == []
    doc.refresh_from_db()
    assert (doc.status, doc.ingest_error) == ("failed", reason)


def test_embed_missing_leaves_an_uploaded_document_untouched(tenant: Any, run_jobs: Any) -> None:
    doc = _upload(tenant, "Saturday 9 to 12.", auto_ingest=False)
    assert "0 documents" in _reindex_embed_missing(tenant)
    outcome = ingestion.request_ingestion(document=doc, embed_only_missing=True)
    assert outcome.outcome == "skipped"
    assert run_jobs() == []
    doc.refresh_from_db()
    assert (doc.status, doc.ingest_error, doc.chunk_count) == ("uploaded", "", 0)
    assert not models.Chunk.objects.filter(document=doc).exists()


def test_embed_missing_skips_a_tenant_with_embeddings_off_and_fails_nothing(
    tenant: Any, run_jobs: Any
) -> None:
    tenant.embeddings_enabled = False
    tenant.save()
    doc = _upload(tenant, "Saturday 9 to 12.")
    assert run_jobs() == ["ready"]
    out = _reindex_embed_missing(tenant)
    assert "1 documents: queued=0, duplicate=0, skipped=1" in out
    assert run_jobs() == []
    job = doc.jobs.filter(embed_only_missing=True).get()
    assert job.status == "skipped" and job.skip_reason == "embeddings are disabled for this tenant"
    doc.refresh_from_db()
    assert (doc.status, doc.ingest_error) == ("ready", "")


def test_embed_missing_selects_only_documents_with_chunks_to_embed(tenant: Any, run_jobs: Any) -> None:
    _upload(tenant, "Saturday 9 to 12.")
    run_jobs()
    assert "0 documents" in _reindex_embed_missing(tenant)  # every chunk has the current model


def test_embed_missing_keeps_the_documents_status_and_error(
    tenant: Any, run_jobs: Any, settings: Any
) -> None:
    settings.KB_EMBEDDINGS_ENABLED = False
    doc = _upload(tenant, "Saturday 9 to 12.")
    run_jobs()
    note = "the latest re-ingest failed, the previous version is still served: test"
    models.Document.objects.filter(pk=doc.pk).update(ingest_error=note)
    settings.KB_EMBEDDINGS_ENABLED = True
    assert ingestion.request_ingestion(document=doc, embed_only_missing=True).outcome == "queued"
    doc.refresh_from_db()
    assert (doc.status, doc.ingest_error) == ("ready", note)
    assert run_jobs() == ["ready"]
    doc.refresh_from_db()
    assert (doc.status, doc.ingest_error) == ("ready", note)
    assert not models.Chunk.objects.filter(document=doc, embedding__isnull=True).exists()


def test_embed_missing_writes_the_embeddings_in_one_batch(
    tenant: Any, run_jobs: Any, settings: Any, django_assert_max_num_queries: Any
) -> None:
    settings.KB_EMBEDDINGS_ENABLED = False
    text = "\n\n".join(f"Paragraph {i}. " + "Opening hours are Monday to Friday. " * 25 for i in range(30))
    doc = _upload(tenant, text, "long.txt")
    run_jobs()
    doc.refresh_from_db()
    assert doc.chunk_count >= 25
    settings.KB_EMBEDDINGS_ENABLED = True
    ingestion.request_ingestion(document=doc, embed_only_missing=True)
    with django_assert_max_num_queries(15):
        assert run_jobs() == ["ready"]
    assert models.Chunk.objects.filter(document=doc, embedding_model="hash:hash-384").count() == doc.chunk_count


def test_request_ingestion_locks_the_document_but_not_its_tenant(tenant: Any) -> None:
    # A lock on the tenant row would block every insert referencing it (retrieval audit rows).
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    doc = _upload(tenant, "Saturday 9 to 12.", auto_ingest=False)
    with CaptureQueriesContext(connection) as queries:
        assert ingestion.request_ingestion(document=doc).outcome == "queued"
    locks = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert locks and all(sql.endswith('FOR UPDATE OF "knowledge_document"') for sql in locks)


# --- model names, errors -----------------------------------------------------------------


def test_the_configured_model_name_is_the_one_chunks_record_for_an_alias(settings: Any) -> None:
    settings.KB_EMBEDDING_PROVIDER = "local"
    settings.KB_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
    assert ingestion.configured_embedding_model() == "local:all-MiniLM-L6-v2"
    settings.KB_EMBEDDING_PROVIDER = "hash"
    settings.KB_EMBEDDING_MODEL = "hash-128"
    assert ingestion.configured_embedding_model() == "hash:hash-128"


def test_a_database_outage_is_retried_not_a_permanent_failure(
    tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    doc = _upload(tenant, "Saturday 9 to 12.")
    job = doc.jobs.get()

    def unreachable(document: models.Document) -> bytes:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(pipeline, "read_source", unreachable)
    assert ingestion.run_job(job_id=job.pk) == "queued"
    job.refresh_from_db()
    assert job.status == "queued" and job.attempts == 1
    assert "database could not be reached" in job.error and "retrying" in job.error
    doc.refresh_from_db()
    assert doc.status != "failed"


def test_an_unexpected_error_fails_the_job_without_promising_a_notification(
    tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _upload(tenant, "Saturday 9 to 12.")
    job = doc.jobs.get()

    def broken(document: models.Document) -> bytes:
        raise RuntimeError("boom")

    monkeypatch.setattr(pipeline, "read_source", broken)
    assert ingestion.run_job(job_id=job.pk) == "failed"
    job.refresh_from_db()
    assert "RuntimeError" in job.error and "notified" not in job.error
    assert "boom" not in job.error  # the detail is in the log, not shown to the tenant
    doc.refresh_from_db()
    assert doc.status == "failed" and doc.ingest_error == job.error


# --- reaper: lost tasks ------------------------------------------------------------------


def _wait_since(job: models.IngestJob, minutes: float) -> dt.datetime:
    long_ago = timezone.now() - dt.timedelta(minutes=minutes)
    models.IngestJob.objects.filter(pk=job.pk).update(queued_at=long_ago, updated_at=long_ago)
    return long_ago


def test_reaper_resends_a_long_queued_job_whose_task_is_in_no_queue_once(
    tenant: Any, settings: Any
) -> None:
    from django_q.models import OrmQ

    settings.KB_INGEST_LOST_SECONDS = 60
    OrmQ.objects.all().delete()
    doc = _upload(tenant, "Saturday 9 to 12.")  # its task is never sent: no commit in this test
    job = doc.jobs.get()
    _wait_since(job, 5)
    assert ingestion.reap_stale_jobs()["resent"] == 1
    assert [m.name() for m in OrmQ.objects.all()] == [f"ingest-job-{job.pk}"]
    job.refresh_from_db()
    assert job.status == "queued" and job.updated_at > timezone.now() - dt.timedelta(minutes=1)
    assert job.queued_at is not None and job.queued_at < timezone.now() - dt.timedelta(minutes=4)  # health still sees the wait
    _wait_since(job, 5)
    assert ingestion.reap_stale_jobs()["resent"] == 0  # its task is in the queue now
    assert OrmQ.objects.count() == 1


def test_reaper_resends_only_the_jobs_whose_task_is_in_no_queue(tenant: Any, settings: Any) -> None:
    from django_q.models import OrmQ

    settings.KB_INGEST_LOST_SECONDS = 60
    OrmQ.objects.all().delete()
    lost = _upload(tenant, "Saturday 9 to 12.").jobs.get()
    behind = _upload(tenant, "Parking is free.", "p.txt").jobs.get()
    recent = _upload(tenant, "Closed on Sundays.", "s.txt").jobs.get()
    _wait_since(lost, 5)
    _wait_since(behind, 5)
    ingestion.enqueue(job_id=behind.pk)  # waiting behind a backlog (or taken by a pusher)
    assert ingestion.reap_stale_jobs()["resent"] == 1
    assert sorted(m.name() for m in OrmQ.objects.all()) == sorted(
        [f"ingest-job-{lost.pk}", f"ingest-job-{behind.pk}"]
    )
    recent.refresh_from_db()
    assert recent.status == "queued"  # queued a moment ago: its task may be on its way


def test_a_neutralise_step_plugs_in_without_touching_the_other_steps(
    tenant: Any, run_jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def neutralise(work: pipeline.Work) -> None:  # what the PII neutraliser will do
        for section in work.sections:
            section.text = section.text.replace("555-0100", "<PHONE>")
        work.stats.counts["neutralised"] = 1

    steps = dict(pipeline.STEPS)
    assert list(steps) == ["read", "extract", "neutralise", "chunk", "embed"]
    monkeypatch.setattr(pipeline, "STEPS", tuple({**steps, "neutralise": neutralise}.items()))
    doc = _upload(tenant, "# Contact\n\nCall Dr. Reyes on 555-0100 after 9.")
    run_jobs()
    doc.refresh_from_db()
    assert doc.status == "ready"
    texts = list(models.Chunk.objects.filter(document=doc).values_list("text", flat=True))
    assert texts and all("555-0100" not in t for t in texts) and any("<PHONE>" in t for t in texts)
    job = doc.jobs.get()
    assert job.stats["neutralised"] == 1 and "neutralise" in job.stats["timings_ms"]
