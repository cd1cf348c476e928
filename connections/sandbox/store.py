"""The in-memory Microsoft 365 account behind ``FakeMicrosoft`` (server.py): a user,
drives with folders and files, mail folders with messages, Teams with channels and threads,
and a change log per stream (a drive, a mail folder, a channel) that the delta endpoints read.

Every mutation bumps a global sequence number and stamps the stream entries it touches, so
``delta?token=N`` returns exactly what changed after N — tombstones included.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any


def quick_xor_hash(data: bytes) -> str:
    """OneDrive's QuickXorHash (160-bit, shift 11, length xor'ed into the last 8 bytes)."""
    width, shift = 160, 11
    h = 0
    mask = (1 << width) - 1
    for i, byte in enumerate(data):
        pos = (i * shift) % width
        h ^= ((byte << pos) | (byte >> (width - pos))) & mask
    raw = bytearray(h.to_bytes(20, "little"))
    for i, b in enumerate(len(data).to_bytes(8, "little")):
        raw[12 + i] ^= b
    return base64.b64encode(bytes(raw)).decode()


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class DriveItem:
    id: str
    drive_id: str
    name: str
    parent_id: str | None  # None for the root
    is_folder: bool
    content: bytes = b""
    version: int = 1
    guid: str = ""
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))
    deleted: bool = False
    _hash: tuple[int, str] | None = None  # (version, quickXorHash): computed once per content

    def content_hash(self) -> str:
        if self._hash is None or self._hash[0] != self.version:
            self._hash = (self.version, quick_xor_hash(self.content))
        return self._hash[1]


@dataclass
class Attachment:
    id: str
    name: str
    content: bytes
    content_type: str
    kind: str = "file"  # "file" | "item" (an attached message) | "reference" (a cloud link)
    is_inline: bool = False
    content_id: str | None = None
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))


_ATTACHMENT_TYPES = {
    "file": "#microsoft.graph.fileAttachment",
    "item": "#microsoft.graph.itemAttachment",
    "reference": "#microsoft.graph.referenceAttachment",
}


@dataclass
class Message:
    id: str  # the immutable id
    folder_id: str
    subject: str
    body: str
    content_type: str  # "html" | "text"
    sender: tuple[str | None, str]  # (display name, address)
    to: list[tuple[str | None, str]]
    received: datetime
    version: int = 1
    deleted: bool = False
    has_attachments: bool = False
    attachments: list[Attachment] = field(default_factory=list)


@dataclass
class ChannelMessage:
    id: str
    team_id: str
    channel_id: str
    reply_to: str | None
    body: str
    author_id: str
    author_name: str | None
    subject: str | None = None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))
    edited: datetime | None = None
    deleted_at: datetime | None = None


@dataclass
class Stream:
    """The change log of one delta feed: item id -> (sequence of its last change, tombstone)."""

    entries: dict[str, tuple[int, bool]] = field(default_factory=dict)


class GraphStore:
    def __init__(self) -> None:
        self.seq = 0
        self._last_id = 0  # a plain int, so the store pickles (the sandbox's saved state)
        self.clock = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
        self.user: dict[str, Any] = {
            "id": "user-1",
            "displayName": "Dana Reception",
            "mail": "dana@brightsmile.example",
            "userPrincipalName": "dana@brightsmile.onmicrosoft.example",
        }
        self.sites: dict[str, dict[str, Any]] = {}
        self.drives: dict[str, dict[str, Any]] = {}
        self.items: dict[str, DriveItem] = {}
        self.mail_folders: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, Message] = {}
        self.teams: dict[str, dict[str, Any]] = {}
        self.channels: dict[tuple[str, str], dict[str, Any]] = {}
        self.channel_messages: dict[str, ChannelMessage] = {}
        self.streams: dict[str, Stream] = {}
        self.children_of: dict[str, set[str]] = {}  # parent id -> live child ids
        self.personal_drive_id = self.drive_add(name="OneDrive", drive_type="business")
        for name in ("Inbox", "Sent Items", "Archive"):
            self.mail_folder_add(name=name)

    # --- helpers ---------------------------------------------------------------------------

    def _next_number(self) -> int:
        self._last_id += 1
        return self._last_id

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{self._next_number():06d}"

    def tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    def _stamp(self, stream: str, item_id: str, *, tombstone: bool = False) -> None:
        self.seq += 1
        self.streams.setdefault(stream, Stream()).entries[item_id] = (self.seq, tombstone)

    def stream_ids(self, stream: str, *, since: int | None) -> list[str]:
        """Ids in change order: all live ones (full enumeration) or those changed after ``since``."""
        entries = self.streams.get(stream, Stream()).entries
        rows = sorted(entries.items(), key=lambda kv: kv[1][0])
        if since is None:
            return [item_id for item_id, (_, tomb) in rows if not tomb]
        return [item_id for item_id, (seq, _) in rows if seq > since]

    def is_tombstone(self, stream: str, item_id: str) -> bool:
        return self.streams.get(stream, Stream()).entries.get(item_id, (0, False))[1]

    # --- drives ----------------------------------------------------------------------------

    def site_add(self, *, name: str) -> str:
        site_id = self.new_id("site-")
        self.sites[site_id] = {
            "id": site_id,
            "name": name.lower().replace(" ", ""),
            "displayName": name,
            "webUrl": f"https://contoso.sharepoint.example/sites/{name.replace(' ', '')}",
        }
        return site_id

    def drive_add(self, *, name: str, drive_type: str = "documentLibrary", site_id: str | None = None) -> str:
        drive_id = self.new_id("b!drive-")
        self.drives[drive_id] = {"id": drive_id, "name": name, "driveType": drive_type, "site_id": site_id}
        root = DriveItem(id=self.new_id("root-"), drive_id=drive_id, name="root", parent_id=None, is_folder=True)
        root.guid = hashlib.md5(root.id.encode(), usedforsecurity=False).hexdigest()
        self.drives[drive_id]["root_id"] = root.id
        self.items[root.id] = root
        self._stamp(drive_id, root.id)
        return drive_id

    def _drive_item(self, drive_id: str, parent_id: str | None, name: str, *, folder: bool, content: bytes = b"") -> str:
        parent = parent_id or self.drives[drive_id]["root_id"]
        moment = self.tick()
        item = DriveItem(
            id=self.new_id("item-"), drive_id=drive_id, name=name, parent_id=parent, is_folder=folder,
            content=content, created=moment, modified=moment,
        )
        item.guid = hashlib.md5(item.id.encode(), usedforsecurity=False).hexdigest().upper()
        self.items[item.id] = item
        self.children_of.setdefault(parent, set()).add(item.id)
        self._stamp(drive_id, item.id)
        return item.id

    def folder_add(self, *, drive_id: str, name: str, parent_id: str | None = None) -> str:
        return self._drive_item(drive_id, parent_id, name, folder=True)

    def file_add(self, *, drive_id: str, name: str, content: bytes, parent_id: str | None = None) -> str:
        return self._drive_item(drive_id, parent_id, name, folder=False, content=content)

    def file_edit(self, item_id: str, content: bytes) -> None:
        item = self.items[item_id]
        item.content, item.version, item.modified = content, item.version + 1, self.tick()
        self._stamp(item.drive_id, item_id)

    def item_rename(self, item_id: str, name: str) -> None:
        item = self.items[item_id]
        content_hash = item.content_hash()
        item.name, item.version, item.modified = name, item.version + 1, self.tick()
        item._hash = (item.version, content_hash)
        self._stamp(item.drive_id, item_id)

    def item_move(self, item_id: str, parent_id: str) -> None:
        item = self.items[item_id]
        if item.parent_id is not None:
            self.children_of.get(item.parent_id, set()).discard(item_id)
        self.children_of.setdefault(parent_id, set()).add(item_id)
        # A move changes the eTag but not the content (the hash stays).
        content_hash = item.content_hash()
        item.parent_id, item.version, item.modified = parent_id, item.version + 1, self.tick()
        item._hash = (item.version, content_hash)
        self._stamp(item.drive_id, item_id)

    def item_delete(self, item_id: str) -> None:
        """Delete an item and, for a folder, everything under it (each gets a tombstone)."""
        item = self.items[item_id]
        for child_id in sorted(self.children_of.pop(item_id, set())):
            self.item_delete(child_id)
        if item.parent_id is not None:
            self.children_of.get(item.parent_id, set()).discard(item_id)
        item.deleted = True
        self._stamp(item.drive_id, item_id, tombstone=True)

    def ancestors(self, item_id: str) -> list[str]:
        out: list[str] = []
        parent = self.items[item_id].parent_id
        while parent is not None:
            out.append(parent)
            parent = self.items[parent].parent_id
        return out

    def drive_item_json(self, item: DriveItem, *, base_url: str, with_download: bool = True) -> dict[str, Any]:
        if item.deleted:
            return {
                "id": item.id,
                "deleted": {"state": "deleted"},
                "parentReference": {"driveId": item.drive_id, "driveType": "business"},
            }
        data: dict[str, Any] = {
            "id": item.id,
            "name": item.name,
            "eTag": f'"{{{item.guid}}},{item.version}"',
            "createdDateTime": _iso(item.created),
            "lastModifiedDateTime": _iso(item.modified),
            "webUrl": f"https://contoso.sharepoint.example/{item.drive_id}/{item.name}",
            "size": len(item.content),
            "parentReference": {"driveId": item.drive_id, "driveType": "business"},
        }
        if item.parent_id is None:
            data["root"] = {}
            data["folder"] = {"childCount": self._child_count(item.id)}
            del data["parentReference"]["driveType"]
            return data
        data["parentReference"]["id"] = item.parent_id
        if item.is_folder:
            data["folder"] = {"childCount": self._child_count(item.id)}
        else:
            data["file"] = {
                "mimeType": _mime(item.name),
                "hashes": {"quickXorHash": item.content_hash()},
            }
            if with_download:
                data["@microsoft.graph.downloadUrl"] = (
                    f"{base_url}/_download/{item.id}?tempauth=v{item.version}"
                )
        return data

    def _child_count(self, item_id: str) -> int:
        return len(self.children_of.get(item_id, ()))

    # --- mail ------------------------------------------------------------------------------

    def mail_folder_add(self, *, name: str, parent_id: str | None = None) -> str:
        folder_id = self.new_id("AAMkFolder-")
        self.mail_folders[folder_id] = {
            "id": folder_id,
            "displayName": name,
            "parentFolderId": parent_id or "msgfolderroot",
        }
        return folder_id

    def mail_folder_id(self, name_or_id: str) -> str | None:
        if name_or_id in self.mail_folders:
            return name_or_id
        well_known = {"inbox": "Inbox", "sentitems": "Sent Items", "archive": "Archive"}
        display = well_known.get(name_or_id.lower())
        for folder in self.mail_folders.values():
            if display and folder["displayName"] == display:
                return str(folder["id"])
        return None

    def mail_add(
        self,
        *,
        folder_id: str,
        subject: str,
        body: str,
        sender: tuple[str | None, str] = ("Pat Patient", "pat@example.org"),
        to: list[tuple[str | None, str]] | None = None,
        content_type: str = "html",
        received: datetime | None = None,
    ) -> str:
        message = Message(
            id=self.new_id("AAkALgImmutable-"), folder_id=folder_id, subject=subject, body=body,
            content_type=content_type, sender=sender,
            to=to if to is not None else [(self.user["displayName"], self.user["mail"] or "")],
            received=received or self.tick(),
        )
        self.messages[message.id] = message
        self._stamp(f"mail:{folder_id}", message.id)
        return message.id

    def mail_edit(self, message_id: str, *, subject: str | None = None, body: str | None = None) -> None:
        message = self.messages[message_id]
        message.subject = subject if subject is not None else message.subject
        message.body = body if body is not None else message.body
        message.version += 1
        self._stamp(f"mail:{message.folder_id}", message_id)

    def mail_delete(self, message_id: str) -> None:
        message = self.messages[message_id]
        message.deleted = True
        self._stamp(f"mail:{message.folder_id}", message_id, tombstone=True)

    def mail_move(self, message_id: str, folder_id: str) -> None:
        message = self.messages[message_id]
        self._stamp(f"mail:{message.folder_id}", message_id, tombstone=True)
        message.folder_id = folder_id
        message.version += 1
        self._stamp(f"mail:{folder_id}", message_id)

    def attachment_add(
        self, message_id: str, *, name: str, content: bytes, content_type: str = "",
        is_inline: bool = False, kind: str = "file",
    ) -> str:
        """Attach a file (or, with ``kind``, a message or a cloud link) to a message: its
        changeKey changes; ``hasAttachments`` counts non-inline ones only, as Graph does."""
        message = self.messages[message_id]
        attachment = Attachment(
            id=f"{message.id}-{self.new_id('AAMkAttach-')}", name=name, content=content,
            content_type=content_type or _mime(name), kind=kind, is_inline=is_inline,
            content_id=f"{self.new_id('cid-')}@mail.example" if is_inline else None, modified=self.tick(),
        )
        self.attachments_of(message).append(attachment)
        self._attachments_changed(message)
        return attachment.id

    def attachment_delete(self, message_id: str, attachment_id: str) -> None:
        message = self.messages[message_id]
        message.attachments = [a for a in self.attachments_of(message) if a.id != attachment_id]
        self._attachments_changed(message)

    def _attachments_changed(self, message: Message) -> None:
        message.has_attachments = any(not a.is_inline for a in self.attachments_of(message))
        message.version += 1
        self._stamp(f"mail:{message.folder_id}", message.id)

    @staticmethod
    def attachments_of(message: Message) -> list[Attachment]:
        # A sandbox state saved before attachments existed has messages without the field.
        if not hasattr(message, "attachments"):
            message.attachments = []
        return message.attachments

    def message_by_id(self, message_id: str) -> Message | None:
        """A live message by its immutable id or by the folder-bound id Graph gives without
        ``Prefer: IdType="ImmutableId"``."""
        message = self.messages.get(message_id) or self.messages.get(message_id.rsplit(".", 1)[0])
        return None if message is None or message.deleted else message

    def attachment_json(self, attachment: Attachment, *, with_content: bool, select: set[str] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "@odata.type": _ATTACHMENT_TYPES[attachment.kind],
            "id": attachment.id,
            "lastModifiedDateTime": _iso(attachment.modified),
            "name": attachment.name,
            "contentType": attachment.content_type,
            # Graph's size is the attachment's MIME size, a little over its bytes.
            "size": len(attachment.content) + (180 if attachment.kind == "file" else 0),
            "isInline": attachment.is_inline,
        }
        if attachment.kind == "file":
            data["@odata.mediaContentType"] = attachment.content_type
            data["contentId"] = attachment.content_id
            data["contentLocation"] = None
            if with_content:
                data["contentBytes"] = base64.b64encode(attachment.content).decode()
        elif attachment.kind == "reference":
            data["sourceUrl"] = f"https://contoso.sharepoint.example/shared/{attachment.name}"
        if select:
            data = {k: v for k, v in data.items() if k in select or k.startswith("@odata.")}
        return data

    def message_json(self, message: Message, *, immutable: bool, tombstone: bool) -> dict[str, Any]:
        # Without Prefer: IdType="ImmutableId" an id changes when the message moves folders.
        message_id = message.id if immutable else f"{message.id}.{message.folder_id}"
        if tombstone:
            return {"@odata.type": "#microsoft.graph.message", "id": message_id, "@removed": {"reason": "deleted"}}

        def address(who: tuple[str | None, str]) -> dict[str, Any]:
            return {"emailAddress": {"name": who[0], "address": who[1]}}

        change_key = hashlib.sha1(f"{message.id}:{message.version}".encode(), usedforsecurity=False).hexdigest()[:24]
        return {
            "@odata.type": "#microsoft.graph.message",
            "@odata.etag": f'W/"{change_key}"',
            "id": message_id,
            "changeKey": change_key,
            "internetMessageId": f"<{message.id}@mail.example>",
            "conversationId": f"conv-{message.id}",
            "subject": message.subject,
            "bodyPreview": message.body[:255],
            "body": {"contentType": message.content_type, "content": message.body},
            "from": address(message.sender),
            "sender": address(message.sender),
            "toRecipients": [address(t) for t in message.to],
            "receivedDateTime": _iso(message.received),
            "lastModifiedDateTime": _iso(message.received),
            "hasAttachments": message.has_attachments,
            "parentFolderId": message.folder_id,
            "webLink": f"https://outlook.office.example/owa/?ItemID={message.id}",
        }

    # --- Teams -----------------------------------------------------------------------------

    def team_add(self, *, name: str) -> str:
        team_id = self.new_id("team-")
        self.teams[team_id] = {"id": team_id, "displayName": name, "description": f"{name} team"}
        return team_id

    def channel_add(self, *, team_id: str, name: str) -> str:
        channel_id = f"19:{self.new_id('chan')}@thread.tacv2"
        self.channels[(team_id, channel_id)] = {"id": channel_id, "displayName": name, "membershipType": "standard"}
        return channel_id

    def thread_add(
        self, *, team_id: str, channel_id: str, body: str, author_name: str | None = "Sam Staff",
        author_id: str = "user-2", subject: str | None = None,
    ) -> str:
        moment = self.tick()
        message = ChannelMessage(
            id=str(1_700_000_000_000 + self._next_number()), team_id=team_id, channel_id=channel_id, reply_to=None,
            body=body, author_id=author_id, author_name=author_name, subject=subject, created=moment, modified=moment,
        )
        self.channel_messages[message.id] = message
        self._stamp(f"channel:{team_id}:{channel_id}", message.id)
        return message.id

    def reply_add(self, *, root_id: str, body: str, author_name: str | None = "Sam Staff", author_id: str = "user-2") -> str:
        root = self.channel_messages[root_id]
        moment = self.tick()
        reply = ChannelMessage(
            id=str(1_700_000_000_000 + self._next_number()), team_id=root.team_id, channel_id=root.channel_id,
            reply_to=root_id, body=body, author_id=author_id, author_name=author_name, created=moment, modified=moment,
        )
        self.channel_messages[reply.id] = reply
        self._touch_root(root)
        return reply.id

    def _touch_root(self, root: ChannelMessage) -> None:
        root.modified = self.tick()
        self._stamp(f"channel:{root.team_id}:{root.channel_id}", root.id)

    def channel_message_edit(self, message_id: str, body: str) -> None:
        message = self.channel_messages[message_id]
        message.body, message.edited = body, self.tick()
        message.modified = message.edited
        self._touch_root(self.channel_messages[message.reply_to] if message.reply_to else message)

    def channel_message_delete(self, message_id: str) -> None:
        """A soft delete, as Teams does: ``deletedDateTime`` set, body emptied."""
        message = self.channel_messages[message_id]
        message.deleted_at = self.tick()
        message.modified = message.deleted_at
        message.body = ""
        self._touch_root(self.channel_messages[message.reply_to] if message.reply_to else message)

    def replies(self, root_id: str) -> list[ChannelMessage]:
        return sorted(
            (m for m in self.channel_messages.values() if m.reply_to == root_id), key=lambda m: m.created
        )

    def channel_message_json(self, message: ChannelMessage) -> dict[str, Any]:
        return {
            "id": message.id,
            "replyToId": message.reply_to,
            "etag": str(int(message.modified.timestamp() * 1000)),
            "messageType": "message",
            "createdDateTime": _iso(message.created),
            "lastModifiedDateTime": _iso(message.modified),
            "lastEditedDateTime": _iso(message.edited) if message.edited else None,
            "deletedDateTime": _iso(message.deleted_at) if message.deleted_at else None,
            "subject": message.subject,
            "body": {"contentType": "html", "content": message.body},
            "from": {"user": {"id": message.author_id, "displayName": message.author_name}, "application": None},
            "attachments": [],
            "webUrl": f"https://teams.example/l/message/{message.channel_id}/{message.id}",
            "channelIdentity": {"teamId": message.team_id, "channelId": message.channel_id},
        }


def _mime(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return {
        "txt": "text/plain",
        "md": "text/markdown",
        "html": "text/html",
        "pdf": "application/pdf",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }.get(ext, "application/octet-stream")
