"""Task runs: every background task leaves a row saying what it did (writes and reads).

Wrap a task's body in :func:`record`; put what it did in ``run.counts``::

    with taskruns.record(name="audit-purge", runner="cluster") as run:
        run.counts["deleted"] = services.recall_purge()

The row is written when the run starts (status ``running``) and closed when it ends (``ok``,
or ``failed`` with the exception's type and message; the exception is re-raised). Rows
older than ``KB_TASK_RUN_RETENTION_DAYS`` of the same task are pruned as it records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from knowledge import models

logger = logging.getLogger(__name__)


@contextmanager
def record(*, name: str, runner: str = "") -> Iterator[models.TaskRun]:
    now = timezone.now()
    run = models.TaskRun.objects.create(name=name, runner=runner[:64], started_at=now)
    try:
        yield run
    except BaseException as exc:
        _close(run, status=models.TaskRunStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    _close(run, status=models.TaskRunStatus.OK)


def _close(run: models.TaskRun, *, status: str, error: str = "") -> None:
    try:
        run.status = status
        run.error = error
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at", "counts"])
        keep_after = run.started_at - timedelta(days=settings.KB_TASK_RUN_RETENTION_DAYS)
        models.TaskRun.objects.filter(name=run.name, started_at__lt=keep_after).delete()
    except Exception:  # the database may be what failed; the task's own error matters more
        logger.warning("could not record the end of task run %s", run.pk, exc_info=True)


def last_started(*, name: str) -> Any:
    """When the task last started (any runner), or None."""
    return models.TaskRun.objects.filter(name=name).aggregate(at=Max("started_at"))["at"]


def recent(*, limit_per_task: int = 1) -> list[dict[str, Any]]:
    """The latest runs of each task, newest first: what health and the jobs page show."""
    now = timezone.now()
    names = models.TaskRun.objects.order_by().values_list("name", flat=True).distinct()
    rows: list[dict[str, Any]] = []
    for name in sorted(names):
        for run in models.TaskRun.objects.filter(name=name)[:limit_per_task]:
            rows.append({
                "name": run.name,
                "runner": run.runner,
                "status": run.status,
                "started_at": run.started_at.isoformat(),
                "age_s": round((now - run.started_at).total_seconds(), 1),
                "duration_ms": (
                    round((run.finished_at - run.started_at).total_seconds() * 1000, 1) if run.finished_at else None
                ),
                "counts": run.counts,
                "error": run.error,
            })
    return rows
