"""ClickUp task attachments as child documents of their task, end to end against the local
ClickUp server: the real client and adapter, the engine, the database, retrieval."""

from __future__ import annotations

from typing import Any

import pytest

from connections import models
from connections.providers import clickup, errors
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

PRICE_LIST = "dentasupply-price-list.md"


def named(connection: models.Connection, name: str) -> kb.Document | None:
    return next((d for d in docs(connection) if d.name == name), None)


def downloads(cu: FakeClickUp) -> list[Any]:
    return cu.requests_to("/attachments/")


def test_a_price_list_attached_to_a_task_is_retrievable_as_a_child_document_of_the_task(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync,
    retrieval_on: Any, retrieve_api: Any,
) -> None:
    share(cu_connection, "Supplies")
    run = sync(cu_connection, "backfill")
    assert run.status == "succeeded" and run.counts["failed"] == 0, run.item_errors
    attachment = named(cu_connection, PRICE_LIST)
    task = named(cu_connection, "Monthly supplies order")
    assert attachment is not None and task is not None
    assert attachment.parent_id == task.pk and attachment.source_kind == "clickup" and attachment.status == "ready"
    assert attachment.external_id.startswith(f"{demo['order']}/attachment/")
    assert "Fluoride varnish, tube" in texts(attachment)
    assert "18.50 EUR" in retrieved(retrieve_api, "what does a tube of fluoride varnish cost from DentaSupply")
    # ClickUp's attachment urls are on its CDN: the download carries no token.
    assert [r.headers.get("authorization") for r in downloads(cu)] == [None]


def test_a_task_deleted_at_clickup_takes_its_attachment_with_it(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync,
    retrieval_on: Any, retrieve_api: Any,
) -> None:
    share(cu_connection, "Supplies")
    sync(cu_connection, "backfill")
    assert named(cu_connection, PRICE_LIST) is not None

    cu.store.task_delete(demo["order"])  # its subtask goes too
    run = sync(cu_connection)

    assert run.status == "succeeded", run.error
    assert docs(cu_connection) == []
    assert "18.50 EUR" not in retrieved(retrieve_api, "what does a tube of fluoride varnish cost from DentaSupply")


def test_an_attachment_taken_off_a_task_leaves_and_the_task_stays(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync
) -> None:
    share(cu_connection, "Supplies")
    sync(cu_connection, "backfill")
    attachment_id = cu.store.tasks[demo["order"]].attachments[0]["id"]
    new = cu.store.attachment_add(demo["order"], "delivery-terms.txt", b"DentaSupply delivers on Tuesdays and Fridays.")

    cu.store.attachment_delete(demo["order"], attachment_id)
    run = sync(cu_connection)

    assert run.status == "succeeded" and run.counts["deleted"] == 1 and run.counts["created"] == 1, run.counts
    assert named(cu_connection, PRICE_LIST) is None
    terms = named(cu_connection, "delivery-terms.txt")
    assert terms is not None and terms.external_id == f"{demo['order']}/attachment/{new}"
    assert named(cu_connection, "Monthly supplies order") is not None


def test_an_attachment_over_the_upload_limit_is_a_failed_item_while_its_task_lands(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync, settings: Any
) -> None:
    settings.KB_MAX_UPLOAD_MB = 1
    big = cu.store.attachment_add(demo["order"], "catalogue.txt", b"gloves and masks\n" * 70_000)  # ~1.2 MB
    share(cu_connection, "Supplies")

    run = sync(cu_connection, "backfill")

    assert run.status == "succeeded", run.error
    assert run.counts["failed"] == 1
    assert run.item_errors[0]["item"] == f"{demo['order']}/attachment/{big}"
    assert "limit" in run.item_errors[0]["error"]
    assert named(cu_connection, "Monthly supplies order") is not None
    assert named(cu_connection, PRICE_LIST) is not None and named(cu_connection, "catalogue.txt") is None
    # Refused by the size ClickUp states, before any download.
    assert not [r for r in downloads(cu) if big in r.path]


def test_an_unchanged_task_downloads_no_attachment_again_and_a_new_comment_neither(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync
) -> None:
    share(cu_connection, "Supplies")
    sync(cu_connection, "backfill")
    assert len(downloads(cu)) == 1
    cu.requests.clear()

    assert sync(cu_connection).status == "succeeded"
    assert downloads(cu) == []

    cu.store.comment_add(demo["order"], "Ordered on Monday.")
    run = sync(cu_connection)
    assert run.counts["updated"] == 1
    assert downloads(cu) == []  # the attachment's revision is its id: same file, not read again


def test_an_image_attachment_is_skipped_without_a_download(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync
) -> None:
    photo = cu.store.attachment_add(demo["order"], "shelf.png", b"\x89PNG\r\n\x1a\n" + bytes(64))
    share(cu_connection, "Supplies")

    run = sync(cu_connection, "backfill")

    assert run.status == "succeeded" and run.counts["failed"] == 0
    assert named(cu_connection, "shelf.png") is None
    assert not [r for r in downloads(cu) if photo in r.path]


def test_adding_an_attachment_changes_the_task_revision_even_at_the_same_date_updated(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync
) -> None:
    share(cu_connection, "Supplies")
    sync(cu_connection, "backfill")
    task = cu.store.tasks[demo["order"]]
    stamp = task.date_updated
    cu.store.attachment_add(demo["order"], "delivery-terms.txt", b"DentaSupply delivers on Tuesdays.")
    task.date_updated = stamp  # a ClickUp that does not move date_updated for an upload

    run = sync(cu_connection, "full")

    assert run.status == "succeeded", run.error
    assert named(cu_connection, "delivery-terms.txt") is not None


# --- the client ------------------------------------------------------------------------------


def test_the_client_sends_its_token_with_an_attachment_download_only_on_the_api_host(
    cu: FakeClickUp, demo: dict[str, str]
) -> None:
    token = cu.grant()
    attachment = clickup.parse_attachment(cu._attachment_json(cu.store.tasks[demo["order"]].attachments[0]))
    assert attachment.extension == "md" and attachment.size > 0
    # The fake's attachment urls name it "localhost", its API 127.0.0.1: another host.
    assert attachment.url.startswith("http://localhost:")
    with clickup.ClickUpClient(api_url=cu.api_url, token=lambda _r: token) as api:
        assert b"18.50 EUR" in api.attachment_content(attachment, max_bytes=10_000)
    # An API at the attachment's host: the token goes with it.
    on_host = cu.api_url.replace("127.0.0.1", "localhost")
    with clickup.ClickUpClient(api_url=on_host, token=lambda _r: token) as api:
        assert b"18.50 EUR" in api.attachment_content(attachment, max_bytes=10_000)
        with pytest.raises(errors.ItemTooLarge):
            api.attachment_content(attachment, max_bytes=10)
    assert [r.headers.get("authorization") for r in downloads(cu)] == [None, token]


def test_an_attachment_url_the_store_refuses_is_that_items_failure_not_a_revoked_grant(
    cu: FakeClickUp, demo: dict[str, str]
) -> None:
    token = cu.grant()
    gone = clickup.Attachment(id="x", title="old.txt", url=f"{cu.base_url.replace('127.0.0.1', 'localhost')}/attachments/nope/old.txt", size=3,
                              extension="txt")
    with clickup.ClickUpClient(api_url=cu.api_url, token=lambda _r: token) as api, \
            pytest.raises(errors.ProviderError) as caught:
        api.attachment_content(gone, max_bytes=10_000)
    assert not isinstance(caught.value, errors.AuthRefused | errors.AccessDenied)


def test_a_listing_without_attachments_has_them_read_from_the_changed_task_itself(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync
) -> None:
    cu.list_attachments = False
    share(cu_connection, "Supplies")

    run = sync(cu_connection, "backfill")

    assert run.status == "succeeded" and run.counts["failed"] == 0, run.item_errors
    assert named(cu_connection, PRICE_LIST) is not None
    assert [r for r in cu.requests if r.path == f"/api/v2/task/{demo['order']}"]  # read for its attachments
