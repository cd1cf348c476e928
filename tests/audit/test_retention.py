"""Recall audit retention: KB_AUDIT_RETENTION_DAYS, the daily purge schedule and command."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import Schedule

from audit import services, tasks
from audit.models import RecallAudit
from knowledge import models


def make_recall(tenant: models.Tenant, *, age_days: float, query: str = "q") -> RecallAudit:
    row = RecallAudit.objects.create(tenant=tenant, query=query)
    RecallAudit.objects.filter(pk=row.pk).update(created_at=timezone.now() - dt.timedelta(days=age_days))
    return row


@pytest.fixture
def aged(tenant: models.Tenant, other_tenant: models.Tenant) -> dict[str, RecallAudit]:
    return {
        "old": make_recall(tenant, age_days=40),
        "other_old": make_recall(other_tenant, age_days=31),
        "recent": make_recall(tenant, age_days=29),
        "new": make_recall(other_tenant, age_days=0),
    }


def test_purge_deletes_only_rows_older_than_the_retention(settings: Any, aged: dict[str, RecallAudit]) -> None:
    settings.KB_AUDIT_RETENTION_DAYS = 30
    assert services.recall_purge() == 2
    assert set(RecallAudit.objects.values_list("pk", flat=True)) == {aged["recent"].pk, aged["new"].pk}


def test_purge_works_in_batches(tenant: models.Tenant) -> None:
    old = [make_recall(tenant, age_days=400 - i) for i in range(7)]
    kept = make_recall(tenant, age_days=1)
    with CaptureQueriesContext(connection) as ctx:
        assert services.recall_purge(older_than_days=90, batch=3) == 7
    deletes = [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("DELETE")]
    # 3 + 3 + 1 rows: three DELETE statements, oldest rows first, none larger than a batch.
    assert len(deletes) == 3
    batches = [{row.pk for row in old if str(row.pk) in re.findall(r"\d+", sql)} for sql in deletes]
    assert batches == [{r.pk for r in old[:3]}, {r.pk for r in old[3:6]}, {old[6].pk}]
    assert list(RecallAudit.objects.values_list("pk", flat=True)) == [kept.pk]


def test_scheduled_task_uses_the_setting(settings: Any, aged: dict[str, RecallAudit]) -> None:
    settings.KB_AUDIT_RETENTION_DAYS = 35
    assert tasks.purge_old_recalls() == 1
    assert not RecallAudit.objects.filter(pk=aged["old"].pk).exists()


def test_the_scheduled_purge_leaves_a_task_run_with_what_it_did(settings: Any, aged: dict[str, RecallAudit]) -> None:
    from knowledge.models import TaskRun

    settings.KB_AUDIT_RETENTION_DAYS = 35
    tasks.purge_old_recalls()
    run = TaskRun.objects.filter(name="audit-purge").latest("started_at")
    assert run.status == "ok" and run.finished_at is not None
    assert run.counts == {"deleted": 1}


def test_management_command_purges_with_days_option(aged: dict[str, RecallAudit]) -> None:
    out = io.StringIO()
    call_command("kb_audit_purge", "--days", "1", stdout=out)
    assert "deleted 3 recall audits older than 1 days" in out.getvalue()
    assert list(RecallAudit.objects.values_list("pk", flat=True)) == [aged["new"].pk]


def test_a_daily_purge_is_scheduled_for_the_worker(db: Any) -> None:
    schedule = Schedule.objects.get(name="kb-purge-recall-audits")
    assert schedule.func == "audit.tasks.purge_old_recalls"
    assert schedule.schedule_type == Schedule.DAILY and schedule.repeats == -1
