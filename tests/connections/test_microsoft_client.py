"""The Graph wire client against the local Graph server: roots, delta paging and tombstones,
downloads, mail and Teams deltas, and the unhappy paths (throttling, 410, empty pages,
repeated items, null names, missing consent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from connections.providers import errors, microsoft
from tests.fakes.msgraph_server import FakeMicrosoft

pytestmark = pytest.mark.django_db


def _drain(pages: Any) -> tuple[list[Any], str]:
    items: list[Any] = []
    link = ""
    for page in pages:
        items.extend(page.items)
        link = page.delta_link or link
    return items, link


def test_account_label_is_the_mail_else_the_sign_in_name(ms: FakeMicrosoft, graph: microsoft.GraphClient) -> None:
    assert graph.me().label == "dana@brightsmile.example"
    ms.store.user["mail"] = None
    ms.store.user["displayName"] = None
    account = graph.me()
    assert account.label == "dana@brightsmile.onmicrosoft.example" and account.display_name is None


def test_roots_list_onedrive_libraries_folders_mail_folders_and_channels(
    ms: FakeMicrosoft, graph: microsoft.GraphClient
) -> None:
    store = ms.store
    site = store.site_add(name="Reception")
    library = store.drive_add(name="Documents", site_id=site)
    folder = store.folder_add(drive_id=library, name="Prices")
    store.file_add(drive_id=library, name="readme.txt", content=b"x")
    inbox = store.mail_folder_id("inbox")
    assert inbox
    store.mail_folder_add(name="Suppliers", parent_id=inbox)
    team = store.team_add(name="Front desk")
    channel = store.channel_add(team_id=team, name="General")

    assert graph.my_drive().id == store.personal_drive_id
    assert [(s.id, s.name) for s in graph.sites()] == [(site, "Reception")]
    assert [d.id for d in graph.site_drives(site)] == [library]
    top = list(graph.children(drive_id=library))
    assert {(i.name, i.is_folder) for i in top} == {("Prices", True), ("readme.txt", False)}
    assert [i.id for i in top if i.is_folder] == [folder]
    assert {f.name for f in graph.mail_folders()} == {"Inbox", "Sent Items", "Archive"}
    assert [f.name for f in graph.mail_folders(parent_id=inbox)] == ["Suppliers"]
    assert [t.id for t in graph.joined_teams()] == [team]
    assert [(c.id, c.name) for c in graph.channels(team_id=team)] == [(channel, "General")]


def test_drive_delta_enumerates_by_pages_then_returns_exactly_what_changed(
    ms: FakeMicrosoft, graph: microsoft.GraphClient
) -> None:
    store = ms.store
    drive = store.personal_drive_id
    folder = store.folder_add(drive_id=drive, name="Policies")
    other = store.folder_add(drive_id=drive, name="Other")
    files = [store.file_add(drive_id=drive, parent_id=folder, name=f"p{i}.txt", content=f"rule {i}".encode()) for i in range(5)]
    pages = list(graph.drive_delta(drive_id=drive, page_size=3))
    assert len(pages) == 3 and all(p.next_link for p in pages[:-1]) and pages[-1].delta_link
    items = [i for p in pages for i in p.items]
    assert sum(i.is_root for i in items) == 1
    assert {i.id for i in items if i.is_file} == set(files)
    first = {i.id: i for i in items}
    delta_link = pages[-1].delta_link
    assert delta_link

    store.item_rename(files[0], "renamed.txt")
    store.item_move(files[1], other)
    store.file_edit(files[2], b"rule 2, changed")
    store.item_delete(files[3])
    changed, next_link = _drain(graph.drive_delta(drive_id=drive, link=delta_link))
    by_id = {i.id: i for i in changed}
    assert set(by_id) == {files[0], files[1], files[2], files[3]}
    assert by_id[files[0]].name == "renamed.txt"
    assert by_id[files[0]].revision == first[files[0]].revision  # a rename is no new content
    assert by_id[files[1]].parent_id == other and by_id[files[1]].revision == first[files[1]].revision
    assert by_id[files[2]].revision != first[files[2]].revision
    assert by_id[files[3]].deleted and not by_id[files[3]].is_file
    assert next_link and next_link != delta_link

    nothing, _ = _drain(graph.drive_delta(drive_id=drive, link=next_link))
    assert nothing == []


def test_a_no_change_delta_is_one_request(ms: FakeMicrosoft, graph: microsoft.GraphClient) -> None:
    drive = ms.store.personal_drive_id
    ms.store.file_add(drive_id=drive, name="a.txt", content=b"a")
    _, link = _drain(graph.drive_delta(drive_id=drive))
    before = graph.request_count
    assert _drain(graph.drive_delta(drive_id=drive, link=link))[0] == []
    assert graph.request_count - before == 1


def test_latest_delta_link_taken_before_a_backfill_sees_changes_made_during_it(
    ms: FakeMicrosoft, graph: microsoft.GraphClient
) -> None:
    drive = ms.store.personal_drive_id
    early = ms.store.file_add(drive_id=drive, name="early.txt", content=b"1")
    latest = graph.drive_delta_latest(drive_id=drive)
    backfill = graph.drive_delta(drive_id=drive, page_size=1)
    next(backfill)
    during = ms.store.file_add(drive_id=drive, name="during.txt", content=b"2")
    ms.store.file_edit(early, b"1b")
    list(backfill)
    changed, _ = _drain(graph.drive_delta(drive_id=drive, link=latest))
    assert {i.id for i in changed} == {during, early}


def test_empty_pages_with_a_next_link_are_followed(ms: FakeMicrosoft, graph: microsoft.GraphClient) -> None:
    drive = ms.store.personal_drive_id
    ids = {ms.store.file_add(drive_id=drive, name=f"{i}.txt", content=b"x") for i in range(4)}
    ms.empty_pages(3)
    pages = list(graph.drive_delta(drive_id=drive, page_size=2))
    assert sum(1 for p in pages if not p.items and p.next_link) == 3
    assert ids <= {i.id for p in pages for i in p.items}


def test_items_repeated_across_pages_are_all_passed_on(ms: FakeMicrosoft, graph: microsoft.GraphClient) -> None:
    ms.repeat_items = True
    drive = ms.store.personal_drive_id
    for i in range(5):
        ms.store.file_add(drive_id=drive, name=f"{i}.txt", content=b"x")
    ids = [i.id for p in graph.drive_delta(drive_id=drive, page_size=2) for i in p.items]
    assert len(ids) > len(set(ids)) == 6  # root + 5 files, some twice


def test_throttling_is_raised_with_retry_after_in_seconds(ms: FakeMicrosoft, graph: microsoft.GraphClient) -> None:
    ms.throttle_next(1, retry_after="2")
    with pytest.raises(errors.Throttled) as info:
        graph.me()
    assert info.value.retry_after == 2 and info.value.status == 429
    assert graph.me().id == "user-1"  # the next call goes through


def test_throttling_with_an_http_date_and_503(ms: FakeMicrosoft, graph: microsoft.GraphClient) -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    ms.throttle_next(1, retry_after=format_datetime(when, usegmt=True), status=503)
    with pytest.raises(errors.Throttled) as info:
        graph.me()
    assert 80 <= info.value.retry_after <= 91 and info.value.status == 503


def test_retry_after_parsing() -> None:
    assert errors.parse_retry_after("5") == 5
    assert errors.parse_retry_after(None) == errors.DEFAULT_RETRY_AFTER
    assert errors.parse_retry_after("garbage") == errors.DEFAULT_RETRY_AFTER
    assert errors.parse_retry_after("-3") == 0
    assert errors.parse_retry_after("99999") == errors.MAX_RETRY_AFTER
    assert errors.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past


def test_an_expired_delta_link_is_cursor_expired(ms: FakeMicrosoft, graph: microsoft.GraphClient) -> None:
    drive = ms.store.personal_drive_id
    ms.store.file_add(drive_id=drive, name="a.txt", content=b"a")
    _, link = _drain(graph.drive_delta(drive_id=drive))
    ms.store.file_add(drive_id=drive, name="b.txt", content=b"b")
    ms.expire_delta_links()
    with pytest.raises(errors.CursorExpired) as info:
        list(graph.drive_delta(drive_id=drive, link=link))
    assert info.value.status == 410 and info.value.code == "resyncRequired"
    items, _ = _drain(graph.drive_delta(drive_id=drive))  # a full enumeration works
    assert {i.name for i in items if i.is_file} == {"a.txt", "b.txt"}


def test_download_uses_the_pre_authenticated_url_without_authorization(
    ms: FakeMicrosoft, graph: microsoft.GraphClient
) -> None:
    drive = ms.store.personal_drive_id
    ms.store.file_add(drive_id=drive, name="hours.txt", content=b"Open 8-5")
    (item,) = [i for p in graph.drive_delta(drive_id=drive) for i in p.items if i.is_file]
    assert graph.download(item, max_bytes=1000) == b"Open 8-5"
    (request,) = ms.requests_to("/_download/")
    assert "authorization" not in request.headers and request.status == 200


def test_download_falls_back_to_content_when_the_url_is_stale(
    ms: FakeMicrosoft, graph: microsoft.GraphClient
) -> None:
    drive = ms.store.personal_drive_id
    file_id = ms.store.file_add(drive_id=drive, name="hours.txt", content=b"v1")
    (item,) = [i for p in graph.drive_delta(drive_id=drive) for i in p.items if i.is_file]
    ms.store.file_edit(file_id, b"v2")  # the URL in hand now points at an old version
    assert graph.download(item, max_bytes=1000) == b"v2"
    statuses = [(r.path.split("/")[-1], r.status) for r in ms.requests if "/content" in r.path or "_download" in r.path]
    assert statuses == [(file_id, 404), ("content", 302), (file_id, 200)]


def test_download_over_the_limit_is_item_too_large(ms: FakeMicrosoft, graph: microsoft.GraphClient) -> None:
    drive = ms.store.personal_drive_id
    ms.store.file_add(drive_id=drive, name="big.txt", content=b"x" * 5000)
    (item,) = [i for p in graph.drive_delta(drive_id=drive) for i in p.items if i.is_file]
    with pytest.raises(errors.ItemTooLarge):
        graph.download(item, max_bytes=1000)


def test_mail_delta_uses_immutable_ids_page_size_and_reports_removals(
    ms: FakeMicrosoft, graph: microsoft.GraphClient
) -> None:
    store = ms.store
    inbox = store.mail_folder_id("inbox")
    archive = store.mail_folder_id("archive")
    assert inbox and archive
    ids = [store.mail_add(folder_id=inbox, subject=f"Question {i}", body=f"<p>Body {i}</p>") for i in range(5)]
    pages = list(graph.mail_delta(folder_id=inbox, page_size=2))
    assert [len(p.items) for p in pages] == [2, 2, 1]
    first = {m.id: m for p in pages for m in p.items}
    assert set(first) == set(ids)
    message = first[ids[0]]
    assert message.subject == "Question 0" and message.body_type == "html"
    assert message.sender and message.sender.address == "pat@example.org"
    delta_request = ms.requests_to("/messages/delta")[0]
    assert 'IdType="ImmutableId"' in delta_request.headers["prefer"]
    assert "odata.maxpagesize=2" in delta_request.headers["prefer"]

    store.mail_edit(ids[1], body="<p>edited</p>")
    store.mail_delete(ids[2])
    store.mail_move(ids[3], archive)
    changed, _ = _drain(graph.mail_delta(folder_id=inbox, link=pages[-1].delta_link))
    by_id = {m.id: m for m in changed}
    assert set(by_id) == {ids[1], ids[2], ids[3]}
    assert by_id[ids[2]].removed and by_id[ids[3]].removed and not by_id[ids[1]].removed
    assert by_id[ids[1]].revision != first[ids[1]].revision
    moved, _ = _drain(graph.mail_delta(folder_id=archive))
    assert [m.id for m in moved] == [ids[3]]  # the same id in its new folder


def test_mail_window_filter_goes_on_the_first_call_only(ms: FakeMicrosoft, graph: microsoft.GraphClient) -> None:
    inbox = ms.store.mail_folder_id("inbox")
    assert inbox
    for i in range(3):
        ms.store.mail_add(folder_id=inbox, subject=str(i), body="b")
    since = datetime(2026, 8, 1, tzinfo=UTC)
    list(graph.mail_delta(folder_id=inbox, page_size=2, received_since=since))
    calls = ms.requests_to("/messages/delta")
    assert calls[0].query["$filter"] == "receivedDateTime ge 2026-08-01T00:00:00Z"
    assert all("$filter" not in c.query for c in calls[1:]) and len(calls) == 2


def test_an_expired_mail_delta_link_is_cursor_expired(ms: FakeMicrosoft, graph: microsoft.GraphClient) -> None:
    inbox = ms.store.mail_folder_id("inbox")
    assert inbox
    ms.store.mail_add(folder_id=inbox, subject="s", body="b")
    _, link = _drain(graph.mail_delta(folder_id=inbox))
    ms.expire_delta_links()
    with pytest.raises(errors.CursorExpired) as info:
        list(graph.mail_delta(folder_id=inbox, link=link))
    assert info.value.code == "SyncStateNotFound"


def test_teams_delta_and_replies_with_null_names_and_soft_deletes(
    ms: FakeMicrosoft, graph: microsoft.GraphClient
) -> None:
    store = ms.store
    team = store.team_add(name="Front desk")
    channel = store.channel_add(team_id=team, name="Prices")
    root = store.thread_add(team_id=team, channel_id=channel, body="<p>Whitening price?</p>", subject="Prices")
    reply = store.reply_add(root_id=root, body="<p>199 EUR</p>", author_name=None)
    gone = store.reply_add(root_id=root, body="<p>typo</p>")
    store.channel_message_delete(gone)

    pages = list(graph.channel_messages_delta(team_id=team, channel_id=channel, page_size=200))
    assert ms.requests_to("/messages/delta")[0].query["$top"] == "50"  # capped
    (thread,) = [m for p in pages for m in p.items]
    assert thread.id == root and thread.reply_to_id is None and thread.subject == "Prices"
    replies = list(graph.channel_replies(team_id=team, channel_id=channel, message_id=root))
    assert [r.id for r in replies] == [reply, gone]
    assert replies[0].author_name is None and replies[0].body == "<p>199 EUR</p>"
    assert replies[1].deleted and replies[1].body == ""

    store.channel_message_edit(reply, "<p>209 EUR</p>")
    changed, _ = _drain(graph.channel_messages_delta(team_id=team, channel_id=channel, link=pages[-1].delta_link))
    assert [m.id for m in changed] == [root]
    assert changed[0].last_modified and thread.last_modified and changed[0].last_modified > thread.last_modified


def test_teams_messages_without_admin_consent_are_access_denied(
    ms: FakeMicrosoft, graph: microsoft.GraphClient
) -> None:
    ms.teams_consent_missing = True
    team = ms.store.team_add(name="T")
    channel = ms.store.channel_add(team_id=team, name="C")
    with pytest.raises(errors.AccessDenied, match="ChannelMessage.Read.All"):
        list(graph.channel_messages_delta(team_id=team, channel_id=channel))


def test_an_item_that_is_gone_is_item_gone(ms: FakeMicrosoft, graph: microsoft.GraphClient) -> None:
    with pytest.raises(errors.ItemGone):
        graph.item(drive_id=ms.store.personal_drive_id, item_id="nope")


def test_deleting_a_folder_reports_a_tombstone_for_it_and_everything_under_it(
    ms: FakeMicrosoft, graph: microsoft.GraphClient
) -> None:
    store = ms.store
    drive = store.personal_drive_id
    folder = store.folder_add(drive_id=drive, name="Old")
    sub = store.folder_add(drive_id=drive, parent_id=folder, name="Older")
    files = {store.file_add(drive_id=drive, parent_id=p, name=f"{p}.txt", content=b"x") for p in (folder, sub)}
    keep = store.file_add(drive_id=drive, name="keep.txt", content=b"k")
    _, link = _drain(graph.drive_delta(drive_id=drive))
    store.item_delete(folder)
    changed, _ = _drain(graph.drive_delta(drive_id=drive, link=link))
    assert {i.id for i in changed} == {folder, sub, *files}
    assert all(i.deleted for i in changed)
    assert [i.id for i in graph.children(drive_id=drive)] == [keep]


def test_message_attachments_are_listed_without_their_bytes_and_fetched_raw(
    ms: FakeMicrosoft, graph: microsoft.GraphClient
) -> None:
    store = ms.store
    inbox = store.mail_folder_id("inbox") or ""
    message = store.mail_add(folder_id=inbox, subject="Forms", body="Attached.")
    form = store.attachment_add(message, name="intake-form.txt", content=b"Name, date of birth, insurer.")
    store.attachment_add(message, name="logo.png", content=b"\x89PNG", is_inline=True)
    store.attachment_add(message, name="Fwd: question", content=b"", kind="item")

    listed = list(graph.message_attachments(message_id=message))

    assert [(a.name, a.kind, a.is_inline) for a in listed] == [
        ("intake-form.txt", "file", False), ("logo.png", "file", True), ("Fwd: question", "item", False)]
    [listing] = ms.requests_to("/attachments")
    assert listing.query["$select"] == "id,name,contentType,size,isInline,lastModifiedDateTime"
    assert listing.headers["prefer"] == 'IdType="ImmutableId"'
    assert listed[0].id == form and listed[0].size >= len(b"Name, date of birth, insurer.")
    assert listed[0].revision.startswith("att:")
    assert graph.attachment_content(listed[0], max_bytes=10_000) == b"Name, date of birth, insurer."
    assert ms.requests_to("/attachments")[-1].path.endswith(f"/attachments/{form}/$value")


def test_an_attachment_over_the_limit_is_item_too_large_before_any_download(
    ms: FakeMicrosoft, graph: microsoft.GraphClient
) -> None:
    inbox = ms.store.mail_folder_id("inbox") or ""
    message = ms.store.mail_add(folder_id=inbox, subject="Big", body="Attached.")
    ms.store.attachment_add(message, name="big.txt", content=b"x" * 5000)
    [attachment] = graph.message_attachments(message_id=message)

    with pytest.raises(errors.ItemTooLarge):
        graph.attachment_content(attachment, max_bytes=1000)
    assert not ms.requests_to("/$value")


def test_attachments_of_a_deleted_message_are_item_gone(ms: FakeMicrosoft, graph: microsoft.GraphClient) -> None:
    inbox = ms.store.mail_folder_id("inbox") or ""
    message = ms.store.mail_add(folder_id=inbox, subject="Gone", body="Attached.")
    ms.store.attachment_add(message, name="a.txt", content=b"alpha")
    ms.store.mail_delete(message)
    with pytest.raises(errors.ItemGone):
        list(graph.message_attachments(message_id=message))
