"""The daily retention purge of recall audits (KB_AUDIT_RETENTION_DAYS), run by the worker."""

import datetime as dt

from django.db import migrations
from django.utils import timezone

NAME = "kb-purge-recall-audits"


def schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    now = timezone.now()
    # Daily, at a quiet hour (03:30 UTC), starting with the next one.
    first = now.replace(hour=3, minute=30, second=0, microsecond=0)
    if first <= now:
        first += dt.timedelta(days=1)
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={
            "func": "audit.tasks.purge_old_recalls", "schedule_type": "D", "repeats": -1, "next_run": first,
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
