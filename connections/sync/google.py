"""Google sources as pages of changes (the engine's ``Adapter``), over the Google wire client
(connections.providers.google).

* Drive (``gdrive_folder``: a folder and everything under it, "My Drive" being its root
  folder; ``shared_drive``: a whole shared drive). The change cursor is
  ``changes.getStartPageToken``, taken before the backfill (``begin``). The backfill walks
  the folder tree with ``files.list`` (``trashed = false``; a shared drive is one flat
  listing), its resumable position (folders still to list + page token) kept in the link.
  Deltas follow ``changes.list`` (page token per page, ``newStartPageToken`` at the end):
  ``removed`` or ``file.trashed`` → delete; a file whose ancestry no longer reaches the
  selected folder → removal (the memo holds the folder tree, unknown folders are looked up
  once); a known folder moved out takes its files with it, one moved in brings them.
  Revision = ``md5Checksum`` (native Docs: ``version``), so a rename or a move fetches
  nothing. Docs and Slides are exported as text, Sheets as CSV; an export over Google's
  limit (``exportSizeLimitExceeded``) is that item's failure.
* Gmail labels (``gmail_label``): the cursor is the profile's ``historyId`` taken before the
  backfill; the backfill lists the label's messages within ``KB_MAIL_WINDOW_DAYS``; deltas
  read ``history.list`` — a message added to or deleted from the mailbox, or a label change
  that moves it in or out of the selected label, is checked against its current labels (one
  ``messages.get``) and kept or removed. Trash and spam leave. External id = the Gmail
  message id; one virtual document per message rendered by the source's ``mail_tier``.
  Attachments (DESIGN §9) become child documents of their message through the file pipeline
  (``Content.children``, identity = message id + MIME part id, since Gmail's attachment ids
  change between reads), read when the message is (Gmail messages are immutable); the
  ``metadata`` tier takes none. They need the engine's child documents (``Content.children``,
  added for Outlook attachments on another branch): until that is merged, none are listed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings

from connections import mailclean, models
from connections.providers import errors, google
from connections.sync.changes import Change, Content, Page, Remove, RemoveWithin, Upsert
from knowledge import models as kb

DRIVE_SURFACES = (models.Surface.GDRIVE_FOLDER, models.Surface.SHARED_DRIVE)
MAX_DEPTH = 64
GMAIL_PAGE = 100
LEAVES_MAILBOX = frozenset({"TRASH", "SPAM"})


def _shared_drive_id(source: models.ConnectionSource) -> str | None:
    """The shared drive a source lives in (None: the user's own corpus)."""
    if source.surface == models.Surface.SHARED_DRIVE:
        return source.root_id
    return str((source.extra or {}).get("drive_id") or "") or None


class GoogleAdapter:
    def __init__(self, *, client: google.GoogleClient) -> None:
        self.client = client

    @property
    def request_count(self) -> int:
        return self.client.request_count

    def close(self) -> None:
        self.client.close()

    def begin(self, source: models.ConnectionSource) -> str | None:
        if source.surface in DRIVE_SURFACES:
            return self.client.start_page_token(drive_id=_shared_drive_id(source))
        if source.surface == models.Surface.GMAIL_LABEL:
            return self.client.profile().history_id
        raise errors.ProviderError(f"Google cannot sync a {source.surface} source")

    def enumerate(self, source: models.ConnectionSource, *, link: str | None, memo: dict[str, Any]) -> Iterator[Page]:
        if source.surface == models.Surface.SHARED_DRIVE:
            return self._drive_listing(source, link=link, memo=memo)
        if source.surface == models.Surface.GDRIVE_FOLDER:
            return self._folder_walk(source, link=link, memo=memo)
        if source.surface == models.Surface.GMAIL_LABEL:
            return self._mail_listing(source, link=link)
        raise errors.ProviderError(f"Google cannot sync a {source.surface} source")

    def changes(self, source: models.ConnectionSource, *, link: str, memo: dict[str, Any]) -> Iterator[Page]:
        if source.surface in DRIVE_SURFACES:
            return self._drive_changes(source, link=link, memo=memo)
        if source.surface == models.Surface.GMAIL_LABEL:
            return self._history(source, link=link)
        raise errors.ProviderError(f"Google cannot sync a {source.surface} source")

    # --- Drive: backfill ------------------------------------------------------------------------

    def _drive_listing(self, source: models.ConnectionSource, *, link: str | None, memo: dict[str, Any]) -> Iterator[Page]:
        """A shared drive: one flat listing of its files, paged."""
        folders: dict[str, str | None] = memo.setdefault("folders", {})
        token = link
        while True:
            page = self.client.files(q="trashed = false", drive_id=source.root_id, page_token=token)
            changes: list[Change] = []
            for file in page.files:
                if file.is_folder:
                    folders[file.id] = file.parent_id or None
                elif file.syncable:
                    changes.append(self._upsert(file))
            token = page.next_page_token
            yield Page(changes=changes, next_link=token)
            if not token:
                return

    def _folder_walk(self, source: models.ConnectionSource, *, link: str | None, memo: dict[str, Any]) -> Iterator[Page]:
        """A folder and its subfolders, breadth first; the link is ``{"queue", "token"}``."""
        folders: dict[str, str | None] = memo.setdefault("folders", {})
        drive_id = _shared_drive_id(source)
        position = json.loads(link) if link else {"queue": [source.root_id], "token": None}
        queue: list[str] = list(position.get("queue") or [])
        token: str | None = position.get("token")
        while queue:
            page = self.client.children(queue[0], drive_id=drive_id, page_token=token)
            changes: list[Change] = []
            for file in page.files:
                if file.is_folder:
                    folders[file.id] = queue[0]
                    queue.append(file.id)
                elif file.syncable:
                    changes.append(self._upsert(file))
            token = page.next_page_token
            if not token:
                queue.pop(0)
            yield Page(changes=changes, next_link=json.dumps({"queue": queue, "token": token}) if queue else None)

    # --- Drive: changes --------------------------------------------------------------------------

    def _drive_changes(self, source: models.ConnectionSource, *, link: str, memo: dict[str, Any]) -> Iterator[Page]:
        folders: dict[str, str | None] = memo.setdefault("folders", {})
        drive_id = _shared_drive_id(source)
        token: str | None = link
        while token:
            page = self.client.changes(page_token=token, drive_id=drive_id)
            changes: list[Change] = []
            for change in page.changes:
                changes.extend(self._drive_change(source, change, memo, folders))
            token = page.next_page_token
            yield Page(changes=changes, next_link=token, final_link=page.new_start_page_token)

    def _drive_change(self, source: models.ConnectionSource, change: google.DriveChange, memo: dict[str, Any],
                      folders: dict[str, str | None]) -> list[Change]:
        kind = kb.SourceKind.GDRIVE
        file = change.file
        if change.change_type == "drive":
            return []  # a shared drive's own metadata
        if change.removed or file is None or file.trashed:
            if change.file_id in folders:  # a folder gone: its files with it
                return [RemoveWithin(tuple(_subtree(change.file_id, folders)), kind), Remove(change.file_id, kind)]
            return [Remove(change.file_id, kind)]
        if file.is_folder:
            return self._folder_seen(source, file, memo, folders)
        if not self._inside(source, file, memo, folders) or not file.syncable:
            return [Remove(file.id, kind)]
        return [self._upsert(file)]

    def _folder_seen(self, source: models.ConnectionSource, folder: google.DriveFile, memo: dict[str, Any],
                     folders: dict[str, str | None]) -> list[Change]:
        """Record a folder; a known folder that moved out of the selection takes its files with
        it, one that moved in brings them (neither comes in the changes by itself)."""
        if source.surface == models.Surface.SHARED_DRIVE or folder.id == source.root_id:
            folders[folder.id] = folder.parent_id or None
            return []
        known = folder.id in folders
        was = known and self._reaches(source, folders[folder.id], memo, folders)
        folders[folder.id] = folder.parent_id or None
        now = self._reaches(source, folder.parent_id or None, memo, folders)
        if was and not now:
            return [RemoveWithin(tuple(_subtree(folder.id, folders)), kb.SourceKind.GDRIVE)]
        if now and not was:
            return list(self._files_under(source, folder.id, folders))
        return []

    def _files_under(self, source: models.ConnectionSource, folder_id: str,
                     folders: dict[str, str | None]) -> Iterator[Change]:
        token: str | None = None
        drive_id = _shared_drive_id(source)
        while True:
            page = self.client.children(folder_id, drive_id=drive_id, page_token=token)
            for file in page.files:
                if file.is_folder:
                    folders[file.id] = folder_id
                    yield from self._files_under(source, file.id, folders)
                elif file.syncable:
                    yield self._upsert(file)
            token = page.next_page_token
            if not token:
                return

    def _inside(self, source: models.ConnectionSource, file: google.DriveFile, memo: dict[str, Any],
                folders: dict[str, str | None]) -> bool:
        if source.surface == models.Surface.SHARED_DRIVE:
            return file.drive_id == source.root_id
        return any(self._reaches(source, parent, memo, folders) for parent in file.parents)

    def _reaches(self, source: models.ConnectionSource, parent_id: str | None, memo: dict[str, Any],
                 folders: dict[str, str | None]) -> bool:
        """Does ``parent_id``'s ancestry reach the selected folder? Unknown folders are looked up
        once and recorded (a folder without parents is a drive's root)."""
        current = parent_id
        for _ in range(MAX_DEPTH):
            if not current:
                return False
            if current == source.root_id:
                return True
            if current not in folders:
                try:
                    looked_up = self.client.file(current)
                except (errors.ItemGone, errors.AccessDenied):
                    return False
                folders[current] = looked_up.parent_id or None
            current = folders[current]
        return False

    def _upsert(self, file: google.DriveFile) -> Upsert:
        return Upsert(
            external_id=file.id, source_kind=kb.SourceKind.GDRIVE, revision=file.revision, title=file.name,
            url=file.web_url, parent_id=file.parent_id, fetch=functools.partial(self._file_content, file),
        )

    def _file_content(self, file: google.DriveFile) -> Content:
        limit = settings.KB_MAX_UPLOAD_MB * 1024 * 1024
        if file.exportable:
            extension = google.EXPORTS[file.mime_type][1]
            return Content(data=self.client.export(file, max_bytes=limit), filename=f"{file.name}{extension}")
        return Content(data=self.client.download(file, max_bytes=limit), filename=file.name)

    # --- Gmail -----------------------------------------------------------------------------------

    def _mail_listing(self, source: models.ConnectionSource, *, link: str | None) -> Iterator[Page]:
        since = _window_start()
        token = link
        while True:
            page = self.client.messages(label_id=source.root_id, after=since, page_token=token, page_size=GMAIL_PAGE)
            changes = [self._message_change(source, message_id, since) for message_id in page.ids]
            token = page.next_page_token
            yield Page(changes=changes, next_link=token)
            if not token:
                return

    def _history(self, source: models.ConnectionSource, *, link: str) -> Iterator[Page]:
        """History from ``link`` (``"<startHistoryId>"`` or ``"<startHistoryId>|<pageToken>"``)."""
        start, _, token = link.partition("|")
        label = source.root_id
        since = _window_start()
        while True:
            page = self.client.history(start_history_id=start, page_token=token or None)
            decided: dict[str, str] = {}  # message id -> "check" | "remove", the last event wins
            for event in page.events:
                if event.kind == "deleted":
                    decided.pop(event.message_id, None)
                    decided[event.message_id] = "remove"
                elif label in event.message_labels or label in event.labels or LEAVES_MAILBOX & set(event.labels):
                    decided.pop(event.message_id, None)
                    decided[event.message_id] = "check"
            changes: list[Change] = [
                Remove(message_id, kb.SourceKind.GMAIL) if what == "remove" else self._message_change(source, message_id, since)
                for message_id, what in decided.items()
            ]
            token = page.next_page_token or ""
            yield Page(changes=changes, next_link=f"{start}|{token}" if token else None,
                       final_link=None if token else (page.history_id or start))
            if not token:
                return

    def _message_change(self, source: models.ConnectionSource, message_id: str, since: datetime) -> Change:
        """The message as it is now: kept when it carries the label and is within the window."""
        try:
            message = self.client.message(message_id)
        except errors.ItemGone:
            return Remove(message_id, kb.SourceKind.GMAIL)
        except (errors.Throttled, errors.AuthRefused, errors.CursorExpired):
            raise
        except errors.ProviderError as exc:
            return Upsert(external_id=message_id, source_kind=kb.SourceKind.GMAIL, revision=f"gmail:{message_id}",
                          title=message_id, fetch=functools.partial(_raise, exc))
        labels = set(message.label_ids)
        outside = message.internal_date is not None and message.internal_date < since
        if source.root_id not in labels or (LEAVES_MAILBOX & labels and source.root_id not in LEAVES_MAILBOX) or outside:
            return Remove(message_id, kb.SourceKind.GMAIL)
        return Upsert(
            external_id=message.id, source_kind=kb.SourceKind.GMAIL, revision=f"gmail:{message.id}",
            title=message.subject.strip() or "(no subject)", url=message.web_url,
            fetch=functools.partial(self._mail_content, message, source.mail_tier),
        )

    def _mail_content(self, message: google.Message, tier: str) -> Content:
        text = render_mail(message, tier=tier)
        return Content(text=text, children=tuple(self._attachments(message, tier)))

    def _attachments(self, message: google.Message, tier: str) -> Iterator[Upsert]:
        if tier == models.MailTier.METADATA:
            return
        for attachment in message.attachments:
            yield Upsert(
                external_id=attachment_external_id(message.id, attachment.part_id), source_kind=kb.SourceKind.GMAIL,
                revision=f"gmail:{message.id}:{attachment.part_id}", title=attachment.filename or "attachment",
                url=message.web_url, fetch=functools.partial(self._attachment_content, message.id, attachment),
            )

    def _attachment_content(self, message_id: str, attachment: google.Attachment) -> Content:
        limit = settings.KB_MAX_UPLOAD_MB * 1024 * 1024
        if attachment.size > limit:
            raise errors.ItemTooLarge(f"{attachment.filename} is {attachment.size} bytes (limit {limit})", code="too_large")
        data = self.client.attachment(message_id=message_id, attachment_id=attachment.attachment_id)
        return Content(data=data, filename=attachment.filename)


def _window_start() -> datetime:
    return datetime.now(UTC) - timedelta(days=settings.KB_MAIL_WINDOW_DAYS)


def _raise(exc: Exception) -> Content:
    raise exc


def _subtree(root: str, folders: dict[str, str | None]) -> list[str]:
    """``root`` and every folder under it, by the recorded folder tree."""
    children: dict[str, list[str]] = {}
    for child, parent in folders.items():
        if parent:
            children.setdefault(parent, []).append(child)
    out, stack = [], [root]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(children.get(current, ()))
    return out


def attachment_external_id(message_id: str, part_id: str) -> str:
    return f"{message_id}/attachment/{part_id}"


def render_mail(message: google.Message, *, tier: str) -> str:
    sender = mailclean.format_address(*message.sender) if message.sender else ""
    to = [mailclean.format_address(name, address) for name, address in message.to]
    return mailclean.render_message(
        mailclean.MailText(subject=message.subject, sender=sender, to=to, sent_at=message.internal_date,
                           body=message.body, content_type=message.content_type),
        tier=tier, max_chars=settings.KB_MAIL_BODY_MAX_CHARS,
    )
