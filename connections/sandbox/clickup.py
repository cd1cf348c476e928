"""A local HTTP server that speaks ClickUp's OAuth and API v2 wire format (the subset the
connector uses), for tests and the sandbox. Usage::

    with FakeClickUp() as cu:
        settings.KB_CLICKUP_AUTH_URL = cu.auth_url    # http://127.0.0.1:PORT/app/api
        settings.KB_CLICKUP_API_URL = cu.api_url      # http://127.0.0.1:PORT/api/v2
        ids = seed_demo(cu.store)                     # or cu.store.task_add(...)
        token = cu.grant()                            # a valid access token
        cu.throttle_next(1, retry_after="2")          # 429 + X-RateLimit-Reset
        cu.rate_limit(limit=12, window=1.0)           # X-RateLimit-Remaining runs low
        cu.revoke()                                   # every token answers 401 OAUTH_019

Every API answer carries ``X-RateLimit-Limit/Remaining/Reset`` (a fixed window); going
over answers 429. Task attachments (``store.attachment_add``) are served without a token
at ``http://localhost:PORT/attachments/{id}/{title}`` (another host than the API's
127.0.0.1), as ClickUp's CDN serves them. ``break_item`` makes the next read of a task's comments answer 500.
Webhooks created through the API are kept (``webhooks``) with their secrets, and
``signed_delivery`` builds a delivery as ClickUp signs it. The ``/_sandbox/items`` control
endpoints (loopback only) list, add, edit and delete tasks and comments (``kb_sandbox``);
``POST /_sandbox/throttle {"count", "retry_after"}`` and ``POST /_sandbox/revoke`` pull the
knobs of the same names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from connections.sandbox.clickup_store import ClickUpStore, Comment, Task
from connections.sandbox.local import LocalServer
from connections.sandbox.server import RecordedRequest

_Answer = tuple[int, dict[str, str], bytes]
PAGE_SIZE = 100
COMMENT_PAGE = 25


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode()


def _err(status: int, ecode: str, message: str, headers: dict[str, str] | None = None) -> _Answer:
    return _json(status, {"err": message, "ECODE": ecode}, headers)


@dataclass
class FakeClickUp(LocalServer):
    client_id: str = "fake-clickup-client"
    client_secret: str = "fake-clickup-secret"  # noqa: S105 - a test fixture
    port: int = 0
    record_requests: bool = True
    state_path: Path | None = None
    page_size: int = PAGE_SIZE
    # False: the task listing leaves ``attachments`` out (only ``GET /task/{id}`` has them).
    list_attachments: bool = True
    requests: list[RecordedRequest] = field(default_factory=list)

    thread_name = "fake-clickup"

    def __post_init__(self) -> None:
        self.store = ClickUpStore()
        self._lock = threading.RLock()
        self._local_init()
        self._codes: set[str] = set()
        self._access: set[str] = set()
        self._throttles: list[str] = []
        self._broken: set[str] = set()
        self._broken_always: set[str] = set()
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.limit = 10_000
        self.window = 60.0
        self._window_start = time.time()
        self._used = 0
        self.over_limit = 0  # requests answered 429 because the window was used up
        self._dirty = False
        self.restored = self._load()

    # --- persistence (the sandbox; LocalServer._load/save) ------------------------------------

    def _state(self) -> dict[str, Any]:
        return {"store": self.store, "access": self._access, "webhooks": self.webhooks}

    def _restore(self, state: dict[str, Any]) -> None:
        self.store, self._access, self.webhooks = state["store"], state["access"], state["webhooks"]

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/app/api"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v2"

    # --- scripting ---------------------------------------------------------------------------

    def grant(self) -> str:
        with self._lock:
            token = f"{self.store.user['id']}_{secrets.token_hex(16)}"
            self._access.add(token)
            return token

    def revoke(self) -> None:
        """The app removed from the workspace: every token answers 401."""
        with self._lock:
            self._access.clear()

    def throttle_next(self, count: int = 1, *, retry_after: str = "1") -> None:
        """The next ``count`` API requests answer 429, the reset ``retry_after`` s away."""
        with self._lock:
            self._throttles.extend(retry_after for _ in range(count))

    def rate_limit(self, *, limit: int, window: float) -> None:
        with self._lock:
            self.limit, self.window = limit, window
            self._window_start, self._used = time.time(), 0

    def break_item(self, task_id: str, *, once: bool = True) -> None:
        """The next read of this task's comments answers 500 (every read from now on, with
        ``once=False``)."""
        with self._lock:
            (self._broken if once else self._broken_always).add(task_id)

    def requests_to(self, fragment: str) -> list[RecordedRequest]:
        return [r for r in self.requests if fragment in r.path]

    def signed_delivery(self, webhook_id: str, *, event: str, task_id: str) -> tuple[bytes, str]:
        """A webhook delivery's body and its ``X-Signature``, as ClickUp sends them."""
        hook = self.webhooks[webhook_id]
        body = json.dumps({"event": event, "task_id": task_id, "webhook_id": webhook_id, "history_items": []}).encode()
        return body, hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()

    # --- OAuth -------------------------------------------------------------------------------

    def _authorize(self, query: dict[str, str]) -> _Answer:
        redirect, state = query.get("redirect_uri", ""), query.get("state", "")
        if query.get("client_id") != self.client_id or not redirect:
            return 400, {"Content-Type": "text/plain"}, b"Invalid client id or redirect uri"
        code = secrets.token_hex(12)
        self._codes.add(code)
        return 302, {"Location": f"{redirect}?{urlencode({'code': code, 'state': state})}"}, b""

    def _token(self, query: dict[str, str]) -> _Answer:
        if query.get("client_id") != self.client_id or query.get("client_secret") != self.client_secret:
            return _err(400, "OAUTH_010", "Client not found")
        code = query.get("code", "")
        if code not in self._codes:
            return _err(400, "OAUTH_014", "Code not found")
        self._codes.discard(code)
        self._dirty = True
        return _json(200, {"access_token": self.grant()})

    # --- rate limit --------------------------------------------------------------------------

    def _limits(self) -> tuple[dict[str, str], bool]:
        now = time.time()
        if now - self._window_start >= self.window:
            self._window_start, self._used = now, 0
        self._used += 1
        reset = self._window_start + self.window
        over = self._used > self.limit
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.limit - self._used, 0)),
            "X-RateLimit-Reset": str(int(reset) if reset == int(reset) else round(reset, 3)),
        }
        return headers, over

    # --- API ---------------------------------------------------------------------------------

    def _task_json(self, task: Task) -> dict[str, Any]:
        store = self.store
        lst = store.lists[task.list_id]
        folder = store.folders.get(lst["folder_id"] or "") or {"id": "", "name": "hidden", "hidden": True}
        return {
            "id": task.id, "custom_id": None, "name": task.name, "text_content": task.description,
            "description": task.description, "markdown_description": task.description,
            "status": {"status": task.status, "type": "closed" if task.closed else "open"},
            "date_created": str(task.date_created), "date_updated": str(task.date_updated),
            "date_closed": None, "archived": task.archived,
            "creator": store.user, "assignees": [store.members[a] for a in task.assignees if a in store.members],
            "parent": task.parent, "list": {"id": lst["id"], "name": lst["name"]},
            "folder": {"id": folder["id"], "name": folder["name"]}, "space": {"id": lst["space_id"]},
            "url": f"https://app.clickup.com/t/{task.id}",
            "attachments": [self._attachment_json(a) for a in task.attachments],
        }

    def _attachment_json(self, attachment: dict[str, Any]) -> dict[str, Any]:
        # ClickUp's urls point at its attachment CDN (signed, public, another host): here
        # the same server, named "localhost" (the API is 127.0.0.1), answering without a token.
        cdn = self.base_url.replace("127.0.0.1", "localhost")
        return {
            "id": attachment["id"], "date": attachment["date"], "title": attachment["title"], "type": 1,
            "source": 1, "version": 0, "extension": attachment["extension"], "thumbnail_small": None,
            "thumbnail_large": None, "is_folder": None, "mimetype": "", "hidden": False,
            "size": len(attachment["data"]),
            "url": f"{cdn}/attachments/{quote(attachment['id'], safe='')}/"
                   f"{quote(attachment['title'], safe='')}",
        }

    def _attachment_bytes(self, path: str) -> _Answer:
        parts = path.strip("/").split("/")
        attachment = self.store.attachment(parts[1]) if len(parts) >= 2 else None
        if attachment is None:
            return 403, {"Content-Type": "application/xml"}, b"<Error><Code>AccessDenied</Code></Error>"
        return 200, {"Content-Type": "application/octet-stream"}, attachment["data"]

    def _comment_json(self, comment: Comment, *, replies: int = 0) -> dict[str, Any]:
        user = self.store.members.get(comment.user_id, {"id": comment.user_id, "username": None})
        return {"id": comment.id, "comment": [{"text": comment.text}], "comment_text": comment.text,
                "user": user, "date": str(comment.date), "resolved": False, "reply_count": replies}

    def _tasks(self, team_id: str, query: dict[str, list[str]]) -> _Answer:
        if team_id not in self.store.teams:
            return _err(401, "OAUTH_023", "Team not authorized")
        one = {k: v[-1] for k, v in query.items()}
        spaces, lists = set(query.get("space_ids[]", [])), set(query.get("list_ids[]", []))
        updated_gt = int(one.get("date_updated_gt") or 0)
        found = []
        for task in self.store.tasks.values():
            lst = self.store.lists[task.list_id]
            if task.deleted or self.store.spaces[lst["space_id"]]["team_id"] != team_id:
                continue
            if task.archived and one.get("archived") != "true":
                continue
            if task.parent and one.get("subtasks") != "true":
                continue
            if task.closed and one.get("include_closed") != "true":
                continue
            if (spaces and lst["space_id"] not in spaces) or (lists and task.list_id not in lists):
                continue
            if task.date_updated <= updated_gt:
                continue
            found.append(task)
        key = {"updated": lambda t: t.date_updated, "id": lambda t: t.id}.get(one.get("order_by", ""), lambda t: t.date_created)
        found.sort(key=key, reverse=one.get("reverse") == "true")
        page = int(one.get("page") or 0)
        chunk = found[page * self.page_size:(page + 1) * self.page_size]
        listed = [self._task_json(t) for t in chunk]
        if not self.list_attachments:
            for item in listed:
                item.pop("attachments")
        return _json(200, {"tasks": listed,
                           "last_page": (page + 1) * self.page_size >= len(found)})

    def _comments(self, task_id: str, query: dict[str, str]) -> _Answer:
        if self.store.live_task(task_id) is None:
            return _err(404, "ITEM_013", "Task not found, deleted")
        if task_id in self._broken or task_id in self._broken_always:
            self._broken.discard(task_id)
            return _err(500, "SERVER_500", "Internal server error")
        comments = self.store.top_comments(task_id)
        if query.get("start") and query.get("start_id"):
            start = (int(query["start"]), int(query["start_id"]))
            comments = [c for c in comments if (c.date, int(c.id)) < start]
        page = comments[:COMMENT_PAGE]
        return _json(200, {"comments": [self._comment_json(c, replies=len(self.store.replies(c.id))) for c in page]})

    def _api(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> _Answer:
        one = {k: v[-1] for k, v in query.items()}
        store = self.store
        parts = path.strip("/").split("/")
        if method == "POST" and len(parts) == 3 and parts[0] == "team" and parts[2] == "webhook":
            data = json.loads(body or b"{}")
            hook_id = secrets.token_hex(8)
            hook = {"id": hook_id, "userid": store.user["id"], "team_id": parts[1], "endpoint": data.get("endpoint"),
                    "events": data.get("events", []), "health": {"status": "active", "fail_count": 0},
                    "secret": secrets.token_hex(16)}
            self.webhooks[hook_id] = hook
            self._dirty = True
            return _json(200, {"id": hook_id, "webhook": hook})
        if method != "GET":
            return _err(405, "APP_001", "Method not allowed")
        if parts == ["user"]:
            return _json(200, {"user": store.user})
        if parts == ["team"]:
            return _json(200, {"teams": [
                {"id": t["id"], "name": t["name"], "members": [{"user": m} for m in store.members.values()]}
                for t in store.teams.values()
            ]})
        if len(parts) == 3 and parts[0] == "team" and parts[2] == "space":
            return _json(200, {"spaces": [{"id": s["id"], "name": s["name"]} for s in store.spaces.values()
                                          if s["team_id"] == parts[1]]})
        if len(parts) == 3 and parts[0] == "team" and parts[2] == "task":
            return self._tasks(parts[1], query)
        if len(parts) == 3 and parts[0] == "space" and parts[2] == "folder":
            return _json(200, {"folders": [
                {"id": f["id"], "name": f["name"],
                 "lists": [{"id": x["id"], "name": x["name"]} for x in store.lists.values() if x["folder_id"] == f["id"]]}
                for f in store.folders.values() if f["space_id"] == parts[1]
            ]})
        if len(parts) == 3 and parts[0] == "space" and parts[2] == "list":
            return _json(200, {"lists": [{"id": x["id"], "name": x["name"]} for x in store.lists.values()
                                         if x["space_id"] == parts[1] and not x["folder_id"]]})
        if len(parts) == 3 and parts[0] == "folder" and parts[2] == "list":
            return _json(200, {"lists": [{"id": x["id"], "name": x["name"]} for x in store.lists.values()
                                         if x["folder_id"] == parts[1]]})
        if len(parts) == 2 and parts[0] == "task":
            task = store.live_task(parts[1])
            return _json(200, self._task_json(task)) if task else _err(404, "ITEM_013", "Task not found, deleted")
        if len(parts) == 3 and parts[0] == "task" and parts[2] == "comment":
            return self._comments(parts[1], one)
        if len(parts) == 3 and parts[0] == "comment" and parts[2] == "reply":
            comment = store.comments.get(parts[1])
            if comment is None or comment.deleted:
                return _err(404, "ITEM_013", "Comment not found")
            return _json(200, {"comments": [self._comment_json(r) for r in store.replies(parts[1])]})
        return _err(404, "APP_404", "Route not found")

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Answer:
        with self._lock:
            self._dirty = False
            answer = self._handle(method, target, headers, body)
            if self._dirty:
                self.save()
            return answer

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Answer:
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        one = {k: v[-1] for k, v in query.items()}
        path = unquote(parts.path)
        record = RecordedRequest(method, path, one, headers)
        if self.record_requests:
            self.requests.append(record)
        if path == "/app/api" and method == "GET":
            answer = self._authorize(one)
        elif path == "/api/v2/oauth/token" and method == "POST":
            record.form = one
            answer = self._token(one)
        elif path == "/_sandbox/throttle" and method == "POST":
            data = json.loads(body or b"{}")
            self.throttle_next(int(data.get("count", 1)), retry_after=str(data.get("retry_after", "30")))
            answer = _json(200, {"throttled": int(data.get("count", 1))})
        elif path == "/_sandbox/revoke" and method == "POST":
            self.revoke()
            self._dirty = True
            answer = _json(200, {"revoked": True})
        elif path.startswith("/_sandbox/items"):
            from connections.sandbox import clickup_control

            answer, self._dirty = clickup_control.handle(self.store, method, path, body)
        elif path.startswith("/attachments/") and method == "GET":
            answer = self._attachment_bytes(path)
        elif path.startswith("/api/v2/"):
            answer = self._authorized_api(method, path[len("/api/v2"):], query, headers, body)
        else:
            answer = _err(404, "APP_404", "Route not found")
        record.status = answer[0]
        return answer

    def _authorized_api(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                        body: bytes) -> _Answer:
        if headers.get("authorization", "") not in self._access:
            return _err(401, "OAUTH_019", "Oauth token not found")
        limits, over = self._limits()
        if self._throttles:
            wait = float(self._throttles.pop(0))
            return _err(429, "APP_002", "Rate limit reached", {
                **limits, "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": f"{time.time() + wait:.3f}"})
        if over:
            self.over_limit += 1
            return _err(429, "APP_002", "Rate limit reached", limits)
        status, out_headers, payload = self._api(method, path, query, body)
        return status, {**out_headers, **limits}, payload
