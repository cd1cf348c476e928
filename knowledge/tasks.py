"""django-q2 entry points: take ids, call a service. Nothing else lives here."""

from __future__ import annotations

from knowledge import ingestion


def ingest_job(job_id: int) -> str:
    return ingestion.run_job(job_id=job_id)


def reap_stale_jobs() -> dict[str, int]:
    return ingestion.reap_stale_jobs(runner="cluster")
