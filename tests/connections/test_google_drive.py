"""Google Drive through the sync engine against the local Google server (real wire client,
real database, ingestion in process): exports, revisions, the changes feed, a rejected page
token, the export limit, trash and moves."""

from __future__ import annotations

from typing import Any

import pytest

from connections import models
from connections.sync import cursors
from knowledge import models as kb
from tests.connections.google_fixtures import gconnect as gconnect  # noqa: F401, PLC0414 - fixtures
from tests.connections.google_fixtures import gconnection as gconnection  # noqa: F401, PLC0414
from tests.connections.google_fixtures import gfake as gfake  # noqa: F401, PLC0414
from tests.connections.test_sync import Sync, add_source, docs, retrieved, texts
from tests.connections.test_sync import sync as sync  # noqa: F401, PLC0414 - the fixture
from tests.fakes.google_server import FakeGoogle

pytestmark = pytest.mark.django_db


@pytest.fixture
def folder(gfake: FakeGoogle) -> str:
    return gfake.store.folder_add(name="Reception")


def share(connection: models.Connection, folder_id: str, **extra: Any) -> models.ConnectionSource:
    return add_source(connection, surface="gdrive_folder", root_id=folder_id, **extra)


def test_a_backfill_exports_docs_as_text_sheets_as_csv_downloads_files_and_retrieval_finds_them(
    gfake: FakeGoogle, gconnection: models.Connection, folder: str, sync: Sync, retrieval_on: Any,
    retrieve_api: Any,
) -> None:
    store = gfake.store
    store.doc_add(name="Opening hours", text="We are open Saturdays from nine to noon.", parent_id=folder)
    store.doc_add(name="Prices", text="Treatment,Price\nWhitening,350 EUR\n", parent_id=folder, kind="spreadsheet")
    store.doc_add(name="Welcome deck", text="Parking is free behind the clinic.", parent_id=folder, kind="presentation")
    sub = store.folder_add(name="Forms", parent_id=folder)
    store.file_add(name="allergies.txt", content=b"Ask every new patient about latex allergies.", parent_id=sub)
    store.file_add(name="outside.txt", content=b"Not in the selection.")
    share(gconnection, folder)

    run = sync(gconnection, "backfill")

    assert run.status == "succeeded", run.error
    assert run.counts["created"] == 4 and run.counts["failed"] == 0
    assert [d.name for d in docs(gconnection)] == ["Opening hours", "Prices", "Welcome deck", "allergies.txt"]
    assert all(d.source_kind == "gdrive" and d.status == "ready" for d in docs(gconnection))
    assert "open Saturdays" in retrieved(retrieve_api, "are you open on saturdays")
    exports = {r.query["mimeType"] for r in gfake.requests_to("/export")}
    assert exports == {"text/plain", "text/csv"}
    assert [r.query.get("alt") for r in gfake.requests if r.path.endswith(store.files[sub].id)] == []
    revisions = {d.name: d.revision for d in docs(gconnection)}
    assert revisions["Opening hours"].startswith("v:") and revisions["allergies.txt"].startswith("md5:")


def test_the_start_page_token_is_taken_before_the_backfill(
    gfake: FakeGoogle, gconnection: models.Connection, folder: str, sync: Sync
) -> None:
    gfake.store.file_add(name="a.txt", content=b"alpha text", parent_id=folder)
    source = share(gconnection, folder)
    sync(gconnection, "backfill")

    api_calls = [r.path for r in gfake.requests if r.path.startswith("/drive/v3/")]
    assert api_calls.index("/drive/v3/changes/startPageToken") < api_calls.index("/drive/v3/files")
    state = cursors.load(source=source)
    assert state is not None and state.phase == cursors.DELTA


def test_a_doc_over_the_export_limit_is_recorded_on_the_run_and_the_others_land(
    gfake: FakeGoogle, gconnection: models.Connection, folder: str, sync: Sync
) -> None:
    gfake.export_limit = 1000
    gfake.store.doc_add(name="Huge manual", text="x " * 1000, parent_id=folder)
    gfake.store.doc_add(name="Short note", text="Bring your insurance card.", parent_id=folder)
    share(gconnection, folder)

    run = sync(gconnection, "backfill")

    assert run.status == "succeeded" and run.counts["created"] == 1 and run.counts["failed"] == 1
    [error] = run.item_errors
    assert error["title"] == "Huge manual" and "exportSizeLimitExceeded" in error["error"]
    assert [d.name for d in docs(gconnection)] == ["Short note"]


def test_a_rejected_page_token_re_enumerates_everything_and_sweeps_what_is_gone(
    gfake: FakeGoogle, gconnection: models.Connection, folder: str, sync: Sync
) -> None:
    gfake.page_size = 2
    files = [gfake.store.file_add(name=f"f{n}.txt", content=f"file {n}".encode(), parent_id=folder) for n in range(5)]
    share(gconnection, folder)
    sync(gconnection, "backfill")
    chunk_ids = set(kb.Chunk.objects.filter(document__connection=gconnection).values_list("pk", flat=True))

    gfake.store.delete(files[0])
    gfake.expire_page_tokens()
    run = sync(gconnection)

    assert run.status == "succeeded", run.error
    assert run.counts["deleted"] == 1 and run.counts["created"] == 0 and run.counts["updated"] == 0
    assert [d.name for d in docs(gconnection)] == ["f1.txt", "f2.txt", "f3.txt", "f4.txt"]
    assert any(r.status == 400 for r in gfake.requests_to("/drive/v3/changes") if r.path.endswith("/changes"))
    # The re-enumeration re-embedded nothing that was unchanged.
    left = set(kb.Chunk.objects.filter(document__connection=gconnection).values_list("pk", flat=True))
    assert left < chunk_ids
    assert run.counts["unchanged"] == 4
    after = sync(gconnection)
    assert after.status == "succeeded" and after.counts["seen"] == 0  # the fresh token is honoured


def test_a_renamed_or_moved_file_is_neither_downloaded_nor_re_embedded(
    gfake: FakeGoogle, gconnection: models.Connection, folder: str, sync: Sync
) -> None:
    item = gfake.store.file_add(name="old name.txt", content=b"Implants are placed on Tuesdays.", parent_id=folder)
    inner = gfake.store.folder_add(name="Archive", parent_id=folder)
    share(gconnection, folder)
    sync(gconnection, "backfill")
    [doc] = docs(gconnection)
    chunk_ids = list(kb.Chunk.objects.filter(document=doc).values_list("pk", flat=True))
    jobs = kb.IngestJob.objects.filter(document=doc).count()
    downloads = len([r for r in gfake.requests if r.query.get("alt") == "media"])

    gfake.store.rename(item, "new name.txt")
    gfake.store.move(item, inner)
    run = sync(gconnection)

    [doc] = docs(gconnection)
    assert doc.name == "new name.txt" and run.counts["unchanged"] == 1 and run.counts["updated"] == 0
    assert doc.metadata["parent_id"] == inner
    assert list(kb.Chunk.objects.filter(document=doc).values_list("pk", flat=True)) == chunk_ids
    assert kb.IngestJob.objects.filter(document=doc).count() == jobs
    assert len([r for r in gfake.requests if r.query.get("alt") == "media"]) == downloads


def test_a_renamed_doc_is_exported_again_but_not_re_embedded(
    gfake: FakeGoogle, gconnection: models.Connection, folder: str, sync: Sync
) -> None:
    item = gfake.store.doc_add(name="Hours", text="Open Monday to Friday.", parent_id=folder)
    share(gconnection, folder)
    sync(gconnection, "backfill")
    [doc] = docs(gconnection)
    chunk_ids = list(kb.Chunk.objects.filter(document=doc).values_list("pk", flat=True))

    gfake.store.rename(item, "Opening hours")
    run = sync(gconnection)

    [doc] = docs(gconnection)
    assert doc.name == "Opening hours" and run.counts["unchanged"] == 1
    assert list(kb.Chunk.objects.filter(document=doc).values_list("pk", flat=True)) == chunk_ids


def test_an_edited_doc_serves_the_new_text_and_not_the_old(
    gfake: FakeGoogle, gconnection: models.Connection, folder: str, sync: Sync
) -> None:
    item = gfake.store.doc_add(name="Prices", text="A cleaning costs 80 euros.", parent_id=folder)
    share(gconnection, folder)
    sync(gconnection, "backfill")

    gfake.store.file_edit(item, b"A cleaning costs 95 euros.")
    run = sync(gconnection)

    assert run.counts["updated"] == 1
    [doc] = docs(gconnection)
    assert "95 euros" in texts(doc) and "80 euros" not in texts(doc)


def test_a_trashed_file_and_a_deleted_file_are_gone_after_the_next_delta(
    gfake: FakeGoogle, gconnection: models.Connection, folder: str, sync: Sync, retrieval_on: Any,
    retrieve_api: Any,
) -> None:
    trashed = gfake.store.file_add(name="parking.txt", content=b"Free parking in the courtyard.", parent_id=folder)
    deleted = gfake.store.doc_add(name="Whitening", text="Whitening costs 299 euros.", parent_id=folder)
    gfake.store.file_add(name="hours.txt", content=b"Open on Saturdays.", parent_id=folder)
    share(gconnection, folder)
    sync(gconnection, "backfill")
    assert "courtyard" in retrieved(retrieve_api, "where can I park")

    gfake.store.trash(trashed)
    gfake.store.delete(deleted)
    run = sync(gconnection)

    assert run.counts["deleted"] == 2
    assert [d.name for d in docs(gconnection)] == ["hours.txt"]
    assert "courtyard" not in retrieved(retrieve_api, "where can I park")


def test_a_file_moved_out_of_the_selected_folder_is_removed_and_a_folder_moved_in_brings_its_files(
    gfake: FakeGoogle, gconnection: models.Connection, folder: str, sync: Sync
) -> None:
    store = gfake.store
    leaving = store.file_add(name="leaving.txt", content=b"Moves out.", parent_id=folder)
    store.file_add(name="staying.txt", content=b"Stays.", parent_id=folder)
    elsewhere = store.folder_add(name="Elsewhere")
    outside_folder = store.folder_add(name="Old forms", parent_id=elsewhere)
    store.file_add(name="consent.txt", content=b"Consent form text.", parent_id=outside_folder)
    share(gconnection, folder)
    sync(gconnection, "backfill")

    store.move(leaving, elsewhere)
    store.move(outside_folder, folder)
    run = sync(gconnection)

    assert run.status == "succeeded", run.error
    assert [d.name for d in docs(gconnection)] == ["consent.txt", "staying.txt"]

    store.move(outside_folder, elsewhere)  # and out again: its files leave with it
    sync(gconnection)
    assert [d.name for d in docs(gconnection)] == ["staying.txt"]


def test_a_shared_drive_source_syncs_its_files_and_their_changes(
    gfake: FakeGoogle, gconnection: models.Connection, sync: Sync
) -> None:
    drive = gfake.store.shared_drive_add(name="Clinic handbook")
    rules = gfake.store.doc_add(name="Hygiene rules", text="Sterilise instruments after every patient.", parent_id=drive)
    gfake.store.file_add(name="my.txt", content=b"In My Drive, not the shared drive.")
    add_source(gconnection, surface="shared_drive", root_id=drive)
    sync(gconnection, "backfill")
    assert [d.name for d in docs(gconnection)] == ["Hygiene rules"]
    assert all(r.query.get("driveId") == drive for r in gfake.requests_to("/changes/startPageToken"))

    gfake.store.trash(rules)
    run = sync(gconnection)
    assert run.counts["deleted"] == 1 and docs(gconnection) == []


def test_a_broken_file_is_recorded_and_the_others_land(
    gfake: FakeGoogle, gconnection: models.Connection, folder: str, sync: Sync
) -> None:
    bad = gfake.store.file_add(name="bad.txt", content=b"Unreadable today.", parent_id=folder)
    gfake.store.file_add(name="good.txt", content=b"Readable.", parent_id=folder)
    gfake.break_item(bad)
    share(gconnection, folder)

    run = sync(gconnection, "backfill")

    assert run.status == "succeeded" and run.counts["failed"] == 1 and run.counts["created"] == 1
    assert run.item_errors[0]["title"] == "bad.txt"


def test_a_delta_with_no_change_costs_one_changes_request_and_fetches_nothing(
    gfake: FakeGoogle, gconnection: models.Connection, folder: str, sync: Sync
) -> None:
    for n in range(3):
        gfake.store.file_add(name=f"f{n}.txt", content=f"file {n}".encode(), parent_id=folder)
    share(gconnection, folder)
    sync(gconnection, "backfill")
    before = len(gfake.requests)

    run = sync(gconnection)

    sent = gfake.requests[before:]
    assert run.status == "succeeded" and run.counts["seen"] == 0
    assert [r.path for r in sent] == ["/drive/v3/changes"]
