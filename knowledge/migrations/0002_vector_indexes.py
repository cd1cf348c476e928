"""HNSW (cosine) indexes per embedding dimension, and the scheduled maintenance tasks.

The chunk embedding column has no fixed dimension (switching the model is a re-index, not a
schema change), so each supported dimension gets a partial expression index; retrieval
queries use the same cast and predicate. pgvector below 0.8.2 leaks data in *parallel* HNSW
builds (CVE-2026-3172): the build runs with parallel maintenance workers off.
"""

from django.db import migrations

DIMENSIONS = (384, 768, 1024, 1536)


def _create_sql(dim: int) -> str:
    return (
        f"CREATE INDEX IF NOT EXISTS chunk_embedding_hnsw_{dim} ON knowledge_chunk "
        f"USING hnsw ((embedding::vector({dim})) vector_cosine_ops) "
        f"WITH (m = 16, ef_construction = 64) WHERE embedding_dim = {dim}"
    )


def create_indexes(apps, schema_editor):
    with schema_editor.connection.cursor() as cur:
        cur.execute("SET LOCAL max_parallel_maintenance_workers = 0")
        for dim in DIMENSIONS:
            cur.execute(_create_sql(dim))


def drop_indexes(apps, schema_editor):
    with schema_editor.connection.cursor() as cur:
        for dim in DIMENSIONS:
            cur.execute(f"DROP INDEX IF EXISTS chunk_embedding_hnsw_{dim}")


def schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="kb-reap-stale-ingest-jobs",
        defaults={"func": "knowledge.tasks.reap_stale_jobs", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="kb-reap-stale-ingest-jobs").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes),
        migrations.RunPython(schedule, unschedule),
    ]
