"""Google Drive v3 and Gmail v1 wire client (pure: no ORM, no settings; the caller passes the
base URLs and a token source). Typed results; listings and feeds come one page per call, so
the adapter stores the page token with each page it applies.

Errors (connections.providers.errors): 429, 503 and 403 ``userRateLimitExceeded`` /
``rateLimitExceeded`` → ``Throttled`` (``Retry-After`` when sent); 401 (after one refresh)
→ ``AuthRefused``; 403 ``exportSizeLimitExceeded`` → ``ItemTooLarge`` (one item's failure);
other 403 → ``AccessDenied``; 404 → ``ItemGone``; a Drive page token the server rejects (400)
and a stale Gmail ``startHistoryId`` (404) → ``CursorExpired``; others → ``ProviderError``.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from connections.providers import errors
from connections.providers.http import BearerTransport, TokenSource, parse_time

FOLDER = "application/vnd.google-apps.folder"
NATIVE_PREFIX = "application/vnd.google-apps."
# Native Google files and what they are exported as (Sheets: the first sheet only).
EXPORTS = {
    "application/vnd.google-apps.document": ("text/plain", ".txt"),
    "application/vnd.google-apps.spreadsheet": ("text/csv", ".csv"),
    "application/vnd.google-apps.presentation": ("text/plain", ".txt"),
}
RATE_REASONS = frozenset({"userRateLimitExceeded", "rateLimitExceeded"})
FILE_FIELDS = "id,name,mimeType,trashed,version,md5Checksum,size,parents,driveId,webViewLink,modifiedTime"
PAGE_SIZE = 1000
ALL_DRIVES = {"supportsAllDrives": "true", "includeItemsFromAllDrives": "true"}


# --- Drive types --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    id: str  # Drive's permissionId: stable per Google account
    email: str
    display_name: str

    @property
    def label(self) -> str:
        return self.email or self.display_name or self.id


@dataclass(frozen=True)
class DriveFile:
    id: str
    name: str
    mime_type: str
    parents: tuple[str, ...] = ()
    trashed: bool = False
    md5: str = ""
    version: str = ""
    size: int = 0
    drive_id: str = ""
    web_url: str = ""
    modified: datetime | None = None

    @property
    def is_folder(self) -> bool:
        return self.mime_type == FOLDER

    @property
    def is_native(self) -> bool:
        return self.mime_type.startswith(NATIVE_PREFIX)

    @property
    def exportable(self) -> bool:
        return self.mime_type in EXPORTS

    @property
    def syncable(self) -> bool:
        """A file with content we can read: a binary file or an exportable native one (not a
        folder, a form, a shortcut, a map…)."""
        return not self.is_native or self.exportable

    @property
    def revision(self) -> str:
        """``md5Checksum`` for files (a rename or a move keeps it), ``version`` for native Docs
        (they have no checksum)."""
        if self.md5:
            return f"md5:{self.md5}"
        return f"v:{self.version}"

    @property
    def parent_id(self) -> str:
        return self.parents[0] if self.parents else ""


@dataclass(frozen=True)
class SharedDrive:
    id: str
    name: str


@dataclass(frozen=True)
class DriveChange:
    file_id: str
    removed: bool
    file: DriveFile | None
    drive_id: str = ""
    change_type: str = "file"


@dataclass
class FilePage:
    files: list[DriveFile] = field(default_factory=list)
    next_page_token: str | None = None


@dataclass
class ChangePage:
    changes: list[DriveChange] = field(default_factory=list)
    next_page_token: str | None = None
    new_start_page_token: str | None = None


def parse_file(data: dict[str, Any]) -> DriveFile:
    return DriveFile(
        id=str(data["id"]),
        name=str(data.get("name") or ""),
        mime_type=str(data.get("mimeType") or ""),
        parents=tuple(str(p) for p in data.get("parents") or ()),
        trashed=bool(data.get("trashed")),
        md5=str(data.get("md5Checksum") or ""),
        version=str(data.get("version") or ""),
        size=int(data.get("size") or 0),
        drive_id=str(data.get("driveId") or ""),
        web_url=str(data.get("webViewLink") or ""),
        modified=parse_time(data.get("modifiedTime")),
    )


# --- Gmail types --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    email: str
    history_id: str


@dataclass(frozen=True)
class Label:
    id: str
    name: str
    type: str  # "system" | "user"


@dataclass(frozen=True)
class Attachment:
    """A file attached to a message. ``attachment_id`` changes between reads of the same
    message (Gmail issues a fresh one): ``part_id`` is what identifies it."""

    part_id: str
    filename: str
    attachment_id: str
    size: int
    mime_type: str


@dataclass(frozen=True)
class Message:
    id: str
    thread_id: str
    label_ids: tuple[str, ...]
    internal_date: datetime | None
    subject: str = ""
    sender: tuple[str, str] | None = None  # (display name, address)
    to: tuple[tuple[str, str], ...] = ()
    body: str = ""
    content_type: str = "text"  # "text" | "html"
    message_id_header: str = ""
    attachments: tuple[Attachment, ...] = ()

    @property
    def web_url(self) -> str:
        return f"https://mail.google.com/mail/#all/{self.id}"


@dataclass
class MessageList:
    ids: list[str] = field(default_factory=list)
    next_page_token: str | None = None


@dataclass(frozen=True)
class HistoryEvent:
    kind: str  # "added" | "deleted" | "labels_added" | "labels_removed"
    message_id: str
    message_labels: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()  # the labels added or removed


@dataclass
class HistoryPage:
    events: list[HistoryEvent] = field(default_factory=list)
    next_page_token: str | None = None
    history_id: str = ""


def b64url_decode(data: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return b""


def _headers(payload: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for header in payload.get("headers") or ():
        if isinstance(header, dict):
            out.setdefault(str(header.get("name") or "").lower(), str(header.get("value") or ""))
    return out


def _walk(part: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield part
    for child in part.get("parts") or ():
        if isinstance(child, dict):
            yield from _walk(child)


def _text(part: dict[str, Any]) -> str:
    raw = b64url_decode(str((part.get("body") or {}).get("data") or ""))
    return raw.decode("utf-8", errors="replace")


def parse_message(data: dict[str, Any]) -> Message:
    """A ``format=full`` message: the MIME tree walked for its text/plain body (else its
    text/html one) and its attachments."""
    payload = data.get("payload") or {}
    headers = _headers(payload)
    plain = html = ""
    attachments: list[Attachment] = []
    for part in _walk(payload):
        mime = str(part.get("mimeType") or "").lower()
        body = part.get("body") or {}
        if part.get("filename") and body.get("attachmentId"):
            attachments.append(Attachment(
                part_id=str(part.get("partId") or len(attachments)), filename=str(part["filename"]), attachment_id=str(body["attachmentId"]),
                size=int(body.get("size") or 0), mime_type=mime,
            ))
        elif mime == "text/plain" and not plain:
            plain = _text(part)
        elif mime == "text/html" and not html:
            html = _text(part)
    named = email.utils.getaddresses([headers.get("from", "")])
    sender = (named[0][0], named[0][1]) if named and (named[0][0] or named[0][1]) else None
    to = tuple((n, a) for n, a in email.utils.getaddresses([headers.get("to", "")]) if n or a)
    millis = data.get("internalDate")
    try:
        internal = datetime.fromtimestamp(int(millis) / 1000, tz=UTC) if millis else None
    except (TypeError, ValueError):
        internal = None
    return Message(
        id=str(data["id"]), thread_id=str(data.get("threadId") or ""),
        label_ids=tuple(str(x) for x in data.get("labelIds") or ()), internal_date=internal,
        subject=headers.get("subject", ""), sender=sender, to=to,
        body=plain or html, content_type="text" if plain or not html else "html",
        message_id_header=headers.get("message-id", ""), attachments=tuple(attachments),
    )


def _history_events(records: list[Any]) -> list[HistoryEvent]:
    events: list[HistoryEvent] = []
    keys = (("messagesAdded", "added"), ("messagesDeleted", "deleted"),
            ("labelsAdded", "labels_added"), ("labelsRemoved", "labels_removed"))
    for record in records:
        if not isinstance(record, dict):
            continue
        for key, kind in keys:
            for entry in record.get(key) or ():
                message = (entry or {}).get("message") or {}
                if "id" not in message:
                    continue
                events.append(HistoryEvent(
                    kind=kind, message_id=str(message["id"]),
                    message_labels=tuple(str(x) for x in message.get("labelIds") or ()),
                    labels=tuple(str(x) for x in entry.get("labelIds") or ()),
                ))
    return events


# --- errors -------------------------------------------------------------------------------------


def _error(response: httpx.Response) -> tuple[str, str]:
    """(reason, message) of a Google error body."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        reasons = [str(e.get("reason") or "") for e in error.get("errors") or () if isinstance(e, dict)]
        return (reasons[0] if reasons else str(error.get("status") or "")), str(error.get("message") or "")[:300]
    if isinstance(error, str):  # the OAuth style {"error": "invalid_token"}
        return error, str(body.get("error_description") or "")[:300]
    return "", ""


def raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    reason, message = _error(response)
    text = f"Google {status}{' ' + reason if reason else ''}{': ' + message if message else ''}"
    if status in (429, 503) or (status == 403 and reason in RATE_REASONS):
        raise errors.Throttled(
            text, retry_after=errors.parse_retry_after(response.headers.get("Retry-After")), status=status, code=reason
        )
    if status == 401:
        raise errors.AuthRefused(text, status=status, code=reason)
    if status == 403 and reason == "exportSizeLimitExceeded":
        raise errors.ItemTooLarge(text, status=status, code=reason)
    if status == 403:
        raise errors.AccessDenied(text, status=status, code=reason)
    if status == 404:
        raise errors.ItemGone(text, status=status, code=reason)
    raise errors.ProviderError(text, status=status, code=reason)


# --- the client ---------------------------------------------------------------------------------


class GoogleClient:
    def __init__(
        self, *, drive_url: str, gmail_url: str, token: TokenSource, http: httpx.Client | None = None,
        timeout: float = 30,
    ) -> None:
        self.drive_url = drive_url.rstrip("/")
        self.gmail_url = gmail_url.rstrip("/")
        self._t = BearerTransport(name="Google", token=token, raise_for_status=raise_for_status, http=http,
                                  timeout=timeout)

    @property
    def request_count(self) -> int:
        return self._t.request_count

    def close(self) -> None:
        self._t.close()

    def __enter__(self) -> GoogleClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drive(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        return self._t.get_json(f"{self.drive_url}{path}", params=params)

    def _gmail(self, path: str, params: dict[str, str] | list[tuple[str, str]] | None = None) -> dict[str, Any]:
        return self._t.get_json(f"{self.gmail_url}/users/me{path}", params=params)

    # --- account and Drive roots -----------------------------------------------------------

    def about(self) -> Account:
        user = self._drive("/about", {"fields": "user"}).get("user") or {}
        return Account(id=str(user.get("permissionId") or user.get("emailAddress") or ""),
                       email=str(user.get("emailAddress") or ""), display_name=str(user.get("displayName") or ""))

    def file(self, file_id: str) -> DriveFile:
        return parse_file(self._drive(f"/files/{quote(file_id, safe='')}",
                                      {"fields": FILE_FIELDS, "supportsAllDrives": "true"}))

    def shared_drives(self) -> Iterator[SharedDrive]:
        token: str | None = None
        while True:
            params = {"pageSize": "100", **({"pageToken": token} if token else {})}
            data = self._drive("/drives", params)
            for drive in data.get("drives") or ():
                yield SharedDrive(id=str(drive["id"]), name=str(drive.get("name") or ""))
            token = data.get("nextPageToken")
            if not token:
                return

    def files(self, *, q: str, drive_id: str | None = None, page_token: str | None = None,
              page_size: int = PAGE_SIZE) -> FilePage:
        """One page of ``files.list`` (shared drives included when ``drive_id`` names one)."""
        params = {"q": q, "pageSize": str(page_size), "fields": f"nextPageToken,incompleteSearch,files({FILE_FIELDS})",
                  **ALL_DRIVES}
        params.update({"corpora": "drive", "driveId": drive_id} if drive_id else {"corpora": "user"})
        if page_token:
            params["pageToken"] = page_token
        data = self._drive("/files", params)
        return FilePage(files=[parse_file(f) for f in data.get("files") or () if isinstance(f, dict) and "id" in f],
                        next_page_token=data.get("nextPageToken") or None)

    def children(self, folder_id: str, *, drive_id: str | None = None, page_token: str | None = None,
                 folders_only: bool = False) -> FilePage:
        q = f"'{folder_id}' in parents and trashed = false"
        if folders_only:
            q += f" and mimeType = '{FOLDER}'"
        return self.files(q=q, drive_id=drive_id, page_token=page_token)

    # --- Drive changes and content -----------------------------------------------------------

    def start_page_token(self, *, drive_id: str | None = None) -> str:
        params = {"supportsAllDrives": "true", **({"driveId": drive_id} if drive_id else {})}
        token = self._drive("/changes/startPageToken", params).get("startPageToken")
        if not isinstance(token, str) or not token:
            raise errors.ProviderError("Drive gave no startPageToken")
        return token

    def changes(self, *, page_token: str, drive_id: str | None = None, page_size: int = PAGE_SIZE) -> ChangePage:
        """One page of ``changes.list``. A page token the server rejects (400) → CursorExpired."""
        params = {
            "pageToken": page_token, "pageSize": str(page_size), "includeRemoved": "true", "spaces": "drive",
            "fields": f"nextPageToken,newStartPageToken,changes(changeType,removed,fileId,time,driveId,file({FILE_FIELDS}))",
            **ALL_DRIVES, **({"driveId": drive_id} if drive_id else {}),
        }
        try:
            data = self._drive("/changes", params)
        except errors.ProviderError as exc:
            if exc.status == 400:
                raise errors.CursorExpired(f"Drive refused the page token: {exc}", status=400, code=exc.code) from None
            raise
        out = ChangePage(next_page_token=data.get("nextPageToken") or None,
                         new_start_page_token=data.get("newStartPageToken") or None)
        for change in data.get("changes") or ():
            if not isinstance(change, dict) or not change.get("fileId") and not change.get("file"):
                continue
            file = change.get("file")
            out.changes.append(DriveChange(
                file_id=str(change.get("fileId") or (file or {}).get("id")), removed=bool(change.get("removed")),
                file=parse_file(file) if isinstance(file, dict) and "id" in file else None,
                drive_id=str(change.get("driveId") or ""), change_type=str(change.get("changeType") or "file"),
            ))
        return out

    def _bytes(self, url: str, params: dict[str, str], *, max_bytes: int, name: str) -> bytes:
        response = self._t.request("GET", url, params=params)
        if len(response.content) > max_bytes:
            raise errors.ItemTooLarge(f"{name} exceeds {max_bytes} bytes", code="too_large")
        return response.content

    def export(self, file: DriveFile, *, max_bytes: int) -> bytes:
        """A native Doc as text (Docs, Slides) or CSV (Sheets). Over 10 MB Google answers 403
        ``exportSizeLimitExceeded`` → ItemTooLarge."""
        mime = EXPORTS[file.mime_type][0]
        return self._bytes(f"{self.drive_url}/files/{quote(file.id, safe='')}/export", {"mimeType": mime},
                           max_bytes=max_bytes, name=file.name)

    def download(self, file: DriveFile, *, max_bytes: int) -> bytes:
        if file.size and file.size > max_bytes:
            raise errors.ItemTooLarge(f"{file.name} is {file.size} bytes (limit {max_bytes})", code="too_large")
        return self._bytes(f"{self.drive_url}/files/{quote(file.id, safe='')}",
                           {"alt": "media", "supportsAllDrives": "true"}, max_bytes=max_bytes, name=file.name)

    # --- Gmail ---------------------------------------------------------------------------------

    def profile(self) -> Profile:
        data = self._gmail("/profile")
        return Profile(email=str(data.get("emailAddress") or ""), history_id=str(data.get("historyId") or ""))

    def labels(self) -> list[Label]:
        data = self._gmail("/labels")
        return [Label(id=str(x["id"]), name=str(x.get("name") or x["id"]), type=str(x.get("type") or "user"))
                for x in data.get("labels") or () if isinstance(x, dict) and "id" in x]

    def messages(self, *, label_id: str, after: datetime | None = None, page_token: str | None = None,
                 page_size: int = 100) -> MessageList:
        params: dict[str, str] = {"labelIds": label_id, "maxResults": str(page_size), "includeSpamTrash": "false"}
        if after is not None:
            params["q"] = f"after:{int(after.timestamp())}"
        if page_token:
            params["pageToken"] = page_token
        data = self._gmail("/messages", params)
        return MessageList(ids=[str(m["id"]) for m in data.get("messages") or () if isinstance(m, dict) and "id" in m],
                           next_page_token=data.get("nextPageToken") or None)

    def message(self, message_id: str) -> Message:
        return parse_message(self._gmail(f"/messages/{quote(message_id, safe='')}", {"format": "full"}))

    def attachment(self, *, message_id: str, attachment_id: str) -> bytes:
        data = self._gmail(f"/messages/{quote(message_id, safe='')}/attachments/{quote(attachment_id, safe='')}")
        return b64url_decode(str(data.get("data") or ""))

    def history(self, *, start_history_id: str, page_token: str | None = None, page_size: int = 500) -> HistoryPage:
        """One page of ``history.list``. A stale ``startHistoryId`` (404) → CursorExpired."""
        params: list[tuple[str, str]] = [("startHistoryId", start_history_id), ("maxResults", str(page_size))]
        params += [("historyTypes", t) for t in ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")]
        if page_token:
            params.append(("pageToken", page_token))
        try:
            data = self._gmail("/history", params)
        except errors.ItemGone as exc:
            raise errors.CursorExpired(f"Gmail no longer has history from {start_history_id}: {exc}",
                                       status=404, code=exc.code) from None
        return HistoryPage(events=_history_events(list(data.get("history") or ())),
                           next_page_token=data.get("nextPageToken") or None,
                           history_id=str(data.get("historyId") or ""))
