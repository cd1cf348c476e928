"""The reaper: takes back jobs whose worker died and re-sends tasks that were lost.

It must not depend on the cluster it watches being healthy, so it runs from several places
(each run leaves a ``TaskRun`` row saying where): the ``kb_serve``/``kb_worker`` supervisor
on a timer, ``kb_reap --loop`` (the production service), the web process on health checks
when no other reaper has run for a while, and the cluster's own schedule.

* **Stale jobs** — ``running`` with a heartbeat older than ``KB_INGEST_STALE_SECONDS``:
  back in the queue (their task sent again), or failed after the attempt limit.
* **Lost tasks** — a job ``queued`` for longer than ``KB_INGEST_LOST_SECONDS`` whose task is
  in no broker queue (a crash between commit and enqueue, a purged queue): its task is sent
  again. Tasks a killed pusher or a killed cluster had taken stay in the ORM broker's table,
  locked; django-q2 delivers them again when the lock (``Q_CLUSTER["retry"]``,
  ``KB_TASK_RETRY_SECONDS``) runs out. A duplicate task is harmless: only one can claim.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from knowledge import models, taskruns
from knowledge.ingestion import facade, store
from knowledge.ingestion.jobs import INGEST_JOBS

logger = logging.getLogger(__name__)

TASK_RUN_NAME = "ingest-reaper"
_ADVISORY_LOCK = 0x6B625F72  # "kb_r": one opportunistic reaper at a time across web processes


def reap_stale_jobs(*, runner: str = "cluster") -> dict[str, int]:
    """One reaper pass, recorded as a task run. Returns its counts."""
    with taskruns.record(name=TASK_RUN_NAME, runner=runner) as run:
        counts = _reap()
        run.counts = counts
    if any(counts.values()):
        logger.warning("reaper (%s): %s", runner, ", ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def reap_if_due(*, runner: str, max_age_seconds: float) -> dict[str, int] | None:
    """Reap unless a reaper (anywhere) started within ``max_age_seconds``; None if skipped.

    For callers that are not reapers by trade (the health endpoint): at most one of them
    reaps at a time, and only while the real reapers are not running.
    """
    last = taskruns.last_started(name=TASK_RUN_NAME)
    if last is not None and (timezone.now() - last).total_seconds() < max_age_seconds:
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [_ADVISORY_LOCK])
        row = cur.fetchone()
    if not row or not row[0]:
        return None
    try:
        last = taskruns.last_started(name=TASK_RUN_NAME)
        if last is not None and (timezone.now() - last).total_seconds() < max_age_seconds:
            return None
        return reap_stale_jobs(runner=runner)
    finally:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", [_ADVISORY_LOCK])


def _reap() -> dict[str, int]:
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.KB_INGEST_STALE_SECONDS)
    requeued = failed = 0
    stale = models.IngestJob.objects.filter(INGEST_JOBS.stale(before=stale_before))
    for job in stale.only("pk", "attempts", "max_attempts", "document_id", "tenant_id", "embed_only_missing"):
        with transaction.atomic():
            outcome = INGEST_JOBS.reap_one(
                pk=job.pk, attempt=job.attempts, max_attempts=job.max_attempts, stale_before=stale_before
            )
            if outcome == "failed":
                job.refresh_from_db(fields=["error"])
                store.mark_document_failed(job=job, reason=job.error)
                failed += 1
            elif outcome == "requeued":
                transaction.on_commit(functools.partial(facade.enqueue, job_id=job.pk))
                requeued += 1
    return {"requeued": requeued, "failed": failed, "resent": _resend_lost(now=now)}


def _resend_lost(*, now: datetime) -> int:
    waited = now - timedelta(seconds=settings.KB_INGEST_LOST_SECONDS)
    candidates = list(
        models.IngestJob.objects.filter(
            status=models.JobStatus.QUEUED, queued_at__lt=waited, updated_at__lt=waited
        ).values_list("pk", "updated_at")
    )
    if not candidates:
        return 0
    pending = _pending_task_names()
    resent = 0
    for pk, updated_at in candidates:
        if pending is None or facade.task_name(pk) in pending:
            continue
        # Conditional, so that of two reapers only one sends the task.
        if models.IngestJob.objects.filter(
            pk=pk, status=models.JobStatus.QUEUED, updated_at=updated_at
        ).update(updated_at=now):
            facade.enqueue(job_id=pk)
            resent += 1
    return resent


def _pending_task_names() -> set[str] | None:
    """Names of the tasks in the broker, waiting or taken (ORM broker); None when that cannot
    be known (another broker with tasks waiting: a job may just be behind a backlog)."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf
    from django_q.models import OrmQ

    if not Conf.ORM:
        return set() if get_broker().queue_size() == 0 else None
    names: set[str] = set()
    for message in OrmQ.objects.using(Conf.ORM).all().iterator():
        try:
            names.add(str(message.name()))
        except Exception:  # a message signed with another key cannot be read: not ours
            logger.debug("broker message %s is unreadable", message.pk, exc_info=True)
    return names
