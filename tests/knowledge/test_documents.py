"""Virtual documents, one way in (knowledge.documents): identity, hashes, renames, removal,
uploads through the same module, and no revision lost to a job in flight."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError

from kbsite.errors import InvalidInput
from knowledge import documents, ingestion, models, services
from knowledge.ingestion import pipeline, store
from knowledge.ingestion.pipeline import Stats, Work

MAIL = "Subject: Saturday hours\n\nWe are open on Saturday from 9 to 12."


def _put(tenant: models.Tenant, text: str | None, **kw: Any) -> documents.PutResult:
    args: dict[str, Any] = {"source_kind": "outlook", "external_id": "msg-1", "title": "Saturday hours"}
    args.update(kw)
    return documents.document_put(tenant=tenant, text=text, **args)


def test_a_put_creates_a_virtual_document_with_its_hash_and_queues_it_in_the_same_transaction(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]]
) -> None:
    result = _put(tenant, MAIL, revision="ck-1", metadata={"link": "https://outlook.example/msg-1"})
    doc = result.document
    assert result.created and result.content_changed and result.ingestion is not None
    assert result.ingestion.outcome == "queued"
    assert doc.content_sha256 == hashlib.sha256(MAIL.encode()).hexdigest()
    assert doc.inline_text == MAIL and not doc.file and doc.revision == "ck-1"
    assert doc.metadata["link"] == "https://outlook.example/msg-1"
    run_jobs()
    doc.refresh_from_db()
    assert doc.status == "ready" and doc.chunk_count >= 1
    job = models.IngestJob.objects.get(document=doc)
    assert job.external_id == "msg-1"


def test_an_unchanged_hash_queues_nothing_even_when_the_revision_changed(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]]
) -> None:
    doc = _put(tenant, MAIL, revision="ck-1").document
    run_jobs()
    chunk_ids = sorted(models.Chunk.objects.filter(document=doc).values_list("pk", flat=True))
    again = _put(tenant, MAIL, revision="ck-2")
    assert not again.created and not again.content_changed and again.ingestion is None
    assert again.document.pk == doc.pk and again.document.revision == "ck-2"
    assert models.IngestJob.objects.filter(document=doc).count() == 1
    assert sorted(models.Chunk.objects.filter(document=doc).values_list("pk", flat=True)) == chunk_ids


def test_a_rename_updates_the_name_and_the_chunks_title_without_reembedding(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]]
) -> None:
    doc = _put(tenant, MAIL, title="Old subject").document
    run_jobs()
    before = {c.pk: c.embedding.tolist() for c in models.Chunk.objects.filter(document=doc)}
    renamed = _put(tenant, None, title="Weekend opening hours / Saturday").document
    assert renamed.name == "Weekend opening hours / Saturday"
    assert models.IngestJob.objects.filter(document=doc).count() == 1
    chunks = list(models.Chunk.objects.filter(document=doc))
    assert {c.pk: c.embedding.tolist() for c in chunks} == before
    assert {c.metadata["title"] for c in chunks} == {"Weekend opening hours / Saturday"}
    # The search vector follows the new title: a word only in it now finds the chunk.
    assert models.Chunk.objects.filter(document=doc, search_vector="weekend").exists()


def test_a_move_to_personal_updates_the_chunks_filter_columns(
    tenant: models.Tenant, make_user: Callable[..., Any], run_jobs: Callable[[], list[str]]
) -> None:
    olga = make_user("olga", tenant=tenant, role="member")
    doc = _put(tenant, MAIL).document
    run_jobs()
    _put(tenant, MAIL, scope="personal", owner=olga)
    assert set(models.Chunk.objects.filter(document=doc).values_list("scope", "owner_id")) == {
        ("personal", olga.pk)
    }


def test_the_identity_is_unique_per_tenant_connection_kind_and_external_id(tenant: models.Tenant) -> None:
    first = _put(tenant, "one", source_kind="snapshot", external_id="profile").document
    second = _put(tenant, "two", source_kind="snapshot", external_id="profile").document
    assert first.pk == second.pk and second.inline_text == "two"
    with pytest.raises(IntegrityError):  # NULL connections are equal here (snapshots)
        models.Document.objects.create(
            tenant=tenant, name="x", source_kind="snapshot", external_id="profile", content_sha256="0" * 64
        )


def test_new_content_from_bytes_replaces_the_file_and_deletes_the_old_one_on_commit(
    tenant: models.Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    doc = documents.document_put(
        tenant=tenant, source_kind="onedrive", external_id="f1", title="hours.txt", data=b"Open 9-5.",
    ).document
    old_path = doc.file.path
    with django_capture_on_commit_callbacks(execute=True):
        doc = documents.document_put(
            tenant=tenant, source_kind="onedrive", external_id="f1", title="hours.txt", data=b"Open 9-6.",
        ).document
    assert doc.file.read() == b"Open 9-6."
    import os

    assert not os.path.exists(old_path)


def test_remove_by_identity_deletes_the_document_its_attachments_and_chunks(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]]
) -> None:
    parent = _put(tenant, MAIL).document
    child = documents.document_put(
        tenant=tenant, source_kind="outlook", external_id="msg-1/att-1", title="menu.txt",
        data=b"Lunch menu: soup.", parent=parent,
    ).document
    run_jobs()
    assert documents.document_remove(tenant=tenant, source_kind="outlook", external_id="msg-1")
    assert not models.Document.objects.filter(pk__in=[parent.pk, child.pk]).exists()
    assert not models.Chunk.objects.filter(document_id__in=[parent.pk, child.pk]).exists()
    assert not documents.document_remove(tenant=tenant, source_kind="outlook", external_id="msg-1")


def test_remove_leaves_another_tenants_document_with_the_same_identity(
    tenant: models.Tenant, other_tenant: models.Tenant
) -> None:
    _put(tenant, MAIL)
    theirs = _put(other_tenant, MAIL).document
    assert documents.document_remove(tenant=tenant, source_kind="outlook", external_id="msg-1")
    assert models.Document.objects.filter(pk=theirs.pk).exists()


def test_a_personal_put_needs_an_owner_and_uploads_are_not_put(tenant: models.Tenant) -> None:
    with pytest.raises(InvalidInput):
        _put(tenant, MAIL, scope="personal")
    with pytest.raises(InvalidInput):
        _put(tenant, MAIL, source_kind="upload")


def test_the_same_bytes_uploaded_personally_and_shared_are_two_documents(
    tenant: models.Tenant, make_user: Callable[..., Any]
) -> None:
    olga = make_user("olga", tenant=tenant, role="member")
    shared = services.document_upload(tenant=tenant, fileobj=io.BytesIO(b"Parking behind."), filename="p.txt")
    again = services.document_upload(tenant=tenant, fileobj=io.BytesIO(b"Parking behind."), filename="q.txt")
    mine = documents.document_upload(
        tenant=tenant, fileobj=io.BytesIO(b"Parking behind."), filename="p.txt", scope="personal", owner=olga,
    )
    assert again.duplicate and again.document.pk == shared.document.pk
    assert not mine.duplicate and mine.document.pk != shared.document.pk
    assert shared.document.external_id == str(shared.document.pk)


# --- no revision is lost (DESIGN §4) ----------------------------------------------------------


def test_a_new_revision_while_the_first_is_queued_supersedes_it(tenant: models.Tenant) -> None:
    first = _put(tenant, "Revision one: open Monday.").ingestion
    second = _put(tenant, "Revision two: open Tuesday.").ingestion
    assert first is not None and second is not None and first.job and second.job
    assert second.outcome == "queued" and second.job.pk != first.job.pk
    first.job.refresh_from_db()
    assert first.job.status == "skipped" and "superseded" in first.job.skip_reason


def test_a_new_revision_after_the_claim_is_never_stored_under_the_old_work(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]]
) -> None:
    doc = _put(tenant, "Revision one: the clinic opens on Monday.").document
    job_id = models.IngestJob.objects.get(document=doc, status="queued").pk
    job = ingestion.claim(job_id=job_id)
    assert job is not None
    work = Work(job=job, stats=Stats())
    for name, step in pipeline.STEPS:
        if name == "embed":
            break
        step(work)
    pipeline.embed(work)  # revision one's vectors are computed…
    rev2 = "Revision two: the clinic opens on Tuesday."
    outcome = _put(tenant, rev2).ingestion  # …then revision two lands, before the store
    assert outcome is not None and outcome.outcome == "queued"
    with pytest.raises(ingestion.Superseded):
        store.store(work)
    assert not models.Chunk.objects.filter(document=doc).exists()
    # The worker's path: the stale job ends skipped, revision two's job stores revision two.
    from knowledge.ingestion import runner

    assert runner.supersede(job=job, stats=work.stats) == "skipped"
    run_jobs()
    doc.refresh_from_db()
    assert doc.status == "ready"
    assert doc.content_sha256 == hashlib.sha256(rev2.encode()).hexdigest()
    texts = " ".join(models.Chunk.objects.filter(document=doc).values_list("text", flat=True))
    assert "Tuesday" in texts and "Monday" not in texts
