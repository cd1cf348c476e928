"""The database cache table django-q2 keeps cluster stats in (read by /api/v1/health)."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0002_vector_indexes")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
