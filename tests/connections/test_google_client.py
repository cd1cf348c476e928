"""The Google wire client (connections/providers/google.py) against the local Google server:
error mapping, paging, the MIME walk. No database."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from connections.providers import errors, google
from tests.fakes.google_server import FakeGoogle


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle() as server:
        yield server


@pytest.fixture
def client(fake: FakeGoogle) -> Iterator[google.GoogleClient]:
    grant = fake.grant()
    refreshed: list[str | None] = []

    def token(refused: str | None) -> str:
        if refused is None:
            return str(grant["access_token"])
        refreshed.append(refused)
        return str(fake.grant()["access_token"])

    with google.GoogleClient(drive_url=fake.drive_url, gmail_url=fake.gmail_url, token=token) as c:
        yield c


def test_429_and_403_rate_limits_are_throttling_with_retry_after(fake: FakeGoogle, client: google.GoogleClient) -> None:
    fake.throttle_next(1, status=429, retry_after="7")
    with pytest.raises(errors.Throttled) as caught:
        client.about()
    assert caught.value.retry_after == 7
    for reason in ("rateLimitExceeded", "userRateLimitExceeded"):
        fake.throttle_next(1, status=403, reason=reason, retry_after="")
        with pytest.raises(errors.Throttled) as caught:
            client.profile()
        assert caught.value.retry_after == errors.DEFAULT_RETRY_AFTER and caught.value.code == reason


def test_another_403_is_access_denied_not_throttling(fake: FakeGoogle, client: google.GoogleClient) -> None:
    fake.throttle_next(1, status=403, reason="insufficientFilePermissions")
    with pytest.raises(errors.AccessDenied):
        client.about()


def test_a_401_refreshes_once_and_retries_then_is_auth_refused(fake: FakeGoogle) -> None:
    asked: list[str | None] = []

    def token(refused: str | None) -> str:
        asked.append(refused)
        return str(fake.grant()["access_token"]) if refused is not None else "expired-token"

    with google.GoogleClient(drive_url=fake.drive_url, gmail_url=fake.gmail_url, token=token) as client:
        assert client.about().email == "dana@brightsmile.example"
    assert asked == [None, "expired-token"]

    with google.GoogleClient(drive_url=fake.drive_url, gmail_url=fake.gmail_url,
                             token=lambda refused: "revoked-token") as client, pytest.raises(errors.AuthRefused):
        client.about()


def test_an_export_over_the_limit_is_one_items_too_large(fake: FakeGoogle, client: google.GoogleClient) -> None:
    fake.export_limit = 10
    doc = client.file(fake.store.doc_add(name="Manual", text="far more than ten bytes"))
    with pytest.raises(errors.ItemTooLarge) as caught:
        client.export(doc, max_bytes=1_000_000)
    assert caught.value.code == "exportSizeLimitExceeded"


def test_a_rejected_page_token_and_a_stale_history_id_are_expired_cursors(
    fake: FakeGoogle, client: google.GoogleClient
) -> None:
    token = client.start_page_token()
    history = client.profile().history_id
    fake.expire_page_tokens()
    fake.expire_history()
    with pytest.raises(errors.CursorExpired):
        client.changes(page_token=token)
    with pytest.raises(errors.CursorExpired):
        client.history(start_history_id=history)
    assert client.changes(page_token=client.start_page_token()).new_start_page_token
    assert client.history(start_history_id=client.profile().history_id).events == []


def test_changes_page_by_token_and_report_removed_and_trashed_files(fake: FakeGoogle, client: google.GoogleClient) -> None:
    fake.page_size = 2
    token = client.start_page_token()
    ids = [fake.store.file_add(name=f"f{n}.txt", content=b"x") for n in range(3)]
    fake.store.trash(ids[0])
    fake.store.delete(ids[1])
    seen: list[google.DriveChange] = []
    page = client.changes(page_token=token)
    while page.next_page_token:
        seen += page.changes
        page = client.changes(page_token=page.next_page_token)
    seen += page.changes
    by_id = {c.file_id: c for c in seen}
    assert by_id[ids[1]].removed and by_id[ids[1]].file is None
    trashed, kept = by_id[ids[0]].file, by_id[ids[2]].file
    assert trashed is not None and trashed.trashed
    assert kept is not None and kept.revision.startswith("md5:")
    assert page.new_start_page_token == str(fake.store.seq)


def test_the_mime_walk_prefers_text_plain_and_finds_attachments() -> None:
    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    message = google.parse_message({
        "id": "m1", "threadId": "t1", "labelIds": ["INBOX"], "internalDate": "1764500000000",
        "payload": {"mimeType": "multipart/mixed", "headers": [
            {"name": "Subject", "value": "Hello"}, {"name": "From", "value": '"Maria Owner" <maria@example.org>'},
            {"name": "To", "value": "a@example.org, B <b@example.org>"}],
            "parts": [
                {"partId": "0", "mimeType": "multipart/alternative", "parts": [
                    {"partId": "0.0", "mimeType": "text/html", "body": {"data": b64("<p>html</p>")}},
                    {"partId": "0.1", "mimeType": "text/plain", "body": {"data": b64("plain ü")}}]},
                {"partId": "1", "mimeType": "application/pdf", "filename": "a.pdf",
                 "body": {"attachmentId": "ANG1", "size": 10}}]},
    })
    assert message.body == "plain ü" and message.content_type == "text"
    assert message.sender == ("Maria Owner", "maria@example.org")
    assert message.to == (("", "a@example.org"), ("B", "b@example.org"))
    assert [(a.part_id, a.filename) for a in message.attachments] == [("1", "a.pdf")]
    html_only = google.parse_message({"id": "m2", "payload": {"mimeType": "text/html", "body": {"data": b64("<b>x</b>")}}})
    assert html_only.body == "<b>x</b>" and html_only.content_type == "html"
