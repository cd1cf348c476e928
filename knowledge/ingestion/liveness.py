"""Is the worker making progress? Liveness read from the job rows, not from process heartbeats.

A cluster can heartbeat while it processes nothing (its processes asleep on a lock), so
health, the jobs page and the ``kb_serve`` supervisor judge the worker by its work:

* **waiting** — the oldest ``queued`` job's wait, and the ``running`` jobs whose heartbeat is
  older than ``KB_INGEST_STALE_SECONDS`` (their worker is gone; the reaper takes them back);
* **progress** — the newest heartbeat any worker wrote (claims, beats and every end of an
  attempt stamp it): a long job that still beats is progress, a backlog that drains is too.

``stalled`` — work has waited longer than ``KB_WORKER_STALLED_SECONDS`` and no worker made
progress for as long (health answers 503, ``kb_serve`` restarts its cluster);
``degraded`` — work has waited longer than ``KB_WORKER_DEGRADED_SECONDS`` (a backlog, or a
dead worker's job not reaped yet); ``ok`` otherwise, including when nothing is waiting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min
from django.utils import timezone

from knowledge import models

OK, DEGRADED, STALLED = "ok", "degraded", "stalled"


@dataclass
class Liveness:
    status: str
    queued_jobs: int
    oldest_queued_age_s: float | None
    running_jobs: int
    stale_running_jobs: int
    stale_running_ids: list[int]
    oldest_stale_heartbeat_age_s: float | None
    last_progress_age_s: float | None
    degraded_after_s: int
    stalled_after_s: int

    def as_json(self) -> dict[str, Any]:
        """Keyed ``liveness`` (not ``status``) so that it reads alone inside health's ``worker``."""
        data = asdict(self)
        return {"liveness": data.pop("status"), **data}

    @property
    def waiting_s(self) -> float:
        """How long the longest-waiting work has waited (0 when nothing waits)."""
        return max(self.oldest_queued_age_s or 0.0, self.oldest_stale_heartbeat_age_s or 0.0)


def _age(now: datetime, at: datetime | None) -> float | None:
    return None if at is None else round(max(0.0, (now - at).total_seconds()), 1)


def last_progress_at() -> datetime | None:
    """The newest heartbeat a worker wrote, across all tenants (one index probe per status)."""
    newest = [
        models.IngestJob.objects.filter(status=status).aggregate(at=Max("heartbeat_at"))["at"]
        for status in (models.JobStatus.RUNNING, models.JobStatus.READY, models.JobStatus.FAILED,
                       models.JobStatus.QUEUED)
    ]
    return max((at for at in newest if at is not None), default=None)


def worker_liveness(*, tenant: models.Tenant | None = None, progress_since: datetime | None = None) -> Liveness:
    """Liveness of the ingestion worker. With ``tenant``, the waiting work counted is that
    tenant's (the jobs page); progress is always the worker's, whoever it worked for.
    ``progress_since`` counts as progress (a supervisor that just restarted its cluster)."""
    now = timezone.now()
    jobs = models.IngestJob.objects.all()
    if tenant is not None:
        jobs = jobs.filter(tenant=tenant)
    stale_before = now - timedelta(seconds=settings.KB_INGEST_STALE_SECONDS)
    queued = jobs.filter(status=models.JobStatus.QUEUED).aggregate(n=Count("pk"), oldest=Min("queued_at"))
    running = jobs.filter(status=models.JobStatus.RUNNING).aggregate(n=Count("pk"))
    stale = list(
        jobs.filter(status=models.JobStatus.RUNNING, heartbeat_at__lt=stale_before)
        .order_by("heartbeat_at").values_list("pk", "heartbeat_at")[:50]
    )
    progress = last_progress_at()
    if progress_since is not None and (progress is None or progress_since > progress):
        progress = progress_since
    live = Liveness(
        status=OK,
        queued_jobs=queued["n"],
        oldest_queued_age_s=_age(now, queued["oldest"]),
        running_jobs=running["n"],
        stale_running_jobs=len(stale),
        stale_running_ids=[pk for pk, _ in stale],
        oldest_stale_heartbeat_age_s=_age(now, stale[0][1]) if stale else None,
        last_progress_age_s=_age(now, progress),
        degraded_after_s=settings.KB_WORKER_DEGRADED_SECONDS,
        stalled_after_s=settings.KB_WORKER_STALLED_SECONDS,
    )
    idle = live.last_progress_age_s if live.last_progress_age_s is not None else float("inf")
    if live.waiting_s > live.stalled_after_s and idle > live.stalled_after_s:
        live.status = STALLED
    elif live.waiting_s > live.degraded_after_s:
        live.status = DEGRADED
    return live
