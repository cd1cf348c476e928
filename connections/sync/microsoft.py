"""Microsoft 365 sources as pages of changes (the engine's ``Adapter``), over the Graph wire
client (connections.providers.microsoft).

* Drives (``onedrive``, ``sharepoint_library``: the whole drive; ``drive_folder``: a folder of
  one). Graph's delta works on a drive's root only, so a folder source follows the whole
  drive's delta and keeps the items whose ancestry reaches the folder: the memo holds the
  drive's folder tree (``folders``: id → parent id), unknown folders are looked up once.
  Files outside the folder are ``Remove``d (a file moved out leaves like a deletion).
  Revision = quickXorHash, else eTag, so a rename or a move fetches nothing. Bytes go to the
  file pipeline. A *folder* moved out of (into) the selected folder does not bring its files
  in the delta: its files are removed by their recorded container (listed and added).
* Outlook mail folders: one virtual document per message rendered by the source's
  ``mail_tier`` (connections.mailclean), within ``KB_MAIL_WINDOW_DAYS``; ``@removed``
  tombstones (deleted or moved out) remove it. Attachments (DESIGN §9): a message's file
  attachments are listed when the message itself is read (a new or changed ``changeKey``;
  Graph's ``hasAttachments`` says whether to ask) and become its child documents through
  the file pipeline (``Content.children``), removed with it. Inline attachments (images in
  the body), attached messages and cloud links are not files of the message and are
  skipped; an attachment over the upload limit is that item's failure on the run, not the
  run's. The ``metadata`` tier (headers only) takes no attachments.
* Teams channels: one virtual document per thread (root + replies), revision = the root's
  ``lastModifiedDateTime`` (Graph bumps it when a reply is added, edited or deleted);
  soft-deleted replies leave the text, a deleted root removes the thread; threads whose last
  activity is older than the mail window leave.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings

from connections import mailclean, models
from connections.providers import errors, microsoft
from connections.sync.changes import Change, Content, Page, Remove, RemoveWithin, Upsert
from knowledge import models as kb

DRIVE_SURFACES = (models.Surface.ONEDRIVE, models.Surface.SHAREPOINT_LIBRARY, models.Surface.DRIVE_FOLDER)
MAX_DEPTH = 64
MAIL_PAGE = 50


def _source_kind(source: models.ConnectionSource) -> str:
    if source.surface == models.Surface.MAIL_FOLDER:
        return kb.SourceKind.OUTLOOK
    if source.surface == models.Surface.TEAMS_CHANNEL:
        return kb.SourceKind.TEAMS
    if source.surface == models.Surface.ONEDRIVE or (source.extra or {}).get("drive_type") in ("business", "personal"):
        return kb.SourceKind.ONEDRIVE
    return kb.SourceKind.SHAREPOINT


def _folder_id(source: models.ConnectionSource) -> str | None:
    """The selected folder, or None for a whole drive. The roots listing (registry) offers a
    drive's folder under the drive's own surface with ``parent_id`` = the drive."""
    if source.surface == models.Surface.DRIVE_FOLDER or source.parent_id:
        return source.root_id
    return None


def _drive_id(source: models.ConnectionSource) -> str:
    if _folder_id(source) is not None:
        return str((source.extra or {}).get("drive_id") or source.parent_id)
    return source.root_id


def _team_id(source: models.ConnectionSource) -> str:
    return str((source.extra or {}).get("team_id") or source.parent_id)


class MicrosoftAdapter:
    def __init__(self, *, graph: microsoft.GraphClient) -> None:
        self.graph = graph

    @property
    def request_count(self) -> int:
        return self.graph.request_count

    def close(self) -> None:
        self.graph.close()

    def begin(self, source: models.ConnectionSource) -> str | None:
        if source.surface in DRIVE_SURFACES:
            return self.graph.drive_delta_latest(drive_id=_drive_id(source))
        return None  # mail and channel deltas: the enumeration's own delta link covers it

    def enumerate(self, source: models.ConnectionSource, *, link: str | None, memo: dict[str, Any]) -> Iterator[Page]:
        return self._feed(source, link=link, memo=memo)

    def changes(self, source: models.ConnectionSource, *, link: str, memo: dict[str, Any]) -> Iterator[Page]:
        return self._feed(source, link=link, memo=memo)

    def _feed(self, source: models.ConnectionSource, *, link: str | None, memo: dict[str, Any]) -> Iterator[Page]:
        if source.surface in DRIVE_SURFACES:
            return self._drive(source, link=link, memo=memo)
        if source.surface == models.Surface.MAIL_FOLDER:
            return self._mail(source, link=link)
        if source.surface == models.Surface.TEAMS_CHANNEL:
            return self._teams(source, link=link)
        raise errors.ProviderError(f"Microsoft cannot sync a {source.surface} source")

    # --- drives ------------------------------------------------------------------------------

    def _drive(self, source: models.ConnectionSource, *, link: str | None, memo: dict[str, Any]) -> Iterator[Page]:
        drive_id = _drive_id(source)
        kind = _source_kind(source)
        folder = _folder_id(source)
        folders: dict[str, str | None] = memo.setdefault("folders", {}) if folder else {}
        limit = settings.KB_MAX_UPLOAD_MB * 1024 * 1024
        for page in self.graph.drive_delta(drive_id=drive_id, link=link):
            changes: list[Change] = []
            for item in page.items:
                if item.is_root:
                    if folder:
                        memo["root"] = item.id
                    continue
                if item.deleted:
                    folders.pop(item.id, None)
                    changes.append(Remove(item.id, kind))
                    continue
                if item.is_folder:
                    if folder:
                        changes.extend(self._folder_seen(drive_id, item, folder, memo, folders, kind, limit))
                    continue
                if folder and not self._inside(drive_id, item.parent_id, folder, memo, folders):
                    changes.append(Remove(item.id, kind))
                    continue
                changes.append(self._upsert(item, kind, limit))
            yield Page(changes=changes, next_link=page.next_link, final_link=page.delta_link)

    def _folder_seen(self, drive_id: str, item: microsoft.DriveItem, folder: str, memo: dict[str, Any],
                     folders: dict[str, str | None], kind: str, limit: int) -> list[Change]:
        """Record a folder; a known folder that moved out of the selection takes its files with
        it, one that moved in brings them (neither comes in the delta by itself)."""
        known = item.id in folders
        was = known and item.id != folder and self._inside(drive_id, folders[item.id], folder, memo, folders)
        folders[item.id] = item.parent_id
        if item.id == folder or not known:
            return []
        now = self._inside(drive_id, item.parent_id, folder, memo, folders)
        if was and not now:
            return [RemoveWithin(tuple(_subtree(item.id, folders)), kind)]
        if now and not was:
            return list(self._files_under(drive_id, item.id, folders, kind, limit))
        return []

    def _files_under(self, drive_id: str, folder_id: str, folders: dict[str, str | None], kind: str,
                     limit: int) -> Iterator[Change]:
        for child in self.graph.children(drive_id=drive_id, item_id=folder_id):
            if child.is_folder:
                folders[child.id] = folder_id
                yield from self._files_under(drive_id, child.id, folders, kind, limit)
            elif child.is_file:
                yield self._upsert(child, kind, limit)

    def _upsert(self, item: microsoft.DriveItem, kind: str, limit: int) -> Upsert:
        return Upsert(
            external_id=item.id, source_kind=kind, revision=item.revision, title=item.name,
            url=item.web_url, parent_id=item.parent_id or "",
            fetch=functools.partial(self._download, item, limit),
        )

    def _inside(self, drive_id: str, parent_id: str | None, folder: str, memo: dict[str, Any],
                folders: dict[str, str | None]) -> bool:
        """Does ``parent_id``'s ancestry reach ``folder``? Folders not seen yet are looked up."""
        current = parent_id
        for _ in range(MAX_DEPTH):
            if current is None or current == memo.get("root"):
                return False
            if current == folder:
                return True
            if current not in folders:
                try:
                    looked_up = self.graph.item(drive_id=drive_id, item_id=current)
                except errors.ItemGone:
                    return False
                if looked_up.is_root:
                    memo["root"] = looked_up.id
                    return False
                folders[current] = looked_up.parent_id
            current = folders[current]
        return False

    # --- mail --------------------------------------------------------------------------------

    def _mail(self, source: models.ConnectionSource, *, link: str | None) -> Iterator[Page]:
        since = datetime.now(UTC) - timedelta(days=settings.KB_MAIL_WINDOW_DAYS)
        tier = source.mail_tier
        for page in self.graph.mail_delta(folder_id=source.root_id, link=link, page_size=MAIL_PAGE, received_since=since):
            changes: list[Change] = []
            for message in page.items:
                if message.removed or (message.received is not None and message.received < since):
                    changes.append(Remove(message.id, kb.SourceKind.OUTLOOK))
                    continue
                changes.append(Upsert(
                    external_id=message.id, source_kind=kb.SourceKind.OUTLOOK, revision=message.revision,
                    title=message.subject.strip() or "(no subject)", url=message.web_link,
                    fetch=functools.partial(self._mail_content, message, tier),
                ))
            yield Page(changes=changes, next_link=page.next_link, final_link=page.delta_link)

    # --- Teams -------------------------------------------------------------------------------

    def _teams(self, source: models.ConnectionSource, *, link: str | None) -> Iterator[Page]:
        team_id, channel_id = _team_id(source), source.root_id
        since = datetime.now(UTC) - timedelta(days=settings.KB_MAIL_WINDOW_DAYS)
        tier = source.mail_tier
        for page in self.graph.channel_messages_delta(team_id=team_id, channel_id=channel_id, link=link):
            changes: list[Change] = []
            for root in page.items:
                if root.reply_to_id:
                    continue  # replies are read with their thread
                if root.deleted or (root.last_modified is not None and root.last_modified < since):
                    changes.append(Remove(root.id, kb.SourceKind.TEAMS))
                    continue
                revision = root.last_modified.isoformat() if root.last_modified else root.id
                changes.append(Upsert(
                    external_id=root.id, source_kind=kb.SourceKind.TEAMS, revision=revision,
                    title=thread_title(root, channel=source.label), url=root.web_url,
                    fetch=functools.partial(self._thread_content, root, tier),
                ))
            yield Page(changes=changes, next_link=page.next_link, final_link=page.delta_link)

    def _download(self, item: microsoft.DriveItem, limit: int) -> Content:
        return Content(data=self.graph.download(item, max_bytes=limit), filename=item.name)

    def _mail_content(self, message: microsoft.MailMessage, tier: str) -> Content:
        return Content(text=render_mail(message, tier=tier), children=tuple(self._attachments(message, tier)))

    def _attachments(self, message: microsoft.MailMessage, tier: str) -> Iterator[Upsert]:
        if not message.has_attachments or tier == models.MailTier.METADATA:
            return
        limit = settings.KB_MAX_UPLOAD_MB * 1024 * 1024
        for attachment in self.graph.message_attachments(message_id=message.id):
            if not attachment.is_file or attachment.is_inline:
                continue
            yield Upsert(
                external_id=attachment_external_id(message.id, attachment.id), source_kind=kb.SourceKind.OUTLOOK,
                revision=attachment.revision, title=attachment.name or "attachment", url=message.web_link,
                fetch=functools.partial(self._attachment_download, attachment, limit),
            )

    def _attachment_download(self, attachment: microsoft.Attachment, limit: int) -> Content:
        return Content(data=self.graph.attachment_content(attachment, max_bytes=limit), filename=attachment.name)

    def _thread_content(self, root: microsoft.ChannelMessage, tier: str) -> Content:
        return Content(text=self._thread_text(root, tier=tier))

    def _thread_text(self, root: microsoft.ChannelMessage, *, tier: str) -> str:
        replies = list(self.graph.channel_replies(team_id=root.team_id, channel_id=root.channel_id, message_id=root.id))
        posts = [_post(root)] + [_post(r) for r in sorted(replies, key=lambda r: r.created or datetime.min.replace(tzinfo=UTC))]
        return mailclean.render_thread(title=root.subject or "", posts=posts, tier=tier,
                                       max_chars=settings.KB_MAIL_BODY_MAX_CHARS)


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


def _post(message: microsoft.ChannelMessage) -> mailclean.ThreadPost:
    return mailclean.ThreadPost(author=message.author_name, sent_at=message.created, body=message.body,
                                content_type=message.body_type, deleted=message.deleted)


def thread_title(root: microsoft.ChannelMessage, *, channel: str) -> str:
    if root.subject and root.subject.strip():
        return root.subject.strip()
    first = mailclean.clean_body(root.body, content_type=root.body_type).split("\n", 1)[0]
    return mailclean.cut(first, 80) or f"Thread in {channel or 'a channel'}"


def attachment_external_id(message_id: str, attachment_id: str) -> str:
    """A child document's identity: its message's id and a digest of the attachment's id
    (Graph's attachment ids are long; the pair stays well within the identity column)."""
    digest = hashlib.sha256(attachment_id.encode()).hexdigest()[:32]
    return f"{message_id}/attachment/{digest}"


def render_mail(message: microsoft.MailMessage, *, tier: str) -> str:
    sender = mailclean.format_address(message.sender.name, message.sender.address) if message.sender else ""
    to = [mailclean.format_address(a.name, a.address) for a in message.to]
    return mailclean.render_message(
        mailclean.MailText(subject=message.subject, sender=sender, to=to, sent_at=message.received,
                           body=message.body, content_type=message.body_type),
        tier=tier, max_chars=settings.KB_MAIL_BODY_MAX_CHARS,
    )
