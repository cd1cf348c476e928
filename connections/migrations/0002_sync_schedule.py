"""The sync scheduler (connections.sync.tick), run by the worker every minute: it queues a
delta for each active connection that is due (KB_SYNC_INTERVAL_MINUTES) and resumes paused
runs."""

from django.db import migrations

NAME = "kb-sync-tick"


def schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME,
        defaults={"func": "connections.sync.tick", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
