"""Microsoft Graph wire client (pure: no ORM, no settings; the caller passes the Graph base
URL and a token source). Typed results; listings and delta feeds are generators of pages, so
nothing holds a whole drive or mailbox.

Delta feeds (drive items, mail per folder, Teams channel messages) yield ``DeltaPage``s: the
items of one page plus the link to continue from (``next_link``) or, on the last page, the
``delta_link`` for the next sync. Links are followed verbatim. The sync engine applies a page
and stores its link in one transaction, so a crash replays a page and never skips one; it can
resume from a stored ``next_link`` too.

Errors (connections.providers.errors): 429/503 → ``Throttled`` with ``retry_after`` seconds;
410 → ``CursorExpired``; 401 (after one refresh) → ``AuthRefused``; 403 → ``AccessDenied``;
404 → ``ItemGone``; others → ``ProviderError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from connections.providers import errors
from connections.providers.http import parse_time

# The caller's token source: called with None for the current access token, or with a token
# the provider just refused (401), to get a refreshed one.
TokenSource = Callable[[str | None], str]

T = TypeVar("T")

TEAMS_MAX_PAGE = 50  # Graph refuses $top above 50 for channel messages
# Message ids are immutable ids (they survive a move between folders): say so on every call.
IMMUTABLE_IDS = {"Prefer": 'IdType="ImmutableId"'}


@dataclass(frozen=True)
class Account:
    id: str
    display_name: str | None
    mail: str | None
    user_principal_name: str | None

    @property
    def label(self) -> str:
        """What the connection shows: the mail address, else the sign-in name."""
        return self.mail or self.user_principal_name or self.display_name or self.id


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    web_url: str


@dataclass(frozen=True)
class Drive:
    id: str
    name: str
    drive_type: str


@dataclass(frozen=True)
class DriveItem:
    id: str
    drive_id: str
    name: str
    parent_id: str | None
    deleted: bool = False
    is_folder: bool = False
    is_root: bool = False
    size: int = 0
    etag: str = ""
    quick_xor_hash: str = ""
    mime_type: str = ""
    web_url: str = ""
    modified: datetime | None = None
    download_url: str = ""

    @property
    def is_file(self) -> bool:
        return not (self.deleted or self.is_folder or self.is_root)

    @property
    def revision(self) -> str:
        """The content's revision: quickXorHash where Graph reports it (unchanged by a rename or
        a move), else the eTag. Never cTag (OneDrive for Business omits it in delta)."""
        return f"qxh:{self.quick_xor_hash}" if self.quick_xor_hash else f"etag:{self.etag}"


@dataclass(frozen=True)
class MailFolder:
    id: str
    name: str
    parent_id: str
    child_folder_count: int = 0


@dataclass(frozen=True)
class Address:
    name: str | None
    address: str


@dataclass(frozen=True)
class MailMessage:
    id: str
    removed: bool = False
    change_key: str = ""
    subject: str = ""
    sender: Address | None = None
    to: tuple[Address, ...] = ()
    received: datetime | None = None
    body: str = ""
    body_type: str = "text"  # "html" | "text"
    web_link: str = ""
    has_attachments: bool = False
    internet_message_id: str = ""
    conversation_id: str = ""

    @property
    def revision(self) -> str:
        return self.change_key


@dataclass(frozen=True)
class Attachment:
    """A message's attachment (its bytes are fetched apart: ``attachment_content``)."""

    id: str
    message_id: str
    name: str
    kind: str = "file"  # "file" | "item" (an attached message) | "reference" (a link to a cloud file)
    content_type: str = ""
    size: int = 0
    is_inline: bool = False
    last_modified: datetime | None = None

    @property
    def is_file(self) -> bool:
        return self.kind == "file"

    @property
    def revision(self) -> str:
        """Graph has no content hash for attachments; an attachment's bytes do not change once
        attached, so its id, modification time and size say enough."""
        moment = self.last_modified.isoformat() if self.last_modified else ""
        return f"att:{moment}:{self.size}"


@dataclass(frozen=True)
class Team:
    id: str
    name: str


@dataclass(frozen=True)
class Channel:
    id: str
    team_id: str
    name: str
    membership_type: str = "standard"


@dataclass(frozen=True)
class ChannelMessage:
    id: str
    team_id: str
    channel_id: str
    reply_to_id: str | None
    body: str = ""
    body_type: str = "html"
    subject: str | None = None
    author_id: str | None = None
    author_name: str | None = None  # Graph sends null for some users and apps
    message_type: str = "message"
    created: datetime | None = None
    last_modified: datetime | None = None
    deleted: bool = False
    web_url: str = ""


@dataclass
class DeltaPage(Generic[T]):
    items: list[T] = field(default_factory=list)
    next_link: str | None = None
    delta_link: str | None = None

    @property
    def link(self) -> str:
        """Where to continue from: the next page, or the next sync's delta link."""
        return self.next_link or self.delta_link or ""


def _address(data: Any) -> Address | None:
    if not isinstance(data, dict):
        return None
    email = data.get("emailAddress") or {}
    return Address(name=email.get("name"), address=str(email.get("address") or ""))


def parse_drive_item(data: dict[str, Any], *, drive_id: str) -> DriveItem:
    parent = data.get("parentReference") or {}
    file = data.get("file") or {}
    return DriveItem(
        id=str(data["id"]),
        drive_id=str(parent.get("driveId") or drive_id),
        name=str(data.get("name") or ""),
        parent_id=parent.get("id"),
        deleted="deleted" in data,
        is_folder="folder" in data and "root" not in data,
        is_root="root" in data,
        size=int(data.get("size") or 0),
        etag=str(data.get("eTag") or ""),
        quick_xor_hash=str((file.get("hashes") or {}).get("quickXorHash") or ""),
        mime_type=str(file.get("mimeType") or ""),
        web_url=str(data.get("webUrl") or ""),
        modified=parse_time(data.get("lastModifiedDateTime")),
        download_url=str(data.get("@microsoft.graph.downloadUrl") or ""),
    )


def parse_message(data: dict[str, Any]) -> MailMessage:
    if "@removed" in data:
        return MailMessage(id=str(data["id"]), removed=True)
    body = data.get("body") or {}
    return MailMessage(
        id=str(data["id"]),
        change_key=str(data.get("changeKey") or data.get("@odata.etag") or ""),
        subject=str(data.get("subject") or ""),
        sender=_address(data.get("from") or data.get("sender")),
        to=tuple(a for a in (_address(r) for r in data.get("toRecipients") or []) if a is not None),
        received=parse_time(data.get("receivedDateTime")),
        body=str(body.get("content") or ""),
        body_type=str(body.get("contentType") or "text").lower(),
        web_link=str(data.get("webLink") or ""),
        has_attachments=bool(data.get("hasAttachments")),
        internet_message_id=str(data.get("internetMessageId") or ""),
        conversation_id=str(data.get("conversationId") or ""),
    )


_ATTACHMENT_KINDS = {
    "#microsoft.graph.fileAttachment": "file",
    "#microsoft.graph.itemAttachment": "item",
    "#microsoft.graph.referenceAttachment": "reference",
}


def parse_attachment(data: dict[str, Any], *, message_id: str) -> Attachment:
    return Attachment(
        id=str(data["id"]),
        message_id=message_id,
        name=str(data.get("name") or ""),
        kind=_ATTACHMENT_KINDS.get(str(data.get("@odata.type") or ""), "other"),
        content_type=str(data.get("contentType") or ""),
        size=int(data.get("size") or 0),
        is_inline=bool(data.get("isInline")),
        last_modified=parse_time(data.get("lastModifiedDateTime")),
    )


def parse_channel_message(data: dict[str, Any], *, team_id: str, channel_id: str) -> ChannelMessage:
    body = data.get("body") or {}
    sender = data.get("from") or {}
    user = sender.get("user") or sender.get("application") or {}
    identity = data.get("channelIdentity") or {}
    return ChannelMessage(
        id=str(data["id"]),
        team_id=str(identity.get("teamId") or team_id),
        channel_id=str(identity.get("channelId") or channel_id),
        reply_to_id=data.get("replyToId"),
        body=str(body.get("content") or ""),
        body_type=str(body.get("contentType") or "html").lower(),
        subject=data.get("subject"),
        author_id=user.get("id"),
        author_name=user.get("displayName"),
        message_type=str(data.get("messageType") or "message"),
        created=parse_time(data.get("createdDateTime")),
        last_modified=parse_time(data.get("lastModifiedDateTime")),
        deleted=bool(data.get("deletedDateTime")),
        web_url=str(data.get("webUrl") or ""),
    )


def _error_code(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("message") or "")[:300]
    return "", ""


def raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    code, message = _error_code(response)
    text = f"Graph {status}{' ' + code if code else ''}{': ' + message if message else ''}"
    if status in (429, 503):
        raise errors.Throttled(
            text, retry_after=errors.parse_retry_after(response.headers.get("Retry-After")), status=status, code=code
        )
    if status == 410:
        raise errors.CursorExpired(text, status=status, code=code)
    if status == 401:
        raise errors.AuthRefused(text, status=status, code=code)
    if status == 403:
        raise errors.AccessDenied(text, status=status, code=code)
    if status == 404:
        raise errors.ItemGone(text, status=status, code=code)
    raise errors.ProviderError(text, status=status, code=code)


class GraphClient:
    def __init__(
        self,
        *,
        graph_url: str,
        token: TokenSource,
        http: httpx.Client | None = None,
        timeout: float = 30,
    ) -> None:
        self.graph_url = graph_url.rstrip("/")
        self._token = token
        self._access: str | None = None
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None
        self.request_count = 0

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport -------------------------------------------------------------------------

    def _url(self, path_or_url: str) -> str:
        return path_or_url if path_or_url.startswith(("http://", "https://")) else f"{self.graph_url}{path_or_url}"

    def _send(self, url: str, *, params: dict[str, str] | None, headers: dict[str, str]) -> httpx.Response:
        self.request_count += 1
        try:
            return self._http.get(url, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            raise errors.ProviderError(f"Graph timed out: {type(exc).__name__}", code="timeout") from None
        except httpx.HTTPError as exc:
            raise errors.ProviderError(f"Graph unreachable: {type(exc).__name__}", code="network") from None

    def get_response(
        self, path_or_url: str, *, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """GET with the bearer token; one refresh and retry on 401. Redirects are not followed."""
        url = self._url(path_or_url)
        if self._access is None:
            self._access = self._token(None)
        response = self._send(url, params=params, headers={**(headers or {}), "Authorization": f"Bearer {self._access}"})
        if response.status_code == 401:
            refused, self._access = self._access, None
            self._access = self._token(refused)
            response = self._send(url, params=params, headers={**(headers or {}), "Authorization": f"Bearer {self._access}"})
        if not 300 <= response.status_code < 400:
            raise_for_status(response)
        return response

    def get_json(
        self, path_or_url: str, *, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        response = self.get_response(path_or_url, params=params, headers=headers)
        try:
            data = response.json()
        except ValueError:
            raise errors.ProviderError("Graph answered with something not JSON", status=response.status_code) from None
        if not isinstance(data, dict):
            raise errors.ProviderError("Graph answered with something not an object", status=response.status_code)
        return data

    def _pages(
        self, first: str, *, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> Iterator[tuple[list[dict[str, Any]], str | None, str | None]]:
        """Raw pages: (value, nextLink, deltaLink). Query options go on the first call only;
        links are followed verbatim (headers are sent on every call)."""
        url: str | None = first
        first_params = params
        while url:
            data = self.get_json(url, params=first_params, headers=headers)
            first_params = None
            value = data.get("value") or []
            next_link = data.get("@odata.nextLink")
            delta_link = data.get("@odata.deltaLink")
            yield [v for v in value if isinstance(v, dict)], next_link, delta_link
            url = next_link

    def _list(self, first: str, *, params: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        for value, _, _ in self._pages(first, params=params):
            yield from value

    # --- account and roots -----------------------------------------------------------------

    def me(self) -> Account:
        data = self.get_json("/me")
        return Account(
            id=str(data.get("id") or ""),
            display_name=data.get("displayName"),
            mail=data.get("mail"),
            user_principal_name=data.get("userPrincipalName"),
        )

    def my_drive(self) -> Drive:
        data = self.get_json("/me/drive")
        return Drive(id=str(data["id"]), name=str(data.get("name") or "OneDrive"), drive_type=str(data.get("driveType") or ""))

    def sites(self) -> Iterator[Site]:
        for data in self._list("/sites", params={"search": "*"}):
            yield Site(id=str(data["id"]), name=str(data.get("displayName") or data.get("name") or ""), web_url=str(data.get("webUrl") or ""))

    def site_drives(self, site_id: str) -> Iterator[Drive]:
        for data in self._list(f"/sites/{quote(site_id, safe='')}/drives"):
            yield Drive(id=str(data["id"]), name=str(data.get("name") or ""), drive_type=str(data.get("driveType") or ""))

    def children(self, *, drive_id: str, item_id: str | None = None) -> Iterator[DriveItem]:
        drive = quote(drive_id, safe="!")
        path = f"/drives/{drive}/items/{quote(item_id, safe='')}/children" if item_id else f"/drives/{drive}/root/children"
        for data in self._list(path):
            yield parse_drive_item(data, drive_id=drive_id)

    def item(self, *, drive_id: str, item_id: str) -> DriveItem:
        data = self.get_json(f"/drives/{quote(drive_id, safe='!')}/items/{quote(item_id, safe='')}")
        return parse_drive_item(data, drive_id=drive_id)

    def mail_folders(self, *, parent_id: str | None = None) -> Iterator[MailFolder]:
        path = f"/me/mailFolders/{quote(parent_id, safe='')}/childFolders" if parent_id else "/me/mailFolders"
        for data in self._list(path):
            yield MailFolder(
                id=str(data["id"]),
                name=str(data.get("displayName") or ""),
                parent_id=str(data.get("parentFolderId") or ""),
                child_folder_count=int(data.get("childFolderCount") or 0),
            )

    def joined_teams(self) -> Iterator[Team]:
        for data in self._list("/me/joinedTeams"):
            yield Team(id=str(data["id"]), name=str(data.get("displayName") or ""))

    def channels(self, *, team_id: str) -> Iterator[Channel]:
        for data in self._list(f"/teams/{quote(team_id, safe='')}/channels"):
            yield Channel(
                id=str(data["id"]),
                team_id=team_id,
                name=str(data.get("displayName") or ""),
                membership_type=str(data.get("membershipType") or "standard"),
            )

    # --- drives: delta and download ----------------------------------------------------------

    def drive_delta_latest(self, *, drive_id: str) -> str:
        """A delta link for "from now on" (``token=latest``), taken before a backfill."""
        data = self.get_json(f"/drives/{quote(drive_id, safe='!')}/root/delta", params={"token": "latest"})
        link = data.get("@odata.deltaLink")
        if not isinstance(link, str):
            raise errors.ProviderError("Graph gave no deltaLink for token=latest")
        return link

    def drive_delta(self, *, drive_id: str, link: str | None = None, page_size: int | None = None) -> Iterator[DeltaPage[DriveItem]]:
        """Pages of the drive's delta from ``link`` (a stored next or delta link) or, without
        one, a full enumeration ending in a delta link. Delta works on a drive's root only: a
        folder selection filters by ancestry on the caller's side."""
        params = {"$top": str(page_size)} if page_size and not link else None
        first = link or f"/drives/{quote(drive_id, safe='!')}/root/delta"
        for value, next_link, delta_link in self._pages(first, params=params):
            items = [parse_drive_item(v, drive_id=drive_id) for v in value if "id" in v]
            yield DeltaPage(items=items, next_link=next_link, delta_link=delta_link)

    def download(self, item: DriveItem, *, max_bytes: int) -> bytes:
        """The file's bytes: through its pre-authenticated ``downloadUrl`` (sent without an
        Authorization header), else ``/content``'s 302 to one. Over ``max_bytes`` →
        ``ItemTooLarge``."""
        if item.size and item.size > max_bytes:
            raise errors.ItemTooLarge(f"{item.name} is {item.size} bytes (limit {max_bytes})", code="too_large")
        url = item.download_url
        if url:
            try:
                return self._fetch_unauthenticated(url, max_bytes=max_bytes, name=item.name)
            except (errors.ItemGone, errors.AuthRefused, errors.AccessDenied):
                pass  # the short-lived URL expired: ask Graph for a fresh one
        response = self.get_response(
            f"/drives/{quote(item.drive_id, safe='!')}/items/{quote(item.id, safe='')}/content"
        )
        location = response.headers.get("Location")
        if response.is_redirect and location:
            return self._fetch_unauthenticated(location, max_bytes=max_bytes, name=item.name)
        if len(response.content) > max_bytes:
            raise errors.ItemTooLarge(f"{item.name} exceeds {max_bytes} bytes", code="too_large")
        return response.content

    def _fetch_unauthenticated(self, url: str, *, max_bytes: int, name: str) -> bytes:
        self.request_count += 1
        try:
            with self._http.stream("GET", url) as response:
                if response.status_code >= 400:
                    response.read()
                    raise_for_status(response)
                chunks: list[bytes] = []
                total = 0
                for chunk in response.iter_bytes():
                    total += len(chunk)
                    if total > max_bytes:
                        raise errors.ItemTooLarge(f"{name} exceeds {max_bytes} bytes", code="too_large")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise errors.ProviderError(f"download failed: {type(exc).__name__}", code="network") from None

    # --- mail ----------------------------------------------------------------------------------

    def mail_delta(
        self,
        *,
        folder_id: str,
        link: str | None = None,
        page_size: int = 50,
        received_since: datetime | None = None,
    ) -> Iterator[DeltaPage[MailMessage]]:
        """Pages of one mail folder's delta. Ids are immutable (``Prefer: IdType="ImmutableId"``)
        so a message keeps its id when it moves; removed or moved-out messages come as
        ``removed`` tombstones. ``received_since`` (the mail window) applies to a first call."""
        headers = {"Prefer": f'odata.maxpagesize={page_size}, IdType="ImmutableId"'}
        params: dict[str, str] | None = None
        if not link and received_since is not None:
            params = {"$filter": f"receivedDateTime ge {received_since.strftime('%Y-%m-%dT%H:%M:%SZ')}"}
        first = link or f"/me/mailFolders/{quote(folder_id, safe='')}/messages/delta"
        for value, next_link, delta_link in self._pages(first, params=params, headers=headers):
            items = [parse_message(v) for v in value if "id" in v]
            yield DeltaPage(items=items, next_link=next_link, delta_link=delta_link)

    def message_attachments(self, *, message_id: str) -> Iterator[Attachment]:
        """A message's attachments, without their bytes (``$select`` leaves ``contentBytes``
        out, so a listing never carries a large file)."""
        path = f"/me/messages/{quote(message_id, safe='')}/attachments"
        params = {"$select": "id,name,contentType,size,isInline,lastModifiedDateTime"}
        for value, _, _ in self._pages(path, params=params, headers=IMMUTABLE_IDS):
            for data in value:
                if "id" in data:
                    yield parse_attachment(data, message_id=message_id)

    def attachment_content(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        """A file attachment's raw bytes (``/$value``). Over ``max_bytes`` → ``ItemTooLarge``,
        checked on the reported size before anything is downloaded, and on what arrives."""
        if attachment.size > max_bytes:
            raise errors.ItemTooLarge(
                f"{attachment.name} is {attachment.size} bytes (limit {max_bytes})", code="too_large"
            )
        path = (f"/me/messages/{quote(attachment.message_id, safe='')}"
                f"/attachments/{quote(attachment.id, safe='')}/$value")
        response = self.get_response(path, headers=IMMUTABLE_IDS)
        if len(response.content) > max_bytes:
            raise errors.ItemTooLarge(f"{attachment.name} exceeds {max_bytes} bytes", code="too_large")
        return response.content

    # --- Teams -----------------------------------------------------------------------------------

    def channel_messages_delta(
        self, *, team_id: str, channel_id: str, link: str | None = None, page_size: int = TEAMS_MAX_PAGE
    ) -> Iterator[DeltaPage[ChannelMessage]]:
        """Pages of a channel's root messages that changed (a thread's root changes when a reply
        is added, edited or deleted). Soft-deleted messages come with ``deleted=True``."""
        params = None if link else {"$top": str(min(page_size, TEAMS_MAX_PAGE))}
        first = link or f"/teams/{quote(team_id, safe='')}/channels/{quote(channel_id, safe='')}/messages/delta"
        for value, next_link, delta_link in self._pages(first, params=params):
            items = [parse_channel_message(v, team_id=team_id, channel_id=channel_id) for v in value if "id" in v]
            yield DeltaPage(items=items, next_link=next_link, delta_link=delta_link)

    def channel_replies(self, *, team_id: str, channel_id: str, message_id: str) -> Iterator[ChannelMessage]:
        path = (
            f"/teams/{quote(team_id, safe='')}/channels/{quote(channel_id, safe='')}"
            f"/messages/{quote(message_id, safe='')}/replies"
        )
        for data in self._list(path, params={"$top": str(TEAMS_MAX_PAGE)}):
            yield parse_channel_message(data, team_id=team_id, channel_id=channel_id)
