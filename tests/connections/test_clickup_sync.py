"""ClickUp end to end against the local ClickUp server: the real client and adapter, the
engine, the database, ingestion in process, retrieval through the API."""

from __future__ import annotations

import time
from typing import Any

import pytest

from connections import models, services
from connections.sync import cursors, engine
from knowledge import models as kb
from tests.connections.clickup_support import cu as cu  # noqa: PLC0414 - fixtures
from tests.connections.clickup_support import cu_connect as cu_connect  # noqa: PLC0414
from tests.connections.clickup_support import cu_connection as cu_connection  # noqa: PLC0414
from tests.connections.clickup_support import demo as demo  # noqa: PLC0414
from tests.connections.clickup_support import share
from tests.connections.test_sync import Sync, docs, retrieved, texts
from tests.connections.test_sync import sync as sync  # noqa: F401, PLC0414 - the fixture
from tests.fakes.clickup_server import FakeClickUp

pytestmark = pytest.mark.django_db


def chunk_ids(doc: kb.Document) -> list[int]:
    return list(kb.Chunk.objects.filter(document=doc).order_by("chunk_index").values_list("pk", flat=True))


def doc_named(connection: models.Connection, name: str) -> kb.Document:
    return next(d for d in docs(connection) if d.name == name)


def test_the_roots_are_each_workspaces_spaces_and_their_lists(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection
) -> None:
    listing = services.roots_list(connection=cu_connection)
    assert [(r.surface, r.label, r.parent_id) for r in listing.items] == [
        ("clickup_space", "Bright Smile Dental / Clinic", ""),
        ("clickup_list", "Clinic / Front desk / Patient requests", demo["space"]),
        ("clickup_list", "Clinic / Front desk / Supplies", demo["space"]),
        ("clickup_list", "Clinic / Team notes", demo["space"]),
    ]
    assert all(r.extra["team_id"] == demo["team"] for r in listing.items)


def test_a_backfill_finds_a_threaded_reply_through_retrieval_with_the_task_name_as_title(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync,
    retrieval_on: Any, retrieve_api: Any,
) -> None:
    share(cu_connection, "Patient requests")
    run = sync(cu_connection, "backfill")
    assert run.status == "succeeded", run.error
    assert run.counts["created"] == 1 and run.counts["failed"] == 0
    doc = doc_named(cu_connection, "Which insurers do we bill directly?")
    assert doc.source_kind == "clickup" and doc.status == "ready" and doc.scope == "tenant"
    text = texts(doc)
    assert "Status: complete" in text and "Assignees: Lena Novak" in text and "Front desk / Patient requests" in text
    assert "Allianz Dental" in text
    assert "Nordic Mutual patients pay and claim back" in retrieved(retrieve_api, "do you bill Nordic Mutual directly")


def test_every_comment_of_a_task_with_more_than_25_is_synced_by_paging(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync
) -> None:
    share(cu_connection, "Team notes")
    assert sync(cu_connection, "backfill").status == "succeeded"
    text = texts(doc_named(cu_connection, "Front desk FAQ thread"))
    for n in range(1, 31):
        assert f"Q{n}:" in text, n
    assert "emergency slot on Saturdays is at 11:30" in text
    paged = [r for r in cu.requests_to(f"/task/{demo['faq']}/comment") if r.query.get("start_id")]
    assert len(paged) == 1  # 31 comments: the newest 25, then the 6 older ones


def test_a_subtask_is_synced_as_its_own_document_naming_its_parent(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync
) -> None:
    share(cu_connection, "Supplies")
    assert sync(cu_connection, "backfill").status == "succeeded"
    assert [d.name for d in docs(cu_connection) if d.parent_id is None] == [
        "Check fluoride varnish stock", "Monthly supplies order"]
    text = texts(doc_named(cu_connection, "Check fluoride varnish stock"))
    assert "Subtask of: Monthly supplies order" in text and "at least 12" in text
    listing = cu.requests_to(f"/team/{demo['team']}/task")[0]
    assert listing.query["subtasks"] == "true" and listing.query["include_closed"] == "true"
    assert listing.query["include_markdown_description"] == "true"


def test_a_task_deleted_at_clickup_is_removed_by_the_sweep_of_the_next_scheduled_run(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync,
    retrieval_on: Any, retrieve_api: Any,
) -> None:
    share(cu_connection, "Clinic")
    assert sync(cu_connection, "backfill").counts["created"] == 5  # 4 tasks and the price list attached to one
    assert "Allianz Dental" in retrieved(retrieve_api, "which insurers do you bill directly")

    cu.store.task_delete(demo["insurance"])
    run = sync(cu_connection)  # what the schedule queues: a delta

    assert run.status == "succeeded" and run.counts["deleted"] == 1
    assert "Which insurers do we bill directly?" not in [d.name for d in docs(cu_connection)]
    assert "Allianz Dental" not in retrieved(retrieve_api, "which insurers do you bill directly")


def test_an_archived_task_is_removed_like_a_deleted_one(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync
) -> None:
    share(cu_connection, "Supplies")
    sync(cu_connection, "backfill")
    cu.store.task_archive(demo["order"])
    run = sync(cu_connection)
    assert run.counts["deleted"] == 1
    assert [d.name for d in docs(cu_connection)] == ["Check fluoride varnish stock"]


def test_the_sweep_lists_ids_without_reading_comments_and_runs_at_least_daily(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync
) -> None:
    source = share(cu_connection, "Clinic")
    time.sleep(2.1)  # the watermark keeps ClickUp's last 1-2 s (its Date header is in whole seconds)
    sync(cu_connection, "backfill")
    cu.requests.clear()
    sync(cu_connection)
    # Nothing changed: one delta listing (date_updated_gt) and one presence listing, no comment read.
    listings = cu.requests_to(f"/team/{demo['team']}/task")
    assert [("date_updated_gt" in r.query) for r in listings] == [True, False]
    assert not cu.requests_to("/comment")
    state = cursors.load(source=source)
    assert state is not None and "presence_swept_at" in state.memo


def test_a_new_comment_reaches_retrieval_at_the_next_delta_rewriting_only_its_task(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync,
    retrieval_on: Any, retrieve_api: Any,
) -> None:
    share(cu_connection, "Clinic")
    sync(cu_connection, "backfill")
    untouched = doc_named(cu_connection, "Monthly supplies order")
    before = chunk_ids(untouched)

    cu.store.comment_add(demo["insurance"], "From March we also bill Zenith Dental directly.")
    run = sync(cu_connection)

    assert run.counts["updated"] == 1 and run.counts["created"] == 0
    assert "Zenith Dental" in retrieved(retrieve_api, "do you bill Zenith Dental")
    assert chunk_ids(untouched) == before
    delta = [r for r in cu.requests_to(f"/team/{demo['team']}/task") if "date_updated_gt" in r.query]
    assert delta and int(delta[0].query["date_updated_gt"]) > 0


def test_a_rename_re_embeds_nothing(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync
) -> None:
    share(cu_connection, "Patient requests")
    sync(cu_connection, "backfill")
    doc = doc_named(cu_connection, "Which insurers do we bill directly?")
    before = chunk_ids(doc)
    cu.store.task_edit(demo["insurance"], name="Insurers we bill directly")
    run = sync(cu_connection)
    assert run.counts["updated"] == 0
    doc.refresh_from_db()
    assert doc.name == "Insurers we bill directly" and chunk_ids(doc) == before


def test_a_429_pauses_the_run_until_the_rate_limit_reset_and_it_resumes_to_completion(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync
) -> None:
    share(cu_connection, "Clinic")
    cu.throttle_next(1, retry_after="40")
    run = models.SyncRun.objects.create(tenant=cu_connection.tenant, connection=cu_connection, kind="backfill")

    assert engine.run(run_id=run.pk) == engine.PAUSED
    run.refresh_from_db()
    assert run.status == "queued" and run.resume_at is not None
    assert 30 < (run.resume_at - run.updated_at).total_seconds() <= 41
    assert "paused" in run.error

    models.SyncRun.objects.filter(pk=run.pk).update(resume_at=None)
    assert engine.run(run_id=run.pk) == "succeeded"
    assert len(docs(cu_connection)) == 5


def test_a_401_makes_the_connection_needs_reauth_and_hides_its_content_at_once(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync,
    retrieval_on: Any, retrieve_api: Any,
) -> None:
    share(cu_connection, "Patient requests")
    sync(cu_connection, "backfill")
    assert "Allianz Dental" in retrieved(retrieve_api, "which insurers do you bill directly")

    cu.revoke()
    run = sync(cu_connection)

    cu_connection.refresh_from_db()
    assert run.status == "failed" and cu_connection.status == "needs_reauth"
    assert "ClickUp" in cu_connection.status_reason and "Reconnect" in cu_connection.status_reason
    assert cu_connection.next_sync_at is None
    assert "Allianz Dental" not in retrieved(retrieve_api, "which insurers do you bill directly")
    assert not cu.requests_to("/oauth/token")  # no refresh attempted: ClickUp has none


def test_one_unreadable_task_is_recorded_on_the_run_and_the_others_land(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync
) -> None:
    share(cu_connection, "Clinic")
    cu.break_item(demo["order"])
    run = sync(cu_connection, "backfill")
    assert run.status == "succeeded" and run.counts["failed"] == 1 and run.item_errors[0]["item"] == demo["order"]
    assert "500" in run.item_errors[0]["error"]
    # The others landed, and the run's delta read the broken one again (it was listed for
    # a retry, its revision never stored).
    assert len(docs(cu_connection)) == 5  # 4 tasks and the price list


def test_the_sweep_of_1000_tasks_costs_ten_listing_requests(
    cu: FakeClickUp, cu_connection: models.Connection, sync: Sync
) -> None:
    team = cu.store.team_add("Big Co")
    space = cu.store.space_add(team, "Ops")
    big = cu.store.list_add(space, "Tickets")
    for n in range(1000):
        cu.store.task_add(big, f"ticket {n}")
    source = models.ConnectionSource.objects.create(
        tenant=cu_connection.tenant, connection=cu_connection, surface="clickup_list", root_id=big,
        label="Ops / Tickets", parent_id=space, share="tenant", extra={"team_id": team, "space_id": space},
    )
    # A source already backfilled, nothing changed since: the delta lists nothing new.
    with_watermark = cursors.State(phase=cursors.DELTA, link=f"w={cu.store.tick() + 1000}")
    cursors.save(source=source, state=with_watermark)
    cu.requests.clear()

    run = sync(cu_connection)

    assert run.status == "succeeded", run.error
    listings = cu.requests_to(f"/team/{team}/task")
    assert len([r for r in listings if "date_updated_gt" in r.query]) == 1
    assert len([r for r in listings if "date_updated_gt" not in r.query]) == 10
    assert len(cu.requests) == 11


def test_a_subtask_changed_alone_still_names_its_parent(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync
) -> None:
    share(cu_connection, "Supplies")
    time.sleep(2.1)  # the delta below then lists the subtask alone
    sync(cu_connection, "backfill")
    sub = next(t.id for t in cu.store.tasks.values() if t.parent == demo["order"])
    cu.store.task_edit(sub, description="Count the varnish tubes; we keep at least 15.")
    assert sync(cu_connection).counts["updated"] == 1
    text = texts(doc_named(cu_connection, "Check fluoride varnish stock"))
    assert "at least 15" in text and "Subtask of: Monthly supplies order" in text
