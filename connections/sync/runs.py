"""SyncRun rows through the job-row state machine (knowledge.ingestion.jobs.JobTable): claim,
heartbeat, finish and fail write through its one claim predicate. Pausing (throttling) is
this module's own transition: the row goes back to ``queued`` with ``resume_at`` and gives
the attempt back, since a throttled attempt did not fail."""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from connections import models
from knowledge.ingestion.jobs import JobTable

logger = logging.getLogger(__name__)

SYNC_RUNS = JobTable(model=models.SyncRun)
TASK_FUNC = "connections.tasks.sync_run"
TASK_GROUP = "sync"


def task_name(run_id: int) -> str:
    return f"sync-run-{run_id}"


def claim(*, run_id: int) -> models.SyncRun | None:
    """Take a queued run whose pause (if any) is over. None when someone else has it, it is
    paused, finished, or another run of its connection is running (one at a time)."""
    now = timezone.now()
    if models.SyncRun.objects.filter(pk=run_id, resume_at__gt=now).exists():
        return None
    try:
        with transaction.atomic():
            won = SYNC_RUNS.claim(pk=run_id)
    except IntegrityError:  # syncrun_one_running_per_conn: the connection has a running run
        return None
    if not won:
        return None
    return models.SyncRun.objects.select_related("connection", "connection__tenant").get(pk=run_id)


def save_progress(*, run: models.SyncRun, counts: dict[str, int], item_errors: list[dict[str, str]]) -> bool:
    """Counts and item errors so far (inside the page's transaction). False: the claim is lost."""
    return bool(models.SyncRun.objects.filter(SYNC_RUNS.holds(pk=run.pk, attempt=run.attempts)).update(
        counts=counts, item_errors=item_errors, heartbeat_at=timezone.now(),
    ))


def pause(*, run: models.SyncRun, seconds: float, reason: str) -> datetime:
    """Throttled: back to ``queued`` until ``resume_at``; the attempt is given back. The task
    is sent again for then (the scheduler's tick also picks paused runs up)."""
    resume_at = timezone.now() + timedelta(seconds=max(seconds, 1.0))
    won = models.SyncRun.objects.filter(SYNC_RUNS.holds(pk=run.pk, attempt=run.attempts)).update(
        status=models.RunStatus.QUEUED, resume_at=resume_at, attempts=F("attempts") - 1,
        heartbeat_at=timezone.now(), error=reason[:1000], updated_at=timezone.now(),
    )
    if won:
        transaction.on_commit(lambda: enqueue(run_id=run.pk, at=resume_at))
    return resume_at


def requeue(*, run: models.SyncRun, reason: str, delay: float = 30.0) -> bool:
    """A provider error a later attempt may not meet: retry later while attempts are left."""
    resume_at = timezone.now() + timedelta(seconds=delay)
    won = bool(models.SyncRun.objects.filter(SYNC_RUNS.holds(pk=run.pk, attempt=run.attempts)).update(
        status=models.RunStatus.QUEUED, resume_at=resume_at, error=reason[:1000],
        heartbeat_at=timezone.now(), updated_at=timezone.now(),
    ))
    if won:
        transaction.on_commit(lambda: enqueue(run_id=run.pk, at=resume_at))
    return won


def succeed(*, run: models.SyncRun, counts: dict[str, int], item_errors: list[dict[str, str]]) -> bool:
    return SYNC_RUNS.finish(
        pk=run.pk, attempt=run.attempts, status=models.RunStatus.SUCCEEDED,
        counts=counts, item_errors=item_errors, resume_at=None, error="",
    )


def fail(*, run: models.SyncRun, reason: str, counts: dict[str, int] | None = None,
         item_errors: list[dict[str, str]] | None = None) -> bool:
    fields: dict[str, Any] = {"resume_at": None}
    if counts is not None:
        fields["counts"] = counts
    if item_errors is not None:
        fields["item_errors"] = item_errors
    return SYNC_RUNS.fail(pk=run.pk, attempt=run.attempts, error=reason[:2000], **fields)


def heartbeat(run: models.SyncRun) -> Any:
    return SYNC_RUNS.heartbeat(pk=run.pk, attempt=run.attempts, every=settings.KB_INGEST_HEARTBEAT_SECONDS)


def enqueue(*, run_id: int, at: datetime | None = None) -> None:
    """Send the run's task now, or schedule it once for ``at`` (a paused run)."""
    if at is not None and at > timezone.now():
        from django_q.models import Schedule

        Schedule.objects.create(
            func=TASK_FUNC, args=repr(run_id), name=f"{task_name(run_id)}-{int(at.timestamp())}",
            schedule_type=Schedule.ONCE, next_run=at, repeats=1,
        )
        return
    from django_q.tasks import async_task

    async_task(TASK_FUNC, run_id, task_name=task_name(run_id), group=TASK_GROUP,
               timeout=settings.KB_INGEST_TIMEOUT)


def reap_stale(*, now: datetime | None = None) -> int:
    """Running rows whose worker stopped heartbeating go back to the queue (or fail when out
    of attempts). SyncRun has no ``queued_at``, so this is not JobTable.reap_one."""
    now = now or timezone.now()
    before = now - timedelta(seconds=settings.KB_INGEST_STALE_SECONDS)
    taken = 0
    for run in models.SyncRun.objects.filter(SYNC_RUNS.stale(before=before)).only("pk", "attempts", "max_attempts"):
        still = models.SyncRun.objects.filter(SYNC_RUNS.holds(pk=run.pk, attempt=run.attempts), heartbeat_at__lt=before)
        if run.attempts >= run.max_attempts:
            taken += still.update(status=models.RunStatus.FAILED, finished_at=now, updated_at=now,
                                  error=f"gave up after {run.attempts} attempts: the worker stopped during the sync")
        elif still.update(status=models.RunStatus.QUEUED, updated_at=now,
                          error=f"attempt {run.attempts} stopped responding; retrying"):
            taken += 1
            transaction.on_commit(functools.partial(enqueue, run_id=run.pk))
    return taken
