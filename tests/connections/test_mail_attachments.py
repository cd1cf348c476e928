"""Outlook attachments as child documents of their mail (DESIGN §9), against the local Graph
server: real client code, real database, ingestion in process, retrieval through the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from connections import models
from connections.sync import engine
from connections.sync import microsoft as ms_sync
from knowledge import models as kb
from tests.connections.test_sync import Sync, add_source, docs, retrieved, texts
from tests.fakes.msgraph_server import FakeMicrosoft

pytestmark = pytest.mark.django_db

PRICES = b"Price list 2027. A root canal treatment costs 640 euros; a crown costs 890 euros."
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def sync(run_jobs: Callable[[], list[str]]) -> Sync:
    """A run of ``kind`` in process (pauses waived), then the ingestion."""

    def go(connection: models.Connection, kind: str = "delta") -> models.SyncRun:
        run = models.SyncRun.objects.create(tenant=connection.tenant, connection=connection, kind=kind)
        for _ in range(10):
            if engine.run(run_id=run.pk) != engine.PAUSED:
                break
            models.SyncRun.objects.filter(pk=run.pk).update(resume_at=timezone.now())
        run_jobs()
        run.refresh_from_db()
        return run

    return go


@pytest.fixture
def inbox(ms: FakeMicrosoft) -> str:
    return ms.store.mail_folder_id("inbox") or ""


def _mail_with_prices(ms: FakeMicrosoft, inbox: str) -> tuple[str, str]:
    message = ms.store.mail_add(folder_id=inbox, subject="Our new prices", body="<p>See the attached list.</p>")
    attachment = ms.store.attachment_add(message, name="prices-2027.txt", content=PRICES)
    return message, attachment


def test_a_mails_file_attachment_is_retrievable_as_a_child_document_of_the_mail(
    ms: FakeMicrosoft, connection: models.Connection, inbox: str, sync: Sync, retrieval_on: Any, retrieve_api: Any
) -> None:
    message, _ = _mail_with_prices(ms, inbox)
    ms.store.attachment_add(message, name="logo.png", content=PNG, is_inline=True)  # an image in the body
    ms.store.attachment_add(message, name="Forwarded question", content=b"From: x", kind="item")
    ms.store.attachment_add(message, name="plan.docx", content=b"", kind="reference")
    ms.store.mail_add(folder_id=inbox, subject="No attachment here", body="Just text about parking.")
    add_source(connection, surface="mail_folder", root_id=inbox, mail_tier="body")

    run = sync(connection, "backfill")

    assert run.status == "succeeded", run.error
    assert run.counts["failed"] == 0, run.item_errors
    mail = kb.Document.objects.get(connection=connection, external_id=message)
    [child] = kb.Document.objects.filter(connection=connection, parent=mail)
    assert child.name == "prices-2027.txt" and child.file and child.status == "ready"
    assert child.source_kind == "outlook" and child.scope == mail.scope
    assert "640 euros" in texts(child)
    assert "640 euros" in retrieved(retrieve_api, "how much does a root canal cost")
    assert len(docs(connection)) == 3  # two mails and one attachment: inline, item and link skipped
    listed = ms.requests_to("/attachments")
    assert [r.path for r in listed if not r.path.endswith("$value")] == [f"/v1.0/me/messages/{message}/attachments"]


def test_a_mail_deleted_at_the_source_takes_its_attachments_with_it(
    ms: FakeMicrosoft, connection: models.Connection, inbox: str, sync: Sync, retrieval_on: Any, retrieve_api: Any
) -> None:
    message, _ = _mail_with_prices(ms, inbox)
    add_source(connection, surface="mail_folder", root_id=inbox)
    sync(connection, "backfill")
    assert "640 euros" in retrieved(retrieve_api, "root canal price")

    ms.store.mail_delete(message)
    run = sync(connection)

    assert run.status == "succeeded", run.error
    assert run.counts["deleted"] == 1
    assert not kb.Document.objects.filter(connection=connection).exists()
    assert not kb.Chunk.objects.filter(connection=connection).exists()
    assert "640 euros" not in retrieved(retrieve_api, "root canal price")


def test_an_oversized_attachment_is_recorded_on_the_run_and_the_rest_of_the_mail_lands(
    ms: FakeMicrosoft, connection: models.Connection, inbox: str, sync: Sync, settings: Any
) -> None:
    settings.KB_MAX_UPLOAD_MB = 1
    message, _ = _mail_with_prices(ms, inbox)
    ms.store.attachment_add(message, name="scan-archive.txt", content=b"x" * (1024 * 1024 + 10))
    add_source(connection, surface="mail_folder", root_id=inbox)

    run = sync(connection, "backfill")

    assert run.status == "succeeded", run.error
    assert run.counts["failed"] == 1
    [error] = run.item_errors
    assert error["title"] == "scan-archive.txt" and "limit" in error["error"]
    mail = kb.Document.objects.get(connection=connection, external_id=message)
    assert [d.name for d in kb.Document.objects.filter(parent=mail)] == ["prices-2027.txt"]
    # Refused on the size Graph reports: the big attachment's bytes were never asked for.
    assert not [r for r in ms.requests_to("/$value") if "scan-archive" in r.path]
    assert len(ms.requests_to("/$value")) == 1


def test_the_runs_table_names_the_attachment_that_failed_and_why(
    ms: FakeMicrosoft, connection: models.Connection, inbox: str, sync: Sync, settings: Any, admin_member: Any,
    login: Callable[..., Any],
) -> None:
    settings.KB_MAX_UPLOAD_MB = 1
    message = ms.store.mail_add(folder_id=inbox, subject="Scans", body="Attached.")
    ms.store.attachment_add(message, name="scan-archive.txt", content=b"x" * (1024 * 1024 + 10))
    add_source(connection, surface="mail_folder", root_id=inbox)
    sync(connection, "backfill")

    page = login(admin_member).get(f"/kb/connections/{connection.pk}/runs/")

    assert page.status_code == 200
    assert "1 item error" in page.content.decode()
    assert "scan-archive.txt: scan-archive.txt is " in page.content.decode()


def test_an_unchanged_mail_asks_nothing_about_its_attachments_on_the_next_delta(
    ms: FakeMicrosoft, connection: models.Connection, inbox: str, sync: Sync
) -> None:
    _mail_with_prices(ms, inbox)
    add_source(connection, surface="mail_folder", root_id=inbox)
    sync(connection, "backfill")
    before = len(ms.requests)

    run = sync(connection)

    assert run.counts == {**models.empty_counts()}
    assert [r.path for r in ms.requests[before:]] == [f"/v1.0/me/mailFolders/{inbox}/messages/delta"]


def test_an_attachment_removed_at_the_source_leaves_and_a_new_one_arrives(
    ms: FakeMicrosoft, connection: models.Connection, inbox: str, sync: Sync, run_jobs: Any
) -> None:
    message, attachment = _mail_with_prices(ms, inbox)
    add_source(connection, surface="mail_folder", root_id=inbox)
    sync(connection, "backfill")
    mail = kb.Document.objects.get(connection=connection, external_id=message)
    last_job = kb.IngestJob.objects.order_by("-pk").values_list("pk", flat=True).first()

    ms.store.attachment_delete(message, attachment)
    ms.store.attachment_add(message, name="opening-hours.md", content=b"# Hours\n\nOpen Saturdays 9 to 12.")
    run = sync(connection)

    assert run.status == "succeeded", run.error
    assert [d.name for d in kb.Document.objects.filter(parent=mail)] == ["opening-hours.md"]
    assert run.counts["deleted"] == 1 and run.counts["created"] == 1
    # The mail's own text did not change: only the new attachment was embedded.
    assert list(kb.IngestJob.objects.filter(pk__gt=last_job).values_list("document__name", flat=True)) == [
        "opening-hours.md"]


def test_a_full_resync_keeps_attachments_and_makes_no_duplicates(
    ms: FakeMicrosoft, connection: models.Connection, inbox: str, sync: Sync
) -> None:
    message, _ = _mail_with_prices(ms, inbox)
    add_source(connection, surface="mail_folder", root_id=inbox)
    sync(connection, "backfill")
    ms.expire_delta_links()

    run = sync(connection)

    assert run.status == "succeeded", run.error
    assert run.counts["deleted"] == 0 and run.counts["created"] == 0
    mail = kb.Document.objects.get(connection=connection, external_id=message)
    assert kb.Document.objects.filter(parent=mail).count() == 1
    assert kb.Document.objects.filter(connection=connection).count() == 2


def test_the_metadata_tier_takes_no_attachments(
    ms: FakeMicrosoft, connection: models.Connection, inbox: str, sync: Sync
) -> None:
    _mail_with_prices(ms, inbox)
    add_source(connection, surface="mail_folder", root_id=inbox, mail_tier="metadata")

    run = sync(connection, "backfill")

    assert run.counts["created"] == 1
    assert not kb.Document.objects.filter(connection=connection, parent__isnull=False).exists()
    assert not ms.requests_to("/attachments")


def test_an_attachment_counts_in_the_connections_documents_and_is_purged_with_it(
    ms: FakeMicrosoft, connection: models.Connection, inbox: str, sync: Sync, api: Any
) -> None:
    _mail_with_prices(ms, inbox)
    add_source(connection, surface="mail_folder", root_id=inbox)
    sync(connection, "backfill")
    assert api.get(f"/api/v1/connections/{connection.pk}").json()["counts"]["documents"] == 2

    assert api.delete(f"/api/v1/connections/{connection.pk}").status_code == 202
    purge = models.SyncRun.objects.get(connection=connection, kind="purge")
    assert engine.run(run_id=purge.pk) == "succeeded"
    connection.refresh_from_db()
    assert connection.status == "purged" and (connection.purge_receipt or {}).get("documents") == 2
    assert not kb.Document.objects.filter(connection=connection).exists()


def test_attachment_identities_stay_within_the_identity_column() -> None:
    long_message = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A" * 5
    long_attachment = "AAMkAGE1M2IyNGNmLTI5MTktNDUyZi1iOTVl" * 8
    external_id = ms_sync.attachment_external_id(long_message, long_attachment)
    assert len(external_id) <= (kb.Document._meta.get_field("external_id").max_length or 0)
    assert external_id != ms_sync.attachment_external_id(long_message, long_attachment + "x")
