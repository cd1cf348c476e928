"""The scheduler's tick (a django-q2 schedule every minute): a delta run for each active
connection whose ``next_sync_at`` is due (``KB_SYNC_INTERVAL_MINUTES``) and that has no run
queued or running (one run at a time per connection); paused runs whose ``resume_at`` has
passed are sent again; running runs whose worker died are taken back."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connections import models
from connections.sync import runs

ACTIVE_RUN_STATUSES = (models.RunStatus.QUEUED, models.RunStatus.RUNNING)


@dataclass
class TickResult:
    scheduled: int = 0
    resumed: int = 0
    reaped: int = 0


def tick() -> TickResult:
    now = timezone.now()
    result = TickResult(reaped=runs.reap_stale(now=now))
    due = models.Connection.objects.filter(
        Q(next_sync_at__lte=now) | Q(next_sync_at__isnull=True, last_sync_at__isnull=False),
        status=models.ConnectionStatus.ACTIVE,
    ).exclude(runs__status__in=ACTIVE_RUN_STATUSES).values_list("pk", flat=True)
    for connection_id in due:
        with transaction.atomic():
            connection = models.Connection.objects.select_for_update().filter(
                pk=connection_id, status=models.ConnectionStatus.ACTIVE
            ).first()
            if connection is None or connection.runs.filter(status__in=ACTIVE_RUN_STATUSES).exists():
                continue
            run = models.SyncRun.objects.create(
                tenant_id=connection.tenant_id, connection=connection, kind=models.RunKind.DELTA,
                trigger=models.RunTrigger.SCHEDULE,
            )
            transaction.on_commit(functools.partial(runs.enqueue, run_id=run.pk))
            result.scheduled += 1
    paused = models.SyncRun.objects.filter(status=models.RunStatus.QUEUED, resume_at__lte=now).values_list("pk", flat=True)
    for run_id in paused:
        runs.enqueue(run_id=run_id)
        result.resumed += 1
    return result
