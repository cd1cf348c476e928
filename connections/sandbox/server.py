"""A local HTTP server that speaks the Microsoft identity platform (v2 authorize/token) and
the Microsoft Graph subset the connector uses, for tests and the sandbox.

The real clients (connections.providers.oauth2 / microsoft) talk to it over a socket, so their
paging, headers and error handling run for real. Usage::

    with FakeMicrosoft() as ms:
        settings.KB_MS_AUTHORITY = ms.authority      # http://127.0.0.1:PORT/common
        settings.KB_MS_GRAPH_URL = ms.graph_url      # http://127.0.0.1:PORT/v1.0
        drive = ms.store.personal_drive_id
        ms.store.file_add(drive_id=drive, name="hours.txt", content=b"Open 8-5")
        tokens = ms.grant()                          # a valid access + refresh token pair
        ms.throttle_next(1, retry_after="2")
        ms.expire_delta_links()

The account lives in ``ms.store`` (msgraph_store.GraphStore) with its mutation API (add, edit,
rename, move, delete for files, mails and channel messages). The unhappy paths are knobs:
``throttle_next`` (429/503 + Retry-After), ``empty_pages`` (empty delta pages with a next link),
``repeat_items`` (the last item of a page repeated on the next), ``expire_delta_links`` (410),
``revoke_grant`` (refresh tokens refused with invalid_grant, access tokens 401),
``require_interaction`` (interaction_required), rotating refresh tokens (on by default),
``teams_consent_missing`` (403 until an administrator consents), ``break_item`` (an item's
content answers 500), mail attachments (``store.attachment_add``, served at
``/me/messages/{id}/attachments``), null display names (pass
``author_name=None`` or set ``store.user["displayName"] = None``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from connections.sandbox import control
from connections.sandbox.local import LocalServer
from connections.sandbox.store import GraphStore

_Answer = tuple[int, dict[str, str], bytes]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int = 0
    form: dict[str, str] = field(default_factory=dict)


@dataclass
class _Snapshot:
    """One enumeration in progress: the items as they were when it started, served by pages."""

    items: list[dict[str, Any]]
    final_seq: int | None  # None: a plain listing (no deltaLink at the end)
    page_size: int
    link_base: str
    token_param: str


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode()


def _graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> _Answer:
    return _json(status, {"error": {"code": code, "message": message, "innerError": {"request-id": "fake"}}}, headers)


def _oauth_error(status: int, error: str, description: str) -> _Answer:
    return _json(
        status,
        {"error": error, "error_description": description, "error_codes": [int(re.sub(r"\D", "", description[:13]) or 0)],
         "timestamp": "2026-11-30 06:00:00Z", "trace_id": "fake", "correlation_id": "fake"},
    )


@dataclass
class FakeMicrosoft(LocalServer):
    client_id: str = "fake-ms-client"
    client_secret: str = "fake-ms-secret"  # noqa: S105 - a test fixture
    tenant_segment: str = "common"
    access_token_lifetime: int = 3599
    rotate_refresh_tokens: bool = True
    drive_page_size: int = 200
    repeat_items: bool = False
    teams_consent_missing: bool = False
    # Item ids (drive files, mail attachments) whose content answers 500 (``break_item``).
    broken_items: set[str] = field(default_factory=set)
    requests: list[RecordedRequest] = field(default_factory=list)
    port: int = 0  # 0: a free port
    record_requests: bool = True  # off in the long-running sandbox (the list would only grow)
    # The sandbox of `make run` keeps its account and grants here across restarts.
    state_path: Path | None = None

    thread_name = "fake-msgraph"

    def __post_init__(self) -> None:
        self.store = GraphStore()
        self._lock = threading.RLock()
        self._local_init()
        self._codes: dict[str, dict[str, str]] = {}
        self._access: set[str] = set()
        self._refresh: set[str] = set()
        self._throttles: list[tuple[int, str]] = []
        self._empty_pages = 0
        self._snapshots: dict[str, _Snapshot] = {}
        self._min_delta_seq = 0
        self._interaction_required = False
        self.refresh_grants = 0  # successful refresh_token redemptions
        self.authorize_error: str | None = None
        self._dirty = False
        self.restored = self._load()

    # --- persistence (the sandbox; LocalServer._load/save) ----------------------------------

    def _state(self) -> dict[str, Any]:
        return {"store": self.store, "refresh": self._refresh, "access": self._access}

    def _restore(self, state: dict[str, Any]) -> None:
        self.store, self._refresh, self._access = state["store"], state["refresh"], state["access"]

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant_segment}"

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v1.0"

    # --- scripting -------------------------------------------------------------------------

    def throttle_next(self, count: int = 1, *, retry_after: str = "1", status: int = 429) -> None:
        """The next ``count`` Graph requests answer ``status`` with ``Retry-After``."""
        with self._lock:
            self._throttles.extend((status, retry_after) for _ in range(count))

    def break_item(self, item_id: str) -> None:
        """The content of this drive file or attachment answers 500 from now on."""
        with self._lock:
            self.broken_items.add(item_id)

    def empty_pages(self, count: int) -> None:
        """The next ``count`` delta page requests answer an empty page whose next link asks
        again for the same page (legal in Graph)."""
        with self._lock:
            self._empty_pages += count

    def expire_delta_links(self) -> None:
        """Every delta link issued so far answers 410 (the service dropped its sync state)."""
        with self._lock:
            # Links carry the sequence they were issued at: step past it, so links issued from
            # now on (even before the next change) stay valid.
            self.store.seq += 1
            self._min_delta_seq = self.store.seq

    def revoke_grant(self) -> None:
        """The user revoked the app (or an admin did): refresh tokens and access tokens die."""
        with self._lock:
            self._refresh.clear()
            self._access.clear()

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access.clear()

    def require_interaction(self, value: bool = True) -> None:
        with self._lock:
            self._interaction_required = value

    def grant(self, scope: str = "offline_access User.Read Files.Read.All") -> dict[str, Any]:
        """Issue a token pair as a successful code redemption would (tests that skip the browser)."""
        with self._lock:
            return self._issue(scope)

    def requests_to(self, fragment: str) -> list[RecordedRequest]:
        return [r for r in self.requests if fragment in r.path]

    # --- identity --------------------------------------------------------------------------

    def _issue(self, scope: str) -> dict[str, Any]:
        access, refresh = f"at-{secrets.token_urlsafe(16)}", f"rt-{secrets.token_urlsafe(24)}"
        self._access.add(access)
        self._refresh.add(refresh)
        self._dirty = True
        return {
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": self.access_token_lifetime,
            "ext_expires_in": self.access_token_lifetime,
            "access_token": access,
            "refresh_token": refresh,
            "id_token": "fake.id.token",
        }

    def _authorize(self, query: dict[str, str]) -> _Answer:
        redirect = query.get("redirect_uri", "")
        state = query.get("state", "")
        if query.get("client_id") != self.client_id or not redirect:
            return 400, {"Content-Type": "text/plain"}, b"AADSTS700016: unknown application"
        if self.authorize_error:
            params = {"error": self.authorize_error, "error_description": "The user declined.", "state": state}
            return 302, {"Location": f"{redirect}?{urlencode(params)}"}, b""
        code = secrets.token_urlsafe(16)
        self._codes[code] = {
            "redirect_uri": redirect,
            "challenge": query.get("code_challenge", ""),
            "method": query.get("code_challenge_method", ""),
            "scope": query.get("scope", ""),
        }
        return 302, {"Location": f"{redirect}?{urlencode({'code': code, 'state': state})}"}, b""

    def _token(self, form: dict[str, str]) -> _Answer:
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return _oauth_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            request = self._codes.pop(form.get("code", ""), None)
            if request is None:
                return _oauth_error(400, "invalid_grant", "AADSTS54005: OAuth2 Authorization code was already redeemed.")
            if request["redirect_uri"] != form.get("redirect_uri"):
                return _oauth_error(400, "invalid_grant", "AADSTS50011: The redirect URI does not match.")
            if request["challenge"]:
                verifier = form.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if request["method"] != "S256" or digest != request["challenge"]:
                    return _oauth_error(400, "invalid_grant", "AADSTS501481: The Code_Verifier does not match.")
            return _json(200, self._issue(request["scope"] or form.get("scope", "")))
        if grant == "refresh_token":
            if self._interaction_required:
                return _oauth_error(400, "interaction_required", "AADSTS50076: you must use multi-factor authentication.")
            token = form.get("refresh_token", "")
            if token not in self._refresh:
                return _oauth_error(
                    400, "invalid_grant",
                    "AADSTS70008: The provided authorization code or refresh token has expired or was revoked.",
                )
            if self.rotate_refresh_tokens:
                self._refresh.discard(token)
            self.refresh_grants += 1
            answer = self._issue(form.get("scope", ""))
            if not self.rotate_refresh_tokens:
                self._refresh.discard(answer["refresh_token"])
                answer["refresh_token"] = token
            return _json(200, answer)
        return _oauth_error(400, "unsupported_grant_type", "AADSTS70003: unsupported grant type")

    # --- graph -----------------------------------------------------------------------------

    def _page(self, snap_id: str, offset: int) -> _Answer:
        snap = self._snapshots.get(snap_id)
        if snap is None:
            return _graph_error(400, "invalidRequest", "Invalid skip token.")
        if self._empty_pages > 0:
            self._empty_pages -= 1
            link = f"{snap.link_base}?{urlencode({'$skiptoken': f'{snap_id}.{offset}'})}"
            return _json(200, {"value": [], "@odata.nextLink": link})
        start = offset - 1 if (self.repeat_items and offset > 0) else offset
        end = offset + snap.page_size
        body: dict[str, Any] = {"value": snap.items[start:end]}
        if end < len(snap.items):
            body["@odata.nextLink"] = f"{snap.link_base}?{urlencode({'$skiptoken': f'{snap_id}.{end}'})}"
        else:
            self._snapshots.pop(snap_id, None)
            if snap.final_seq is not None:
                body["@odata.deltaLink"] = f"{snap.link_base}?{urlencode({snap.token_param: str(snap.final_seq)})}"
        return _json(200, body)

    def _enumerate(self, items: list[dict[str, Any]], *, final_seq: int | None, page_size: int, link_base: str,
                   token_param: str = "token") -> _Answer:  # noqa: S107 - a query parameter name
        snap_id = secrets.token_hex(6)
        self._snapshots[snap_id] = _Snapshot(items, final_seq, max(page_size, 1), link_base, token_param)
        return self._page(snap_id, 0)

    def _delta(
        self, stream: str, query: dict[str, str], *, link_base: str, page_size: int, token_param: str,
        render: Any, expired_code: str,
    ) -> _Answer:
        if "$skiptoken" in query:
            snap_id, _, offset = query["$skiptoken"].partition(".")
            return self._page(snap_id, int(offset or 0))
        token = query.get(token_param) or query.get("token") or query.get("$deltatoken")
        store = self.store
        if token == "latest":
            return _json(200, {"value": [], "@odata.deltaLink": f"{link_base}?{urlencode({token_param: str(store.seq)})}"})
        since: int | None = None
        if token is not None:
            try:
                since = int(token)
            except ValueError:
                return _graph_error(400, "invalidRequest", "Invalid delta token.")
            if since < self._min_delta_seq:
                return _graph_error(
                    410, expired_code, "Resync required. Replace any local items with the server's version.",
                    {"Location": link_base},
                )
        ids = store.stream_ids(stream, since=since)
        items = [render(item_id, store.is_tombstone(stream, item_id)) for item_id in ids]
        return self._enumerate(items, final_seq=store.seq, page_size=page_size, link_base=link_base,
                               token_param=token_param)

    def _graph(self, method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> _Answer:
        if self._throttles:
            status, retry_after = self._throttles.pop(0)
            return _graph_error(status, "activityLimitReached", "The request has been throttled", {"Retry-After": retry_after})
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._access:
            return _graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
        store, base = self.store, self.graph_url
        prefer = headers.get("prefer", "")
        top = int(query.get("$top") or 0)

        if path == "/me":
            return _json(200, dict(store.user))
        if path in ("/me/drive", "/me/drives"):
            drive = store.drives[store.personal_drive_id]
            data = {"id": drive["id"], "name": drive["name"], "driveType": drive["driveType"]}
            return _json(200, data if path == "/me/drive" else {"value": [data]})
        if path == "/sites":
            return _json(200, {"value": list(store.sites.values())})
        if m := re.fullmatch(r"/sites/([^/]+)/drives", path):
            drives = [d for d in store.drives.values() if d["site_id"] == m[1]]
            return _json(200, {"value": [{"id": d["id"], "name": d["name"], "driveType": d["driveType"]} for d in drives]})
        if m := re.fullmatch(r"/(?:drives/([^/]+)|me/drive)/root/delta", path):
            drive_id = m[1] or store.personal_drive_id
            if drive_id not in store.drives:
                return _graph_error(404, "itemNotFound", "The resource could not be found.")
            link = f"{base}/drives/{drive_id}/root/delta"
            return self._delta(
                drive_id, query, link_base=link, page_size=top or self.drive_page_size, token_param="token",
                render=lambda i, _t: store.drive_item_json(store.items[i], base_url=self.base_url),
                expired_code="resyncRequired",
            )
        if m := re.fullmatch(r"/drives/([^/]+)/(?:root|items/([^/]+))/children", path):
            parent = m[2] or store.drives.get(m[1], {}).get("root_id")
            children = [store.drive_item_json(store.items[i], base_url=self.base_url)
                        for i in sorted(store.children_of.get(parent or "", ()))]
            return self._enumerate(children, final_seq=None, page_size=top or 200, link_base=f"{base}{path}")
        if m := re.fullmatch(r"/drives/([^/]+)/items/([^/]+)(/content)?", path):
            item = store.items.get(m[2])
            if item is None or item.deleted or item.drive_id != m[1]:
                return _graph_error(404, "itemNotFound", "The resource could not be found.")
            data = store.drive_item_json(item, base_url=self.base_url)
            if m[3] and item.id in self.broken_items:
                return _graph_error(500, "generalException", "An unexpected error occurred.")
            if m[3]:
                return 302, {"Location": data.get("@microsoft.graph.downloadUrl", "")}, b""
            return _json(200, data)
        if path == "/me/mailFolders" or (m := re.fullmatch(r"/me/mailFolders/([^/]+)/childFolders", path)):
            parent = "msgfolderroot" if path == "/me/mailFolders" else store.mail_folder_id(m[1] if m else "")
            folders = [dict(f) for f in store.mail_folders.values() if f["parentFolderId"] == parent]
            return self._enumerate(folders, final_seq=None, page_size=top or 10, link_base=f"{base}{path}")
        if m := re.fullmatch(r"/me/mailFolders/([^/]+)/messages/delta", path):
            folder_id = store.mail_folder_id(m[1])
            if folder_id is None:
                return _graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            size = re.search(r"odata\.maxpagesize=(\d+)", prefer)
            immutable = 'IdType="ImmutableId"' in prefer
            return self._delta(
                f"mail:{folder_id}", query, link_base=f"{base}/me/mailFolders/{folder_id}/messages/delta",
                page_size=int(size[1]) if size else 10, token_param="$deltatoken",
                render=lambda i, t: store.message_json(store.messages[i], immutable=immutable, tombstone=t),
                expired_code="SyncStateNotFound",
            )
        if m := re.fullmatch(r"/me/(?:mailFolders/[^/]+/)?messages/([^/]+)/attachments(?:/([^/]+)(/\$value)?)?", path):
            return self._attachments(m[1], m[2], bool(m[3]), query, top)
        if path == "/me/joinedTeams":
            return _json(200, {"value": list(store.teams.values())})
        if m := re.fullmatch(r"/teams/([^/]+)/channels", path):
            channels = [dict(c) for (t, _), c in store.channels.items() if t == m[1]]
            return _json(200, {"value": channels})
        if m := re.fullmatch(r"/teams/([^/]+)/channels/([^/]+)/messages/(delta|[^/]+/replies)", path):
            if self.teams_consent_missing:
                return _graph_error(403, "Forbidden", "Missing role permissions on the request. API requires one of "
                                    "'ChannelMessage.Read.All'. Admin consent is required.")
            team_id, channel_id = m[1], m[2]
            if (team_id, channel_id) not in store.channels:
                return _graph_error(404, "NotFound", "Channel not found.")
            if top > 50:
                return _graph_error(400, "BadRequest", "The $top value must be between 1 and 50.")
            link = f"{base}/teams/{team_id}/channels/{channel_id}/messages/{m[3]}"
            if m[3] == "delta":
                return self._delta(
                    f"channel:{team_id}:{channel_id}", query, link_base=link, page_size=top or 20,
                    token_param="$deltatoken",
                    render=lambda i, _t: store.channel_message_json(store.channel_messages[i]),
                    expired_code="resyncRequired",
                )
            if "$skiptoken" in query:
                snap_id, _, offset = query["$skiptoken"].partition(".")
                return self._page(snap_id, int(offset or 0))
            root_id = m[3].split("/")[0]
            if root_id not in store.channel_messages:
                return _graph_error(404, "NotFound", "Message not found.")
            replies = [store.channel_message_json(r) for r in store.replies(root_id)]
            return self._enumerate(replies, final_seq=None, page_size=top or 20, link_base=link)
        return _graph_error(404, "BadRequest", f"Resource not found for the segment '{path}'.")

    def _attachments(self, message_id: str, attachment_id: str | None, raw: bool, query: dict[str, str],
                     top: int) -> _Answer:
        store = self.store
        message = store.message_by_id(message_id)
        if message is None:
            return _graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        attachments = store.attachments_of(message)
        select = {s.strip() for s in query["$select"].split(",")} if query.get("$select") else None
        if attachment_id is None:
            if "$skiptoken" in query:
                snap_id, _, offset = query["$skiptoken"].partition(".")
                return self._page(snap_id, int(offset or 0))
            items = [store.attachment_json(a, with_content=select is None or "contentBytes" in select, select=select)
                     for a in attachments]
            link = f"{self.graph_url}/me/messages/{message_id}/attachments"
            return self._enumerate(items, final_seq=None, page_size=top or 50, link_base=link)
        attachment = next((a for a in attachments if a.id == attachment_id), None)
        if attachment is None:
            return _graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        if not raw:
            return _json(200, store.attachment_json(attachment, with_content=True, select=select))
        if attachment.id in self.broken_items:
            return _graph_error(500, "generalException", "An unexpected error occurred.")
        if attachment.kind != "file":
            return _graph_error(400, "ErrorInvalidRequest", "Only file attachments have a raw value here.")
        return 200, {"Content-Type": attachment.content_type or "application/octet-stream"}, attachment.content

    def _download(self, item_id: str, query: dict[str, str], headers: dict[str, str]) -> _Answer:
        # Pre-authenticated: an Authorization header is refused, as SharePoint does.
        if headers.get("authorization"):
            return 401, {"Content-Type": "text/plain"}, b"download URLs take no Authorization header"
        item = self.store.items.get(item_id)
        if item is None or item.deleted or query.get("tempauth") != f"v{item.version}":
            return 404, {"Content-Type": "text/plain"}, b"gone"
        if item_id in self.broken_items:
            return 500, {"Content-Type": "text/plain"}, b"upstream storage error"
        return 200, {"Content-Type": "application/octet-stream"}, item.content

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Answer:
        with self._lock:
            self._dirty = False
            answer = self._handle(method, target, headers, body)
            if self._dirty:
                self.save()
            return answer

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Answer:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        path = unquote(parts.path)
        record = RecordedRequest(method, path, query, headers)
        with self._lock:
            if self.record_requests:
                self.requests.append(record)
            identity = f"/{self.tenant_segment}/oauth2/v2.0/"
            if path.startswith(identity):
                action = path[len(identity):]
                if action == "authorize" and method == "GET":
                    answer = self._authorize(query)
                elif action == "token" and method == "POST":
                    form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
                    record.form = form
                    answer = self._token(form)
                else:
                    answer = _oauth_error(404, "not_found", "AADSTS90000: unknown endpoint")
            elif path.startswith("/_sandbox/items"):
                answer, self._dirty = control.handle(self.store, method, path, body)
            elif path.startswith("/_download/"):
                answer = self._download(path[len("/_download/"):], query, headers)
            elif path.startswith("/v1.0/") and method == "GET":
                answer = self._graph(method, path[len("/v1.0"):], query, headers)
            else:
                answer = _graph_error(405, "notSupported", "Method not supported")
            record.status = answer[0]
            return answer
