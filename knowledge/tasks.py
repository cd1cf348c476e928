"""django-q2 entry points: take ids, call a service. Nothing else lives here."""

from __future__ import annotations

from knowledge import ingestion


def ingest_job(job_id: int) -> str:
    return ingestion.run_job(job_id=job_id)


def reap_stale_jobs() -> dict[str, int]:
    return ingestion.reap_stale_jobs(runner="cluster")


def sweep_files() -> dict[str, int]:
    from knowledge import purge, taskruns

    with taskruns.record(name="file-sweep", runner="cluster") as run:
        run.counts.update(purge.sweep_files().as_dict())
    return dict(run.counts)


def sweep_budget_reservations() -> int:
    from knowledge import budgets, taskruns

    with taskruns.record(name="budget-sweep", runner="cluster") as run:
        run.counts["released"] = budgets.sweep()
        run.counts["query_tokens_flushed"] = budgets.flush_queries()
    return int(run.counts["released"])
