"""A local HTTP server that speaks Google's OAuth 2.0 endpoints (authorize, token, revoke),
Drive v3 and Gmail v1 — the subset the connector uses — for tests and the sandbox.

The real clients (connections.providers.oauth2 / google) talk to it over a socket. Usage::

    with FakeGoogle() as g:
        settings.KB_GOOGLE_TOKEN_URL = g.token_url     # and the other g.settings()
        doc = g.store.doc_add(name="Opening hours", text="Open 8-5")
        tokens = g.grant()                             # a valid access + refresh token pair
        g.throttle_next(1, status=403, reason="rateLimitExceeded")
        g.expire_page_tokens(); g.expire_history()

The account lives in ``g.store`` (google_store.GoogleStore) with its mutation API (add,
edit, rename, move, trash, delete files; add, label, delete mails). Knobs for the unhappy
paths: ``throttle_next`` (429, or 403 ``userRateLimitExceeded``/``rateLimitExceeded``, with
or without ``Retry-After``), ``expire_page_tokens`` (Drive answers 400 to older page
tokens), ``expire_history`` (Gmail answers 404 to older ``startHistoryId``s),
``revoke_grant`` (refresh tokens refused with ``invalid_grant``, access tokens 401),
``break_item`` (the next content read of an item answers 500), ``export_limit`` (exports
larger answer 403 ``exportSizeLimitExceeded``). Without ``access_type=offline`` and
``prompt=consent`` the token endpoint gives no refresh token, as Google does.
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

from connections.sandbox import google_control
from connections.sandbox.google_store import FOLDER, NATIVE, GoogleStore
from connections.sandbox.local import LocalServer
from connections.sandbox.server import RecordedRequest

_Answer = tuple[int, dict[str, str], bytes]
EXPORT_LIMIT = 10 * 1024 * 1024
_EXPORTS = {NATIVE["document"]: "text/plain", NATIVE["spreadsheet"]: "text/csv", NATIVE["presentation"]: "text/plain"}


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Answer:
    return status, {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}, json.dumps(payload).encode()


def _error(status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> _Answer:
    state = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
             429: "RESOURCE_EXHAUSTED"}.get(status, "INTERNAL")
    return _json(status, {"error": {"code": status, "message": message, "status": state,
                                    "errors": [{"domain": "global", "reason": reason, "message": message}]}}, headers)


def _oauth_error(status: int, error: str, description: str) -> _Answer:
    return _json(status, {"error": error, "error_description": description})


@dataclass
class FakeGoogle(LocalServer):
    client_id: str = "fake-google-client.apps.googleusercontent.example"
    client_secret: str = "fake-google-secret"  # noqa: S105 - a test fixture
    access_token_lifetime: int = 3599
    page_size: int = 100
    export_limit: int = EXPORT_LIMIT
    requests: list[RecordedRequest] = field(default_factory=list)
    port: int = 0
    record_requests: bool = True
    state_path: Path | None = None

    thread_name = "fake-google"

    def __post_init__(self) -> None:
        self.store = GoogleStore()
        self._lock = threading.RLock()
        self._local_init()
        self._codes: dict[str, dict[str, str]] = {}
        self._access: set[str] = set()
        self._refresh: set[str] = set()
        self._throttles: list[tuple[int, str, str]] = []
        self._broken: set[str] = set()
        self._min_page_token = 0
        self._min_history_id = 0
        self.revoked: list[str] = []  # tokens revoked at /revoke
        self.refresh_grants = 0
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
    def auth_url(self) -> str:
        return f"{self.base_url}/o/oauth2/v2/auth"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def revoke_url(self) -> str:
        return f"{self.base_url}/revoke"

    @property
    def drive_url(self) -> str:
        return f"{self.base_url}/drive/v3"

    @property
    def gmail_url(self) -> str:
        return f"{self.base_url}/gmail/v1"

    def settings(self) -> dict[str, str]:
        """The ``KB_GOOGLE_*`` settings that point the product at this server."""
        return {
            "KB_GOOGLE_CLIENT_ID": self.client_id, "KB_GOOGLE_CLIENT_SECRET": self.client_secret,
            "KB_GOOGLE_AUTH_URL": self.auth_url, "KB_GOOGLE_TOKEN_URL": self.token_url,
            "KB_GOOGLE_REVOKE_URL": self.revoke_url, "KB_GOOGLE_DRIVE_URL": self.drive_url,
            "KB_GOOGLE_GMAIL_URL": self.gmail_url,
        }

    # --- scripting -------------------------------------------------------------------------

    def throttle_next(self, count: int = 1, *, retry_after: str = "1", status: int = 429,
                      reason: str = "rateLimitExceeded") -> None:
        """The next ``count`` API requests answer ``status`` (429, or 403 with ``reason``),
        with ``Retry-After`` unless it is empty."""
        with self._lock:
            self._throttles.extend((status, retry_after, reason) for _ in range(count))

    def expire_page_tokens(self) -> None:
        """Every Drive page token issued so far answers 400 (Invalid Value)."""
        with self._lock:
            self.store.seq += 1
            self._min_page_token = self.store.seq

    def expire_history(self) -> None:
        """Every Gmail history id issued so far answers 404 as a ``startHistoryId``."""
        with self._lock:
            self.store.history_id += 1
            self._min_history_id = self.store.history_id

    def revoke_grant(self) -> None:
        """The user removed the app's access: refresh tokens and access tokens die."""
        with self._lock:
            self._refresh.clear()
            self._access.clear()

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access.clear()

    def break_item(self, item_id: str) -> None:
        """The next content read of this file or message answers 500."""
        with self._lock:
            self._broken.add(item_id)

    def grant(self, scope: str = "openid email https://www.googleapis.com/auth/drive.readonly") -> dict[str, Any]:
        with self._lock:
            return self._issue(scope, refresh=True)

    def requests_to(self, fragment: str) -> list[RecordedRequest]:
        return [r for r in self.requests if fragment in r.path]

    # --- OAuth -----------------------------------------------------------------------------

    def _issue(self, scope: str, *, refresh: bool) -> dict[str, Any]:
        access = f"ya29.fake-{secrets.token_urlsafe(16)}"
        self._access.add(access)
        self._dirty = True
        answer: dict[str, Any] = {"access_token": access, "expires_in": self.access_token_lifetime, "scope": scope,
                                  "token_type": "Bearer", "id_token": "fake.id.token"}
        if refresh:
            token = f"1//fake-{secrets.token_urlsafe(24)}"
            self._refresh.add(token)
            answer["refresh_token"] = token
        return answer

    def _authorize(self, query: dict[str, str]) -> _Answer:
        redirect, state = query.get("redirect_uri", ""), query.get("state", "")
        if query.get("client_id") != self.client_id or not redirect:
            return 400, {"Content-Type": "text/plain"}, b"Error 401: invalid_client. The OAuth client was not found."
        if self.authorize_error:
            return 302, {"Location": f"{redirect}?{urlencode({'error': self.authorize_error, 'state': state})}"}, b""
        code = f"4/fake-{secrets.token_urlsafe(16)}"
        self._codes[code] = {
            "redirect_uri": redirect, "challenge": query.get("code_challenge", ""),
            "method": query.get("code_challenge_method", ""), "scope": query.get("scope", ""),
            # Google issues a refresh token only for offline access with a fresh consent.
            "offline": "1" if query.get("access_type") == "offline" and query.get("prompt") == "consent" else "",
        }
        return 302, {"Location": f"{redirect}?{urlencode({'code': code, 'scope': query.get('scope', ''), 'state': state})}"}, b""

    def _token(self, form: dict[str, str]) -> _Answer:
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            request = self._codes.pop(form.get("code", ""), None)
            if request is None or request["redirect_uri"] != form.get("redirect_uri"):
                return _oauth_error(400, "invalid_grant", "Malformed auth code.")
            if request["challenge"]:
                verifier = form.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if request["method"] != "S256" or digest != request["challenge"]:
                    return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
            return _json(200, self._issue(request["scope"], refresh=bool(request["offline"])))
        if grant == "refresh_token":
            if form.get("refresh_token", "") not in self._refresh:
                return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
            self.refresh_grants += 1
            return _json(200, self._issue(form.get("scope", ""), refresh=False))  # no new refresh token
        return _oauth_error(400, "unsupported_grant_type", "Invalid grant_type.")

    def _revoke(self, token: str) -> _Answer:
        if token not in self._refresh and token not in self._access:
            return _oauth_error(400, "invalid_token", "Token expired or revoked")
        self.revoked.append(token)
        self._refresh.clear()  # one grant per sandbox account: revoking it ends every token
        self._access.clear()
        self._dirty = True
        return _json(200, {})

    # --- Drive -----------------------------------------------------------------------------

    def _files_list(self, query: dict[str, str]) -> _Answer:
        store = self.store
        q = query.get("q", "")
        parents = re.findall(r"'([^']+)' in parents", q)
        mime = re.search(r"mimeType\s*=\s*'([^']+)'", q)
        not_trashed = re.search(r"trashed\s*=\s*false", q) is not None
        drive_id = query.get("driveId", "") if query.get("corpora") == "drive" else ""
        if drive_id and drive_id not in store.shared_drives:
            return _error(404, "notFound", f"Shared drive not found: {drive_id}")
        rows = [f for f in store.files.values() if not f.deleted and f.id != store.root_id and f.drive_id == drive_id
                and (not parents or any(p in f.parents for p in parents))
                and (not mime or f.mime_type == mime[1]) and (not not_trashed or not f.trashed)]
        rows.sort(key=lambda f: f.id)
        offset = int(query.get("pageToken") or 0)
        size = min(int(query.get("pageSize") or 100), self.page_size)
        body: dict[str, Any] = {"kind": "drive#fileList", "incompleteSearch": False,
                                "files": [store.file_json(f) for f in rows[offset:offset + size]]}
        if offset + size < len(rows):
            body["nextPageToken"] = str(offset + size)
        return _json(200, body)

    def _changes(self, query: dict[str, str]) -> _Answer:
        store = self.store
        try:
            since = int(query.get("pageToken", ""))
        except ValueError:
            since = -1
        if since < self._min_page_token or since > store.seq:
            return _error(400, "invalid", "Invalid Value")
        drive_id = query.get("driveId", "")
        rows = store.changed_since(since, drive_id=drive_id)
        size = min(int(query.get("pageSize") or 100), self.page_size)
        page, rest = rows[:size], rows[size:]
        changes = []
        for _seq, file_id in page:
            file = store.files[file_id]
            change: dict[str, Any] = {"kind": "drive#change", "changeType": "file", "fileId": file_id,
                                      "time": file.modified.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "removed": file.deleted}
            if file.drive_id:
                change["driveId"] = file.drive_id
            if not file.deleted:
                change["file"] = store.file_json(file)
            changes.append(change)
        body: dict[str, Any] = {"kind": "drive#changeList", "changes": changes}
        if rest:
            body["nextPageToken"] = str(page[-1][0])
        else:
            body["newStartPageToken"] = str(store.seq)
        return _json(200, body)

    def _content(self, file_id: str, *, export: str | None) -> _Answer:
        file = self.store.files.get(file_id)
        if file is None or file.deleted:
            return _error(404, "notFound", f"File not found: {file_id}.")
        if file_id in self._broken:
            self._broken.discard(file_id)
            return _error(500, "backendError", "Backend Error")
        if export is not None:
            if file.mime_type not in _EXPORTS or export != _EXPORTS[file.mime_type]:
                return _error(400, "badRequest", "Export only supports Docs Editors files.")
            if len(file.content) > self.export_limit:
                return _error(403, "exportSizeLimitExceeded", "This file is too large to be exported.")
            return 200, {"Content-Type": f"{export}; charset=utf-8"}, file.content
        if file.is_native:
            return _error(403, "fileNotDownloadable", "Only files with binary content can be downloaded. Use Export.")
        return 200, {"Content-Type": file.mime_type}, file.content

    def _drive(self, path: str, query: dict[str, str]) -> _Answer:
        store = self.store
        if path == "/about":
            return _json(200, {"kind": "drive#about", "user": {"kind": "drive#user", **store.user, "me": True}})
        if path == "/files":
            return self._files_list(query)
        if path == "/drives":
            return _json(200, {"kind": "drive#driveList", "drives": list(store.shared_drives.values())})
        if path == "/changes/startPageToken":
            return _json(200, {"kind": "drive#startPageToken", "startPageToken": str(store.seq)})
        if path == "/changes":
            return self._changes(query)
        if m := re.fullmatch(r"/files/([^/]+)(/export)?", path):
            file_id = store.root_id if m[1] == "root" else m[1]
            if m[2] or query.get("alt") == "media":
                return self._content(file_id, export=query.get("mimeType", "") if m[2] else None)
            file = store.files.get(file_id)
            if file is None or file.deleted:
                return _error(404, "notFound", f"File not found: {m[1]}.")
            return _json(200, store.file_json(file))
        return _error(404, "notFound", f"Not found: {path}")

    # --- Gmail -----------------------------------------------------------------------------

    def _gmail(self, path: str, query: dict[str, str], multi: dict[str, list[str]]) -> _Answer:
        store = self.store
        if path == "/profile":
            return _json(200, {"emailAddress": store.user["emailAddress"], "messagesTotal": len(store.mails),
                               "threadsTotal": len(store.mails), "historyId": str(store.history_id)})
        if path == "/labels":
            return _json(200, {"labels": list(store.labels.values())})
        if path == "/messages":
            wanted = multi.get("labelIds", [])
            after = re.search(r"after:(\d+)", query.get("q", ""))
            rows = [m for m in store.mails.values()
                    if all(label in m.labels for label in wanted)
                    and (query.get("includeSpamTrash") == "true" or not m.labels & {"TRASH", "SPAM"})
                    and (not after or m.internal_date.timestamp() > int(after[1]))]
            rows.sort(key=lambda m: m.internal_date, reverse=True)
            offset = int(query.get("pageToken") or 0)
            size = min(int(query.get("maxResults") or 100), self.page_size)
            body: dict[str, Any] = {"messages": [{"id": m.id, "threadId": m.thread_id} for m in rows[offset:offset + size]],
                                    "resultSizeEstimate": len(rows)}
            if offset + size < len(rows):
                body["nextPageToken"] = str(offset + size)
            if not body["messages"]:
                del body["messages"]
            return _json(200, body)
        if m := re.fullmatch(r"/messages/([^/]+)(?:/attachments/([^/]+))?", path):
            mail = store.mails.get(m[1])
            if mail is None:
                return _error(404, "notFound", "Requested entity was not found.")
            if m[1] in self._broken:
                self._broken.discard(m[1])
                return _error(500, "backendError", "Backend Error")
            if m[2]:
                for attachment_id, _name, data in mail.attachments:
                    if attachment_id == m[2].split("~")[0]:
                        encoded = base64.urlsafe_b64encode(data).decode().rstrip("=")
                        return _json(200, {"size": len(data), "data": encoded})
                return _error(404, "notFound", "Requested entity was not found.")
            return _json(200, store.message_json(mail))
        if path == "/history":
            try:
                start = int(query.get("startHistoryId", ""))
            except ValueError:
                return _error(400, "invalidArgument", "Invalid startHistoryId")
            if start < self._min_history_id:
                return _error(404, "notFound", "Requested entity was not found.")
            records = [h for h in store.history if int(h["id"]) > start]
            offset = int(query.get("pageToken") or 0)
            size = min(int(query.get("maxResults") or 100), self.page_size)
            body = {"historyId": str(store.history_id)}
            if records[offset:offset + size]:
                body["history"] = records[offset:offset + size]
            if offset + size < len(records):
                body["nextPageToken"] = str(offset + size)
            return _json(200, body)
        return _error(404, "notFound", f"Not found: {path}")

    # --- dispatch --------------------------------------------------------------------------

    def _api(self, path: str, query: dict[str, str], multi: dict[str, list[str]], headers: dict[str, str]) -> _Answer:
        if self._throttles:
            status, retry_after, reason = self._throttles.pop(0)
            extra = {"Retry-After": retry_after} if retry_after else {}
            if status == 403:
                return _error(403, reason, "User Rate Limit Exceeded.", extra)
            return _error(status, "rateLimitExceeded", "Too many concurrent requests for user.", extra)
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._access:
            return _error(401, "authError", "Request had invalid authentication credentials.",
                          {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
        if path.startswith("/drive/v3/"):
            return self._drive(path[len("/drive/v3"):], query)
        if path.startswith("/gmail/v1/users/me/"):
            return self._gmail(path[len("/gmail/v1/users/me"):], query, multi)
        return _error(404, "notFound", f"Not found: {path}")

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Answer:
        with self._lock:
            self._dirty = False
            answer = self._handle(method, target, headers, body)
            if self._dirty:
                self.save()
            return answer

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Answer:
        parts = urlsplit(target)
        multi = parse_qs(parts.query, keep_blank_values=True)
        query = {k: v[-1] for k, v in multi.items()}
        path = unquote(parts.path)
        record = RecordedRequest(method, path, query, headers)
        if self.record_requests:
            self.requests.append(record)
        form = {k: v[-1] for k, v in parse_qs(body.decode(errors="replace")).items()} if method == "POST" else {}
        record.form = form
        if path == "/o/oauth2/v2/auth" and method == "GET":
            answer = self._authorize(query)
        elif path == "/token" and method == "POST":
            answer = self._token(form)
        elif path == "/revoke" and method == "POST":
            answer = self._revoke(form.get("token") or query.get("token", ""))
        elif path.startswith("/_sandbox/items"):
            answer, self._dirty = google_control.handle(self.store, method, path, body)
        elif method == "GET" and path.startswith(("/drive/v3/", "/gmail/v1/")):
            answer = self._api(path, query, multi, headers)
        else:
            answer = _error(405, "notSupported", "Method not supported")
        record.status = answer[0]
        return answer


__all__ = ["FOLDER", "FakeGoogle", "RecordedRequest"]
