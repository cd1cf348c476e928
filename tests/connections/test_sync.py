"""The sync engine end to end against the local Graph server: real client code, real database,
ingestion run in process (``run_jobs``), retrieval through the API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from connections import models, tokens
from connections.sync import cursors, engine, schedule
from knowledge import models as kb
from knowledge import policy_cache
from tests.fakes.msgraph_server import FakeMicrosoft

pytestmark = pytest.mark.django_db

Sync = Callable[..., models.SyncRun]


def add_source(connection: models.Connection, *, surface: str, root_id: str, parent_id: str = "",
               share: str = "tenant", label: str = "", mail_tier: str = "snippet",
               extra: dict[str, Any] | None = None) -> models.ConnectionSource:
    return models.ConnectionSource.objects.create(
        tenant=connection.tenant, connection=connection, surface=surface, root_id=root_id, parent_id=parent_id,
        share=share, label=label or root_id, mail_tier=mail_tier, extra=extra or {},
    )


@pytest.fixture
def sync(run_jobs: Callable[[], list[str]]) -> Sync:
    """Queue a run of ``kind``, run it in process (resuming paused runs), then the ingestion."""

    def go(connection: models.Connection, kind: str = "delta", *, resume: bool = True) -> models.SyncRun:
        run = models.SyncRun.objects.create(tenant=connection.tenant, connection=connection, kind=kind)
        for _ in range(10):
            outcome = engine.run(run_id=run.pk)
            if outcome != engine.PAUSED or not resume:
                break
            models.SyncRun.objects.filter(pk=run.pk).update(resume_at=timezone.now())  # the pause is over
        run_jobs()
        run.refresh_from_db()
        return run

    return go


def docs(connection: models.Connection, source_kind: str | None = None) -> list[kb.Document]:
    qs = kb.Document.objects.filter(tenant=connection.tenant, connection=connection)
    if source_kind:
        qs = qs.filter(source_kind=source_kind)
    return list(qs.order_by("name"))


def texts(doc: kb.Document) -> str:
    return " ".join(kb.Chunk.objects.filter(document=doc).order_by("chunk_index").values_list("text", flat=True))


def retrieved(retrieve_api: Any, query: str) -> str:
    response = retrieve_api.post("/api/v1/retrieve", json={"query": query, "top_k": 10})
    assert response.status_code == 200, response.content
    return " ".join(hit["text"] for hit in response.json()["knowledge"])


@pytest.fixture
def drive(ms: FakeMicrosoft) -> str:
    return ms.store.personal_drive_id


def test_backfill_creates_documents_that_retrieval_finds(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync, retrieval_on: Any, retrieve_api: Any
) -> None:
    ms.store.file_add(drive_id=drive, name="hours.txt", content=b"We are open Saturdays from nine to noon.")
    ms.store.file_add(drive_id=drive, name="parking.md", content=b"# Parking\n\nFree parking behind the clinic.")
    add_source(connection, surface="onedrive", root_id=drive)

    run = sync(connection, "backfill")

    assert run.status == "succeeded", run.error
    assert run.counts == {"seen": 2, "created": 2, "updated": 0, "unchanged": 0, "deleted": 0, "failed": 0}
    assert [d.name for d in docs(connection)] == ["hours.txt", "parking.md"]
    assert all(d.status == "ready" and d.source_kind == "onedrive" for d in docs(connection))
    assert "open Saturdays" in retrieved(retrieve_api, "are you open on saturdays")
    connection.refresh_from_db()
    assert connection.last_sync_at is not None and connection.next_sync_at is not None


def test_the_change_cursor_is_taken_before_the_backfill(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync
) -> None:
    ms.store.file_add(drive_id=drive, name="a.txt", content=b"alpha text")
    source = add_source(connection, surface="onedrive", root_id=drive)
    sync(connection, "backfill")
    state = cursors.load(source=source)
    assert state is not None and state.phase == cursors.DELTA
    latest = ms.requests_to("/root/delta")
    assert latest[0].query.get("token") == "latest"  # asked before the enumeration


def test_an_edit_at_the_source_serves_the_new_text_and_not_the_old(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync
) -> None:
    item = ms.store.file_add(drive_id=drive, name="prices.txt", content=b"A cleaning costs 80 euros.")
    add_source(connection, surface="onedrive", root_id=drive)
    sync(connection, "backfill")

    ms.store.file_edit(item, b"A cleaning costs 95 euros.")
    run = sync(connection)

    assert run.counts["updated"] == 1
    [doc] = docs(connection)
    assert "95 euros" in texts(doc) and "80 euros" not in texts(doc)


def test_a_deletion_at_the_source_is_gone_after_the_next_delta(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync, retrieval_on: Any, retrieve_api: Any
) -> None:
    item = ms.store.file_add(drive_id=drive, name="promo.txt", content=b"Teeth whitening promotion in December.")
    ms.store.file_add(drive_id=drive, name="keep.txt", content=b"Keep this file about fillings.")
    add_source(connection, surface="onedrive", root_id=drive)
    sync(connection, "backfill")
    assert "whitening" in retrieved(retrieve_api, "whitening promotion")

    ms.store.item_delete(item)
    run = sync(connection)

    assert run.counts["deleted"] == 1
    assert [d.name for d in docs(connection)] == ["keep.txt"]
    assert "whitening" not in retrieved(retrieve_api, "whitening promotion")


def test_a_file_moved_out_of_the_selected_folder_is_removed(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync
) -> None:
    store = ms.store
    shared = store.folder_add(drive_id=drive, name="Reception")
    inner = store.folder_add(drive_id=drive, name="Prices", parent_id=shared)
    private = store.folder_add(drive_id=drive, name="Private")
    moving = store.file_add(drive_id=drive, name="prices.txt", content=b"Crowns cost 500.", parent_id=inner)
    store.file_add(drive_id=drive, name="hours.txt", content=b"Open 8 to 5.", parent_id=shared)
    store.file_add(drive_id=drive, name="salary.txt", content=b"Not for the assistant.", parent_id=private)
    add_source(connection, surface="drive_folder", root_id=shared, parent_id=drive)

    sync(connection, "backfill")
    assert [d.name for d in docs(connection)] == ["hours.txt", "prices.txt"]

    store.item_move(moving, private)
    run = sync(connection)

    assert run.status == "succeeded" and run.counts["deleted"] == 1
    assert [d.name for d in docs(connection)] == ["hours.txt"]


def test_a_rename_re_embeds_nothing_and_downloads_nothing(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync
) -> None:
    item = ms.store.file_add(drive_id=drive, name="old name.txt", content=b"Implants are placed on Tuesdays.")
    add_source(connection, surface="onedrive", root_id=drive)
    sync(connection, "backfill")
    [doc] = docs(connection)
    chunk_ids = list(kb.Chunk.objects.filter(document=doc).values_list("pk", flat=True))
    jobs = kb.IngestJob.objects.filter(document=doc).count()
    downloads = len(ms.requests_to("/_download/"))

    ms.store.item_rename(item, "new name.txt")
    run = sync(connection)

    [doc] = docs(connection)
    assert doc.name == "new name.txt" and run.counts["unchanged"] == 1 and run.counts["updated"] == 0
    assert list(kb.Chunk.objects.filter(document=doc).values_list("pk", flat=True)) == chunk_ids
    assert kb.IngestJob.objects.filter(document=doc).count() == jobs  # no embedding work at all
    assert len(ms.requests_to("/_download/")) == downloads


def test_a_throttled_run_pauses_and_then_completes(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync
) -> None:
    ms.drive_page_size = 1
    for n in range(3):
        ms.store.file_add(drive_id=drive, name=f"f{n}.txt", content=f"file number {n}".encode())
    add_source(connection, surface="onedrive", root_id=drive)
    run = models.SyncRun.objects.create(tenant=connection.tenant, connection=connection, kind="backfill")
    first = engine.run(run_id=run.pk)
    assert first == "succeeded"  # sanity: nothing throttled yet

    ms.store.file_add(drive_id=drive, name="late.txt", content=b"added later")
    ms.throttle_next(1, retry_after="120")
    run = models.SyncRun.objects.create(tenant=connection.tenant, connection=connection, kind="delta")
    assert engine.run(run_id=run.pk) == engine.PAUSED
    run.refresh_from_db()
    assert run.status == "queued" and run.resume_at is not None
    assert run.resume_at > timezone.now() + timedelta(seconds=100)
    assert run.attempts == 0  # a pause is not a failed attempt
    assert engine.run(run_id=run.pk) == engine.NOT_CLAIMED  # not before resume_at

    models.SyncRun.objects.filter(pk=run.pk).update(resume_at=timezone.now())
    assert engine.run(run_id=run.pk) == "succeeded"
    run.refresh_from_db()
    assert run.counts["created"] == 1 and run.resume_at is None
    assert "late.txt" in [d.name for d in docs(connection)]


def test_a_refused_delta_link_resyncs_fully_without_duplicates_and_sweeps_what_is_gone(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync
) -> None:
    ms.drive_page_size = 2
    items = [ms.store.file_add(drive_id=drive, name=f"f{n}.txt", content=f"file {n}".encode()) for n in range(5)]
    add_source(connection, surface="onedrive", root_id=drive)
    sync(connection, "backfill")
    ms.store.item_delete(items[0])
    ms.expire_delta_links()
    # A delete whose tombstone the resync will never show: only the sweep can remove it.
    run = sync(connection)

    assert run.status == "succeeded", run.error
    names = [d.name for d in docs(connection)]
    assert names == ["f1.txt", "f2.txt", "f3.txt", "f4.txt"]
    assert run.counts["deleted"] == 1 and run.counts["created"] == 0
    assert any(r.status == 410 for r in ms.requests_to("/root/delta"))


def test_a_token_revoked_mid_backfill_fails_the_run_with_a_reason_and_needs_reauth(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync
) -> None:
    ms.drive_page_size = 1
    for n in range(3):
        ms.store.file_add(drive_id=drive, name=f"f{n}.txt", content=f"file {n}".encode())
    add_source(connection, surface="onedrive", root_id=drive)
    ms.expire_access_tokens()
    ms.revoke_grant()

    run = sync(connection, "backfill")

    connection.refresh_from_db()
    assert run.status == "failed" and "Reconnect" in run.error
    assert connection.status == "needs_reauth" and connection.next_sync_at is None
    assert schedule.tick().scheduled == 0  # scheduling stopped


def test_items_repeated_across_pages_are_applied_once(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync
) -> None:
    ms.drive_page_size = 2
    ms.repeat_items = True
    for n in range(5):
        ms.store.file_add(drive_id=drive, name=f"f{n}.txt", content=f"file {n}".encode())
    add_source(connection, surface="onedrive", root_id=drive)

    run = sync(connection, "backfill")

    assert run.counts["created"] == 5 and run.counts["seen"] == 5
    assert len(docs(connection)) == 5
    assert kb.IngestJob.objects.filter(tenant=connection.tenant).count() == 5


def test_an_unreadable_item_is_recorded_on_the_run_and_the_others_sync(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync, settings: Any
) -> None:
    settings.KB_MAX_UPLOAD_MB = 1
    ms.store.file_add(drive_id=drive, name="big.txt", content=b"x" * (1024 * 1024 + 10))
    ms.store.file_add(drive_id=drive, name="ok.txt", content=b"a small readable file")
    add_source(connection, surface="onedrive", root_id=drive, label="OneDrive")

    run = sync(connection, "backfill")

    assert run.status == "succeeded" and run.counts["failed"] == 1 and run.counts["created"] == 1
    assert run.item_errors[0]["title"] == "big.txt" and run.item_errors[0]["source"] == "OneDrive"
    assert [d.name for d in docs(connection)] == ["ok.txt"]


def test_the_connection_item_limit_is_kept(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync, settings: Any
) -> None:
    settings.KB_CONNECTION_MAX_ITEMS = 2
    for n in range(3):
        ms.store.file_add(drive_id=drive, name=f"f{n}.txt", content=f"file {n}".encode())
    add_source(connection, surface="onedrive", root_id=drive)

    run = sync(connection, "backfill")

    assert len(docs(connection)) == 2 and run.counts["failed"] == 1
    assert "item limit" in run.item_errors[0]["error"]


def test_a_source_taken_out_of_the_selection_is_removed(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync
) -> None:
    ms.store.file_add(drive_id=drive, name="a.txt", content=b"alpha")
    inbox = ms.store.mail_folder_id("inbox")
    assert inbox
    ms.store.mail_add(folder_id=inbox, subject="Booking", body="Please book me for Monday.")
    files = add_source(connection, surface="onedrive", root_id=drive)
    add_source(connection, surface="mail_folder", root_id=inbox)
    sync(connection, "backfill")
    assert {d.source_kind for d in docs(connection)} == {"onedrive", "outlook"}

    files.delete()
    run = sync(connection)

    assert [d.source_kind for d in docs(connection)] == ["outlook"] and run.counts["deleted"] == 1


def test_mail_becomes_one_virtual_document_per_message_by_tier_and_leaves_when_deleted(
    ms: FakeMicrosoft, connection: models.Connection, sync: Sync
) -> None:
    inbox = ms.store.mail_folder_id("inbox")
    assert inbox
    message = ms.store.mail_add(
        folder_id=inbox, subject="Parking question",
        body="Is there parking nearby?\n\nOn Monday, Bob wrote:\n> old quoted text", content_type="text",
    )
    add_source(connection, surface="mail_folder", root_id=inbox, mail_tier="body")
    sync(connection, "backfill")

    [doc] = docs(connection, "outlook")
    assert doc.name == "Parking question" and not doc.file
    assert "Is there parking nearby?" in doc.inline_text and "old quoted text" not in doc.inline_text
    assert "Subject: Parking question" in texts(doc)

    ms.store.mail_delete(message)
    run = sync(connection)
    assert run.counts["deleted"] == 1 and docs(connection, "outlook") == []


def test_a_teams_thread_is_one_document_and_a_deleted_reply_leaves_it(
    ms: FakeMicrosoft, connection: models.Connection, sync: Sync
) -> None:
    store = ms.store
    team = store.team_add(name="Front desk")
    channel = store.channel_add(team_id=team, name="Prices")
    root = store.thread_add(team_id=team, channel_id=channel, body="<p>New price for whitening?</p>",
                            subject="Whitening")
    store.reply_add(root_id=root, body="<p>It is 250 now.</p>", author_name=None)
    wrong = store.reply_add(root_id=root, body="<p>Wrong answer: 999.</p>")
    add_source(connection, surface="teams_channel", root_id=channel, parent_id=team, mail_tier="body")
    sync(connection, "backfill")

    [doc] = docs(connection, "teams")
    assert "It is 250 now." in doc.inline_text and "Unknown" in doc.inline_text and "999" in doc.inline_text

    store.channel_message_delete(wrong)
    run = sync(connection)
    [doc] = docs(connection, "teams")
    assert run.counts["updated"] == 1 and "999" not in doc.inline_text and "250" in doc.inline_text

    store.channel_message_delete(root)
    sync(connection)
    assert docs(connection, "teams") == []


def test_missing_teams_consent_is_recorded_plainly_and_other_sources_sync(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync
) -> None:
    ms.teams_consent_missing = True
    team = ms.store.team_add(name="Front desk")
    channel = ms.store.channel_add(team_id=team, name="General")
    ms.store.file_add(drive_id=drive, name="a.txt", content=b"alpha")
    add_source(connection, surface="teams_channel", root_id=channel, parent_id=team, label="Front desk / General")
    add_source(connection, surface="onedrive", root_id=drive)

    run = sync(connection, "backfill")

    assert run.status == "succeeded" and run.counts["failed"] == 1 and run.counts["created"] == 1
    assert "consent" in run.item_errors[0]["error"].lower()


def test_a_purge_run_removes_every_document_and_leaves_a_receipt(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync
) -> None:
    ms.store.file_add(drive_id=drive, name="a.txt", content=b"alpha file text")
    ms.store.file_add(drive_id=drive, name="b.txt", content=b"beta file text")
    add_source(connection, surface="onedrive", root_id=drive)
    sync(connection, "backfill")
    chunks = kb.Chunk.objects.filter(tenant=connection.tenant).count()
    models.Connection.objects.filter(pk=connection.pk).update(status="revoked")

    run = sync(connection, "purge")

    connection.refresh_from_db()
    assert run.status == "succeeded" and connection.status == "purged"
    receipt = connection.purge_receipt
    assert receipt is not None
    assert receipt["documents"] == 2 and receipt["files"] == 2 and receipt["chunks"] == chunks
    assert docs(connection) == [] and kb.Chunk.objects.filter(tenant=connection.tenant).count() == 0


def test_the_tick_queues_one_delta_per_due_active_connection(
    ms: FakeMicrosoft, connection: models.Connection, connect: Callable[..., models.Connection]
) -> None:
    other = connect(account_id="user-9")
    models.Connection.objects.filter(pk=connection.pk).update(next_sync_at=timezone.now() - timedelta(minutes=1))
    models.Connection.objects.filter(pk=other.pk).update(next_sync_at=timezone.now() + timedelta(minutes=5))

    assert schedule.tick().scheduled == 1
    assert schedule.tick().scheduled == 0  # one run at a time per connection
    [run] = models.SyncRun.objects.all()
    assert run.connection_id == connection.pk and run.kind == "delta" and run.trigger == "schedule"


def test_a_folder_moved_out_of_the_selection_takes_its_files_and_one_moved_in_brings_them(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync
) -> None:
    store = ms.store
    shared = store.folder_add(drive_id=drive, name="Reception")
    elsewhere = store.folder_add(drive_id=drive, name="Elsewhere")
    sub = store.folder_add(drive_id=drive, name="Prices", parent_id=shared)
    deeper = store.folder_add(drive_id=drive, name="2026", parent_id=sub)
    store.file_add(drive_id=drive, name="crowns.txt", content=b"Crowns cost 500.", parent_id=deeper)
    store.file_add(drive_id=drive, name="hours.txt", content=b"Open 8 to 5.", parent_id=shared)
    outside = store.folder_add(drive_id=drive, name="Forms", parent_id=elsewhere)
    store.file_add(drive_id=drive, name="form.txt", content=b"Consent form text.", parent_id=outside)
    add_source(connection, surface="drive_folder", root_id=shared, parent_id=drive)
    sync(connection, "backfill")
    assert [d.name for d in docs(connection)] == ["crowns.txt", "hours.txt"]

    store.item_move(sub, elsewhere)
    store.item_move(outside, shared)
    run = sync(connection)

    assert run.status == "succeeded", run.error
    assert [d.name for d in docs(connection)] == ["form.txt", "hours.txt"]
    assert run.counts["deleted"] == 1 and run.counts["created"] == 1


def test_a_backfill_throttled_mid_way_keeps_its_applied_pages_and_resumes_after_them(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync
) -> None:
    ms.drive_page_size = 2
    for n in range(6):
        ms.store.file_add(drive_id=drive, name=f"f{n}.txt", content=f"file number {n}".encode())
    source = add_source(connection, surface="onedrive", root_id=drive)
    run = models.SyncRun.objects.create(tenant=connection.tenant, connection=connection, kind="backfill")
    original = ms._graph
    calls = {"delta pages": 0}

    def throttle_third_page(method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> Any:
        if path.endswith("/root/delta") and "$skiptoken" in query:
            calls["delta pages"] += 1
            if calls["delta pages"] == 2:  # the enumeration's third page
                ms.throttle_next(1, retry_after="60")
        return original(method, path, query, headers)

    ms._graph = throttle_third_page  # type: ignore[method-assign]

    assert engine.run(run_id=run.pk) == engine.PAUSED
    state = cursors.load(source=source)
    assert state is not None and state.phase == cursors.ENUMERATE and state.link and "skiptoken" in state.link
    applied = sorted(d.name for d in docs(connection))
    assert applied and len(applied) < 6  # the pages before the throttle are applied with their cursor

    models.SyncRun.objects.filter(pk=run.pk).update(resume_at=timezone.now())
    assert engine.run(run_id=run.pk) == "succeeded"
    run.refresh_from_db()
    assert sorted(d.name for d in docs(connection)) == [f"f{n}.txt" for n in range(6)]
    assert run.counts["created"] == 6
    assert kb.IngestJob.objects.filter(tenant=connection.tenant).count() == 6  # nothing applied twice


def test_a_second_run_of_a_connection_waits_while_one_is_running(
    ms: FakeMicrosoft, connection: models.Connection
) -> None:
    running = models.SyncRun.objects.create(tenant=connection.tenant, connection=connection, kind="delta",
                                            status="running", attempts=1, heartbeat_at=timezone.now())
    queued = models.SyncRun.objects.create(tenant=connection.tenant, connection=connection, kind="delta")

    assert engine.run(run_id=queued.pk) == engine.NOT_CLAIMED
    queued.refresh_from_db()
    assert queued.status == "queued" and queued.attempts == 0
    assert running.pk != queued.pk


def test_content_of_a_connection_that_needs_reauth_or_is_revoked_is_never_retrieved(
    ms: FakeMicrosoft, connection: models.Connection, drive: str, sync: Sync, retrieval_on: Any, retrieve_api: Any
) -> None:
    ms.store.file_add(drive_id=drive, name="hours.txt", content=b"We are open Saturdays from nine to noon.")
    ms.store.file_add(drive_id=drive, name="rules.txt", content=b"Never quote prices for surgery by phone.")
    add_source(connection, surface="onedrive", root_id=drive)
    assert sync(connection, "backfill").status == "succeeded"
    kb.Document.objects.filter(connection_id=connection.pk, name="rules.txt").update(kind="policy")
    kb.Chunk.objects.filter(connection_id=connection.pk, document__name="rules.txt").update(kind="policy")
    chunk_ids = sorted(kb.Chunk.objects.filter(connection_id=connection.pk).values_list("pk", flat=True))
    body = retrieve_api.post("/api/v1/retrieve", json={"query": "are you open on saturdays"}).json()
    assert "open Saturdays" in " ".join(h["text"] for h in body["knowledge"])
    assert "surgery" in body["policy"]["text"]

    # The token is refused: from that moment nothing of the connection is served, policy included.
    assert tokens.connection_mark_needs_reauth(connection_id=connection.pk, reason="Reconnect your account.")
    body = retrieve_api.post("/api/v1/retrieve", json={"query": "are you open on saturdays"}).json()
    assert "open Saturdays" not in " ".join(h["text"] for h in body["knowledge"])
    assert "surgery" not in body["policy"]["text"]

    # Reconnecting the same account serves the same chunks again: nothing was re-embedded.
    models.Connection.objects.filter(pk=connection.pk).update(status="active")
    policy_cache.bump(tenant_id=connection.tenant_id)
    assert sorted(kb.Chunk.objects.filter(connection_id=connection.pk).values_list("pk", flat=True)) == chunk_ids
    assert "open Saturdays" in retrieved(retrieve_api, "are you open on saturdays")

    models.Connection.objects.filter(pk=connection.pk).update(status="revoked")
    assert "open Saturdays" not in retrieved(retrieve_api, "are you open on saturdays")
