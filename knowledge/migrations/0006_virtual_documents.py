"""Virtual documents: one identity per source item (``external_id`` absorbs ``source_id``),
the document's connection and parent, the chunk's connection, the upload dedupe rule per
tenant, scope and owner (DESIGN §3, §6)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import F
from django.db.models.functions import Cast


def source_id_to_external_id(apps, schema_editor):  # type: ignore[no-untyped-def]
    Document = apps.get_model("knowledge", "Document")
    Document.objects.filter(external_id="").exclude(source_id="").update(external_id=F("source_id"))
    # An upload's identity is its own id (its dedupe rule is its bytes, DESIGN §6).
    Document.objects.filter(external_id="", source_kind="upload").update(
        external_id=Cast("id", models.CharField())
    )


def external_id_to_source_id(apps, schema_editor):  # type: ignore[no-untyped-def]
    Document = apps.get_model("knowledge", "Document")
    Document.objects.update(source_id=F("external_id"))


class Migration(migrations.Migration):

    dependencies = [
        ('connections', '0001_initial'),
        ('knowledge', '0005_worker_liveness_task_runs'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='document',
            name='doc_upload_sha_per_tenant_uniq',
        ),
        migrations.RemoveIndex(
            model_name='document',
            name='doc_tenant_source',
        ),
        migrations.RenameField(
            model_name='ingestjob',
            old_name='source_id',
            new_name='external_id',
        ),
        migrations.RunPython(source_id_to_external_id, external_id_to_source_id),
        migrations.RemoveField(
            model_name='document',
            name='source_id',
        ),
        migrations.AddField(
            model_name='chunk',
            name='connection',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='connections.connection'),
        ),
        migrations.AddField(
            model_name='document',
            name='connection',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='documents', to='connections.connection'),
        ),
        migrations.AddField(
            model_name='document',
            name='parent',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.RESTRICT, related_name='attachments', to='knowledge.document'),
        ),
        migrations.AddIndex(
            model_name='document',
            index=models.Index(fields=['tenant', 'source_kind', 'external_id'], name='doc_tenant_source'),
        ),
        migrations.AddConstraint(
            model_name='document',
            constraint=models.UniqueConstraint(condition=models.Q(('external_id', ''), _negated=True), fields=('tenant', 'connection', 'source_kind', 'external_id'), name='doc_source_identity_uniq', nulls_distinct=False),
        ),
        migrations.AddConstraint(
            model_name='document',
            constraint=models.UniqueConstraint(condition=models.Q(('source_kind', 'upload')), fields=('tenant', 'scope', 'owner', 'content_sha256'), name='doc_upload_sha_uniq', nulls_distinct=False),
        ),
    ]
