"""The in-memory Google account behind ``FakeGoogle`` (google.py): a user, "My Drive" and
shared drives with folders, files and native Docs/Sheets/Slides, Gmail labels and messages,
and the two change logs the delta endpoints read — Drive changes (the latest change per
file, by sequence number) and Gmail history records.

Every Drive mutation bumps ``seq`` and stamps the file, so ``changes?pageToken=N`` returns
exactly the files changed after N (a permanent deletion as ``removed: true``); every Gmail
mutation appends a history record whose id is the new ``historyId``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

FOLDER = "application/vnd.google-apps.folder"
NATIVE = {
    "document": "application/vnd.google-apps.document",
    "spreadsheet": "application/vnd.google-apps.spreadsheet",
    "presentation": "application/vnd.google-apps.presentation",
}
SYSTEM_LABELS = ("INBOX", "SENT", "TRASH", "SPAM", "DRAFT", "UNREAD", "STARRED", "IMPORTANT")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _mime(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return {
        "txt": "text/plain", "md": "text/markdown", "csv": "text/csv", "html": "text/html", "pdf": "application/pdf",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }.get(ext, "application/octet-stream")


@dataclass
class File:
    id: str
    name: str
    mime_type: str
    parents: list[str]
    content: bytes = b""
    version: int = 1
    drive_id: str = ""  # a shared drive's id; "" for My Drive
    trashed: bool = False
    deleted: bool = False  # permanently
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def is_folder(self) -> bool:
        return self.mime_type == FOLDER

    @property
    def is_native(self) -> bool:
        return self.mime_type.startswith("application/vnd.google-apps.")


@dataclass
class Mail:
    id: str
    thread_id: str
    labels: set[str]
    subject: str
    body: str
    html: bool
    sender: tuple[str, str]
    to: list[tuple[str, str]]
    internal_date: datetime
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)  # (id, filename, data)


class GoogleStore:
    def __init__(self) -> None:
        self.seq = 1000
        self.history_id = 5000
        self._last_id = 0
        self.clock = datetime.now(UTC) - timedelta(days=2)
        self.user: dict[str, Any] = {
            "displayName": "Dana Reception", "emailAddress": "dana@brightsmile.example",
            "permissionId": "04928375612345678901",
        }
        self.files: dict[str, File] = {}
        self.shared_drives: dict[str, dict[str, str]] = {}
        self.changes: dict[str, int] = {}  # file id -> sequence of its last change
        self.labels: dict[str, dict[str, str]] = {
            name: {"id": name, "name": name, "type": "system"} for name in SYSTEM_LABELS
        }
        self.mails: dict[str, Mail] = {}
        self.history: list[dict[str, Any]] = []
        root = File(id="0AFakeMyDriveRoot", name="My Drive", mime_type=FOLDER, parents=[])
        self.files[root.id] = root
        self.root_id = root.id

    # --- helpers ---------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        self._last_id += 1
        return f"{prefix}{self._last_id:06d}"

    def tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    def _stamp(self, file_id: str) -> None:
        self.seq += 1
        self.changes[file_id] = self.seq

    def children(self, parent_id: str) -> list[File]:
        return sorted((f for f in self.files.values() if parent_id in f.parents and not f.deleted),
                      key=lambda f: f.id)

    # --- Drive -----------------------------------------------------------------------------

    def shared_drive_add(self, *, name: str) -> str:
        drive_id = self.new_id("0AShared")
        self.shared_drives[drive_id] = {"id": drive_id, "name": name}
        return drive_id

    def _add(self, *, name: str, mime_type: str, parent_id: str | None, content: bytes = b"") -> str:
        parent = parent_id or self.root_id
        drive_id = parent if parent in self.shared_drives else self.files[parent].drive_id if parent in self.files else ""
        file = File(id=self.new_id("1Fake"), name=name, mime_type=mime_type, parents=[parent], content=content,
                    drive_id=drive_id, modified=self.tick())
        self.files[file.id] = file
        self._stamp(file.id)
        return file.id

    def folder_add(self, *, name: str, parent_id: str | None = None) -> str:
        return self._add(name=name, mime_type=FOLDER, parent_id=parent_id)

    def file_add(self, *, name: str, content: bytes, parent_id: str | None = None, mime_type: str = "") -> str:
        return self._add(name=name, mime_type=mime_type or _mime(name), parent_id=parent_id, content=content)

    def doc_add(self, *, name: str, text: str, parent_id: str | None = None, kind: str = "document") -> str:
        """A native Google Doc (``document``), Sheet (``spreadsheet``: ``text`` is its CSV) or
        Slides deck (``presentation``)."""
        return self._add(name=name, mime_type=NATIVE[kind], parent_id=parent_id, content=text.encode())

    def file_edit(self, file_id: str, content: bytes) -> None:
        file = self.files[file_id]
        file.content, file.version, file.modified = content, file.version + 1, self.tick()
        self._stamp(file_id)

    def rename(self, file_id: str, name: str) -> None:
        """A new name: the version moves on (every change does), the md5Checksum stays."""
        file = self.files[file_id]
        file.name, file.version, file.modified = name, file.version + 1, self.tick()
        self._stamp(file_id)

    def move(self, file_id: str, parent_id: str) -> None:
        file = self.files[file_id]
        file.parents, file.version, file.modified = [parent_id], file.version + 1, self.tick()
        self._stamp(file_id)

    def trash(self, file_id: str) -> None:
        """To the bin, with everything under it (each reported with ``trashed: true``)."""
        for child in self.children(file_id):
            self.trash(child.id)
        file = self.files[file_id]
        file.trashed, file.version = True, file.version + 1
        self._stamp(file_id)

    def delete(self, file_id: str) -> None:
        """Gone for good, with everything under it (each reported as ``removed: true``)."""
        for child in self.children(file_id):
            self.delete(child.id)
        self.files[file_id].deleted = True
        self._stamp(file_id)

    def md5(self, file: File) -> str:
        return hashlib.md5(file.content, usedforsecurity=False).hexdigest()

    def file_json(self, file: File) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": "drive#file", "id": file.id, "name": file.name, "mimeType": file.mime_type,
            "trashed": file.trashed, "version": str(file.version), "modifiedTime": _iso(file.modified),
            "webViewLink": f"https://drive.google.example/file/d/{file.id}/view",
        }
        if file.parents:
            data["parents"] = list(file.parents)
        if file.drive_id:
            data["driveId"] = file.drive_id
        if not file.is_native:
            data["md5Checksum"] = self.md5(file)
            data["size"] = str(len(file.content))
        return data

    def changed_since(self, since: int, *, drive_id: str) -> list[tuple[int, str]]:
        return sorted((seq, file_id) for file_id, seq in self.changes.items()
                      if seq > since and self.files[file_id].drive_id == drive_id)

    # --- Gmail -----------------------------------------------------------------------------

    def _record(self, kind: str, mail: Mail, labels: list[str] | None = None) -> None:
        self.history_id += 1
        entry: dict[str, Any] = {"message": {"id": mail.id, "threadId": mail.thread_id, "labelIds": sorted(mail.labels)}}
        if labels is not None:
            entry["labelIds"] = labels
        self.history.append({"id": str(self.history_id), kind: [entry]})

    def label_add(self, *, name: str) -> str:
        label_id = self.new_id("Label_")
        self.labels[label_id] = {"id": label_id, "name": name, "type": "user"}
        return label_id

    def mail_add(
        self, *, labels: list[str], subject: str, body: str, html: bool = False,
        sender: tuple[str, str] = ("Pat Patient", "pat@example.org"), to: list[tuple[str, str]] | None = None,
        received: datetime | None = None, attachments: list[tuple[str, bytes]] | None = None,
    ) -> str:
        mail_id = f"18c{self.new_id('')}f00d"
        mail = Mail(
            id=mail_id, thread_id=mail_id, labels=set(labels), subject=subject, body=body, html=html, sender=sender,
            to=to if to is not None else [(self.user["displayName"], self.user["emailAddress"])],
            internal_date=received or self.tick(),
            attachments=[(self.new_id("ANGjdJ"), name, data) for name, data in attachments or ()],
        )
        self.mails[mail_id] = mail
        self._record("messagesAdded", mail)
        return mail_id

    def mail_delete(self, mail_id: str) -> None:
        """Deleted for good (``messagesDeleted``)."""
        mail = self.mails.pop(mail_id)
        self._record("messagesDeleted", mail)

    def mail_label(self, mail_id: str, *, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> None:
        mail = self.mails[mail_id]
        if add:
            mail.labels |= set(add)
            self._record("labelsAdded", mail, list(add))
        if remove:
            mail.labels -= set(remove)
            self._record("labelsRemoved", mail, list(remove))

    def mail_edit(self, mail_id: str, *, subject: str | None = None, body: str | None = None) -> None:
        """Gmail messages are immutable: an "edit" is a new message replacing the old one."""
        old = self.mails[mail_id]
        new_id = self.mail_add(labels=sorted(old.labels), subject=subject if subject is not None else old.subject,
                               body=body if body is not None else old.body, html=old.html, sender=old.sender,
                               to=old.to, received=self.tick())
        self.mail_delete(mail_id)
        self.mails[new_id].thread_id = old.thread_id

    def message_json(self, mail: Mail) -> dict[str, Any]:
        from base64 import urlsafe_b64encode

        def b64(data: bytes) -> str:
            return urlsafe_b64encode(data).decode().rstrip("=")

        def who(pair: tuple[str, str]) -> str:
            return f'"{pair[0]}" <{pair[1]}>' if pair[0] else pair[1]

        headers = [
            {"name": "Message-ID", "value": f"<{mail.thread_id}@mail.example>"},
            {"name": "Subject", "value": mail.subject},
            {"name": "From", "value": who(mail.sender)},
            {"name": "To", "value": ", ".join(who(t) for t in mail.to)},
            {"name": "Date", "value": mail.internal_date.strftime("%a, %d %b %Y %H:%M:%S +0000")},
        ]
        body = mail.body.encode()
        text_part: dict[str, Any] = {"partId": "0.0" if mail.html else "0", "mimeType": "text/html" if mail.html else "text/plain",
                     "filename": "", "headers": [], "body": {"size": len(body), "data": b64(body)}}
        parts: list[dict[str, Any]] = [{"partId": "0", "mimeType": "multipart/alternative", "filename": "",
                                        "body": {"size": 0}, "parts": [text_part]}] if mail.html else [text_part]
        for index, (attachment_id, name, data) in enumerate(mail.attachments, start=1):
            # Gmail hands out a fresh attachmentId on every read of the message.
            fresh = f"{attachment_id}~{secrets.token_hex(4)}"
            parts.append({"partId": str(index), "mimeType": _mime(name), "filename": name, "headers": [],
                          "body": {"attachmentId": fresh, "size": len(data)}})
        return {
            "id": mail.id, "threadId": mail.thread_id, "labelIds": sorted(mail.labels),
            "snippet": mail.body[:100], "historyId": str(self.history_id),
            "internalDate": str(int(mail.internal_date.timestamp() * 1000)), "sizeEstimate": len(body) + 500,
            "payload": {"partId": "", "mimeType": "multipart/mixed", "filename": "", "headers": headers,
                        "body": {"size": 0}, "parts": parts},
        }
