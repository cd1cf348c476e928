"""Purge (issue 11): documents go with their chunks, jobs and files; removed personal content
is redacted in recall audit rows; deleting a user or a tenant leaves no file behind; the
sweep removes stored files no row refers to, never a young one."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client

from audit.models import RecallAudit
from knowledge import models, purge, services, tasks
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

PRIVATE = "Olga's private note: the boat trip is on Saturday with the parking pass."
SHARED = "# Parking\n\nFree parking is behind the building on Saturday.\n"


def _upload(tenant: models.Tenant, text: str, name: str = "doc.txt") -> models.Document:
    return services.document_upload(tenant=tenant, fileobj=io.BytesIO(text.encode()), filename=name).document


def _make_personal(doc: models.Document, owner: Any) -> models.Document:
    models.Document.objects.filter(pk=doc.pk).update(scope="personal", owner=owner)
    models.Chunk.objects.filter(document=doc).update(scope="personal", owner=owner)
    doc.refresh_from_db()
    return doc


def _path(doc: models.Document) -> str:
    return str(doc.file.path)


@pytest.fixture
def owner(make_user: Callable[..., Any], tenant: models.Tenant) -> Any:
    return make_user("olga", tenant=tenant, role="support", is_staff=True)


def test_purging_a_set_of_documents_removes_rows_chunks_jobs_and_files_and_returns_a_receipt(
    tenant: models.Tenant, other_tenant: models.Tenant, run_jobs: Callable[[], list[str]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    gone = [_upload(tenant, f"Saturday {i} to 12, parking is free.", f"d{i}.txt") for i in range(2)]
    kept = _upload(tenant, "Sunday closed.", "kept.txt")
    foreign = _upload(other_tenant, "Saturday 1 to 12, parking is free.", "d1.txt")
    run_jobs()
    paths = [_path(d) for d in gone]
    chunks = models.Chunk.objects.filter(document__in=gone).count()
    assert chunks >= 2 and all(os.path.exists(p) for p in paths)

    with django_capture_on_commit_callbacks(execute=True):
        # The queryset names another tenant's document too: it is not touched.
        receipt = purge.documents_purge(
            tenant=tenant, documents=models.Document.objects.filter(pk__in=[d.pk for d in gone] + [foreign.pk]),
            reason="test",
        )
    assert (receipt.documents, receipt.chunks, receipt.files, receipt.audit_rows_redacted) == (2, chunks, 2, 0)
    assert receipt.finished_at is not None and set(receipt.as_dict()) == {
        "documents", "chunks", "files", "audit_rows_redacted", "finished_at"}
    assert not models.Document.objects.filter(pk__in=[d.pk for d in gone]).exists()
    assert not models.Chunk.objects.filter(document_id__in=[d.pk for d in gone]).exists()
    assert not models.IngestJob.objects.filter(document_id__in=[d.pk for d in gone]).exists()
    assert not any(os.path.exists(p) for p in paths)
    assert os.path.exists(_path(kept)) and os.path.exists(_path(foreign))
    assert models.Chunk.objects.filter(document=foreign).exists()


def test_files_are_not_deleted_when_the_purge_rolls_back(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]], django_capture_on_commit_callbacks: Any
) -> None:
    doc = _upload(tenant, "Saturday 9 to 12.")
    run_jobs()
    with django_capture_on_commit_callbacks(execute=False) as callbacks, pytest.raises(RuntimeError), \
            transaction.atomic():
        purge.document_purge(document=doc, reason="test")
        raise RuntimeError("rolled back")
    assert callbacks == [] and os.path.exists(_path(doc)) and models.Document.objects.filter(pk=doc.pk).exists()


def test_purging_personal_content_redacts_its_text_and_name_in_recall_audit_rows(
    tenant: models.Tenant, owner: Any, retrieval_on: Any, login: Callable[..., Client],
    ingest_text: Callable[..., models.Document], django_capture_on_commit_callbacks: Any,
) -> None:
    personal = _make_personal(ingest_text(PRIVATE, name="boat-trip.txt"), owner)
    shared = ingest_text(SHARED, name="parking.md")
    response = ApiClient(client=login(owner)).post("/api/v1/retrieve", {"query": "saturday parking boat trip"})
    assert response.status_code == 200
    audit_id = response.json()["audit_id"]
    hits = {h["document_id"]: h for h in RecallAudit.objects.get(pk=audit_id).results}
    assert "boat trip" in hits[personal.pk]["text"]

    with django_capture_on_commit_callbacks(execute=True):
        receipt = purge.user_purge(user=owner, tenant=tenant, reason="erasure")
    assert (receipt.documents, receipt.files, receipt.audit_rows_redacted) == (1, 1, 1)
    row = RecallAudit.objects.get(pk=audit_id)
    hits = {h["document_id"]: h for h in row.results}
    assert hits[personal.pk]["redacted"] is True
    assert hits[personal.pk]["text"] == "" and hits[personal.pk]["document_name"] == ""
    assert "boat trip" not in str(row.results) and "boat-trip" not in str(row.results)
    # The row stays, and shared content in it is untouched.
    assert row.query and "Free parking" in hits[shared.pk]["text"] and "redacted" not in hits[shared.pk]


def test_purging_shared_content_keeps_its_audit_text(
    tenant: models.Tenant, retrieval_on: Any, retrieve_key: str, ingest_text: Callable[..., models.Document]
) -> None:
    shared = ingest_text(SHARED, name="parking.md")
    audit_id = ApiClient(retrieve_key).post("/api/v1/retrieve", {"query": "parking"}).json()["audit_id"]
    receipt = purge.document_purge(document=shared, reason="test")
    assert receipt.audit_rows_redacted == 0
    assert "Free parking" in str(RecallAudit.objects.get(pk=audit_id).results)


def test_user_purge_in_one_tenant_keeps_their_personal_documents_in_another(
    tenant: models.Tenant, other_tenant: models.Tenant, owner: Any, run_jobs: Callable[[], list[str]],
) -> None:
    here = _make_personal(_upload(tenant, "mine here"), owner)
    there = _make_personal(_upload(other_tenant, "mine there"), owner)
    shared = _upload(tenant, "everyone's")
    run_jobs()
    receipt = purge.user_purge(user=owner, tenant=tenant, reason="left the tenant")
    assert receipt.documents == 1
    assert not models.Document.objects.filter(pk=here.pk).exists()
    assert models.Document.objects.filter(pk__in=[there.pk, shared.pk]).count() == 2
    assert purge.user_purge(user=owner, reason="erasure").documents == 1
    assert not models.Document.objects.filter(pk=there.pk).exists()


def test_deleting_a_user_in_the_admin_removes_their_files(
    tenant: models.Tenant, owner: Any, make_user: Callable[..., Any], login: Callable[..., Client],
    run_jobs: Callable[[], list[str]], django_capture_on_commit_callbacks: Any,
) -> None:
    doc = _make_personal(_upload(tenant, "Olga's private note."), owner)
    shared = _upload(tenant, "Saturday 9 to 12.")
    run_jobs()
    path = _path(doc)
    root = make_user("root", is_staff=True, is_superuser=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = login(root).post(f"/admin/auth/user/{owner.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not type(owner).objects.filter(pk=owner.pk).exists()
    assert not models.Document.objects.filter(pk=doc.pk).exists() and not os.path.exists(path)
    assert os.path.exists(_path(shared))


def test_deleting_a_tenant_leaves_no_files_behind(
    tenant: models.Tenant, other_tenant: models.Tenant, run_jobs: Callable[[], list[str]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    docs = [_upload(tenant, "Saturday 9 to 12."), _upload(tenant, "Sunday closed.")]
    other = _upload(other_tenant, "Sunday closed.")
    run_jobs()
    paths = [_path(d) for d in docs]
    with django_capture_on_commit_callbacks(execute=True):
        receipt = purge.tenant_delete(tenant=tenant, reason="closed account")
    assert (receipt.documents, receipt.files) == (2, 2)
    assert not models.Tenant.objects.filter(pk=tenant.pk).exists() and not any(os.path.exists(p) for p in paths)
    assert os.path.exists(_path(other))
    # A plain delete (the Django admin, a shell) goes through the purge as well.
    paths = [_path(other)]
    with django_capture_on_commit_callbacks(execute=True):
        other_tenant.delete()
    assert not any(os.path.exists(p) for p in paths)


def test_the_sweep_deletes_old_orphaned_files_but_never_young_or_referenced_ones(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]], settings: Any, tmp_path: Any,
) -> None:
    # A media root of its own: the shared test one holds files of other tests' rolled-back rows.
    settings.MEDIA_ROOT = str(tmp_path / "media")
    doc = _upload(tenant, "Saturday 9 to 12.")
    folder = os.path.dirname(_path(doc))
    orphan_old = os.path.join(folder, "0" * 32)
    orphan_young = os.path.join(folder, "1" * 32)
    gone_tenant_dir = os.path.join(os.path.dirname(folder), "999999")
    os.makedirs(gone_tenant_dir, exist_ok=True)
    orphan_of_gone_tenant = os.path.join(gone_tenant_dir, "2" * 32)
    for path in (orphan_old, orphan_young, orphan_of_gone_tenant):
        with open(path, "wb") as fh:
            fh.write(b"left behind")
    two_hours_ago = time.time() - 7200
    for path in (orphan_old, orphan_of_gone_tenant, _path(doc)):
        os.utime(path, (two_hours_ago, two_hours_ago))

    result = purge.sweep_files(grace_minutes=60, dry_run=True)
    assert result.deleted == 2 and os.path.exists(orphan_old)
    call_command("kb_sweep_files", "--grace-minutes", "60", stdout=io.StringIO())
    assert not os.path.exists(orphan_old) and not os.path.exists(orphan_of_gone_tenant)
    assert os.path.exists(orphan_young) and os.path.exists(_path(doc))
    run = models.TaskRun.objects.get(name="file-sweep")
    assert run.status == "ok" and run.counts["deleted"] == 2 and run.runner == "kb_sweep_files"
    os.remove(orphan_young)


def test_the_scheduled_file_sweep_leaves_a_task_run_row(db: Any) -> None:
    counts = tasks.sweep_files()
    run = models.TaskRun.objects.get(name="file-sweep", runner="cluster")
    assert run.status == "ok" and run.counts == counts and "deleted" in counts


def test_deleting_a_document_over_the_api_deletes_its_file_and_not_another_tenants(
    api: ApiClient, other_api: ApiClient, tenant: models.Tenant, django_capture_on_commit_callbacks: Any,
) -> None:
    doc = _upload(tenant, "Saturday 9 to 12.")
    path = _path(doc)
    assert other_api.delete(f"/api/v1/kb/files/{doc.pk}").status_code == 404
    assert os.path.exists(path)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/kb/files/{doc.pk}").status_code == 204
    assert not os.path.exists(path)
