"""ClickUp API v2 wire client (pure: no ORM, no settings; the caller passes the API base URL
and a token source). Typed results; listings are generators of pages.

* Workspaces (``/team``), their spaces, folders and lists: what a user selects.
* Tasks through ``/team/{id}/task`` (``subtasks``, ``include_closed``,
  ``include_markdown_description``) filtered by ``space_ids[]`` / ``list_ids[]`` and
  ``date_updated_gt``, paged by ``page`` until ``last_page`` says so. Archived tasks are not
  listed (ClickUp's default): for us they are gone.
* Comments: ``/task/{id}/comment`` answers the newest 25; older ones are paged with
  ``start`` (the oldest comment's date) and ``start_id`` (its id). Threaded replies come from
  ``/comment/{id}/reply``.
* Attachments: listed on the task (``attachments[]``: id, title, url, size, extension); their
  bytes are read by url, size-checked before and during the download, with the token only
  when the url is on the API's own host (never to ClickUp's attachment CDN).

ClickUp issues no refresh token and its tokens do not expire: a 401 means the grant was
revoked (the app removed from the workspace, the user gone) → ``AuthRefused`` at once.

Rate limits (100 requests per minute per token on most plans): every answer carries
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (unix seconds). When few requests are
left the client slows down (a short sleep spreading them to the reset); with none left it
waits for the reset when that is close, else raises ``Throttled`` *before* sending, so the
run pauses without meeting the 429. A 429 raises ``Throttled`` with the time to the reset.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from connections.providers import errors

# The caller's token source (None: the current access token). ClickUp has no refresh, so
# the client never asks for a replacement.
TokenSource = Callable[[str | None], str]

COMMENTS_PER_PAGE = 25  # ClickUp's fixed page of newest comments
MAX_COMMENT_PAGES = 400  # 10,000 comments: a guard against a server that never ends a listing
MAX_TASK_PAGES = 2_000
# Slow down below this many remaining requests; wait inline at most this long for a reset
# (longer: the run pauses instead of holding a worker).
LOW_REMAINING = 10
MAX_INLINE_WAIT = 5.0
MAX_SPREAD_SLEEP = 1.0


@dataclass(frozen=True)
class User:
    id: str
    username: str
    email: str

    @property
    def label(self) -> str:
        return self.email or self.username or self.id


@dataclass(frozen=True)
class Team:
    id: str
    name: str


@dataclass(frozen=True)
class Space:
    id: str
    name: str


@dataclass(frozen=True)
class Folder:
    id: str
    name: str


@dataclass(frozen=True)
class TaskList:
    id: str
    name: str


@dataclass(frozen=True)
class Attachment:
    """A file attached to a task. ``url``: where its bytes are (ClickUp's attachment CDN,
    signed, public); ``size`` in bytes (0: not said); ``extension`` without the dot."""

    id: str
    title: str
    url: str
    size: int = 0
    extension: str = ""


@dataclass(frozen=True)
class Task:
    id: str
    name: str
    status: str
    date_updated: int  # ms since the epoch
    list_id: str = ""
    list_name: str = ""
    folder_id: str = ""
    folder_name: str = ""
    space_id: str = ""
    parent: str = ""  # the parent task of a subtask
    assignees: tuple[str, ...] = ()
    description: str = ""  # markdown when ClickUp gives it, else the plain text
    archived: bool = False
    url: str = ""
    # None: the answer did not carry the list (read the task itself for it).
    attachments: tuple[Attachment, ...] | None = None


@dataclass(frozen=True)
class Comment:
    id: str
    text: str
    author: str
    date: int  # ms since the epoch
    reply_count: int = 0


@dataclass
class TaskPage:
    tasks: list[Task]
    last_page: bool


@dataclass(frozen=True)
class Webhook:
    id: str
    secret: str = field(repr=False)


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _name_of(value: Any) -> str:
    return _str(value.get("name")) if isinstance(value, dict) else ""


def _id_of(value: Any) -> str:
    return _str(value.get("id")) if isinstance(value, dict) else ""


def _person(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    return _str(value.get("username") or value.get("email") or value.get("initials") or "")


def parse_task(data: dict[str, Any]) -> Task:
    status = data.get("status")
    raw = data.get("attachments")
    attachments = None if not isinstance(raw, list) else tuple(
        parse_attachment(a) for a in raw if isinstance(a, dict) and a.get("id") and a.get("url")
    )
    return Task(
        id=_str(data.get("id")),
        name=_str(data.get("name")),
        status=_str(status.get("status")) if isinstance(status, dict) else _str(status),
        date_updated=_int(data.get("date_updated")),
        list_id=_id_of(data.get("list")),
        list_name=_name_of(data.get("list")),
        folder_id=_id_of(data.get("folder")),
        folder_name=_name_of(data.get("folder")),
        space_id=_id_of(data.get("space")),
        parent=_str(data.get("parent") or ""),
        assignees=tuple(p for p in (_person(a) for a in data.get("assignees") or []) if p),
        description=_str(data.get("markdown_description") or data.get("text_content") or data.get("description") or ""),
        archived=bool(data.get("archived")),
        url=_str(data.get("url")),
        attachments=attachments,
    )


def parse_attachment(data: dict[str, Any]) -> Attachment:
    title = _str(data.get("title") or data.get("name"))
    extension = _str(data.get("extension")).lower().lstrip(".")
    if not extension and "." in title:
        extension = title.rsplit(".", 1)[1].lower()
    return Attachment(id=_str(data.get("id")), title=title, url=_str(data.get("url")), size=_int(data.get("size")),
                      extension=extension)


def parse_comment(data: dict[str, Any]) -> Comment:
    text = data.get("comment_text")
    if not isinstance(text, str):
        # The structured form: a list of {"text": …} runs.
        text = "".join(_str(part.get("text")) for part in data.get("comment") or [] if isinstance(part, dict))
    return Comment(
        id=_str(data.get("id")), text=text, author=_person(data.get("user")), date=_int(data.get("date")),
        reply_count=_int(data.get("reply_count")),
    )


def _error(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return _str(body.get("ECODE")), _str(body.get("err"))[:300]


def reset_in(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (unix seconds), or None when not sent."""
    raw = response.headers.get("X-RateLimit-Reset")
    if raw is None:
        return None
    try:
        reset = float(raw)
    except ValueError:
        return None
    if reset > 1e11:  # some answers carry milliseconds
        reset /= 1000
    return min(max(reset - (time.time() if now is None else now), 0.0), errors.MAX_RETRY_AFTER)


def raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    code, text = _error(response)
    message = f"ClickUp answered {status}{' ' + code if code else ''}{': ' + text if text else ''}"
    if status == 429:
        wait = reset_in(response)
        if wait is None:
            wait = errors.parse_retry_after(response.headers.get("Retry-After"))
        raise errors.Throttled(message, retry_after=max(wait, 1.0), status=status, code=code)
    if status == 401:
        raise errors.AuthRefused(message, status=status, code=code)
    if status == 403:
        raise errors.AccessDenied(message, status=status, code=code)
    if status == 404:
        raise errors.ItemGone(message, status=status, code=code)
    if status == 503:
        raise errors.Throttled(
            message, retry_after=errors.parse_retry_after(response.headers.get("Retry-After")), status=status, code=code
        )
    raise errors.ProviderError(message, status=status, code=code)


class ClickUpClient:
    def __init__(
        self,
        *,
        api_url: str,
        token: TokenSource,
        http: httpx.Client | None = None,
        timeout: float = 30,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._access: str | None = None
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None
        self._sleep = sleep
        self.request_count = 0
        self.slept = 0.0  # seconds spent slowing down for the rate limit
        self._remaining: int | None = None
        # ClickUp's clock (its Date header, whole seconds) at the latest answer, in ms.
        self.server_time_ms: int | None = None
        self._reset_at: float | None = None  # time.time() of the reset

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> ClickUpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------------

    def _pace(self) -> None:
        """Before a request: slow down when few are left, wait for (or pause until) the reset
        when none are."""
        if self._remaining is None or self._reset_at is None or self._remaining >= LOW_REMAINING:
            return
        wait = self._reset_at - time.time()
        if wait <= 0:
            self._remaining = None
            return
        if self._remaining <= 0:
            if wait > MAX_INLINE_WAIT:
                raise errors.Throttled(
                    "ClickUp's rate limit is used up until its reset", retry_after=wait, status=429, code="rate_limit"
                )
            pause = wait
            self._remaining = None
        else:
            pause = min(wait / (self._remaining + 1), MAX_SPREAD_SLEEP)
        self.slept += pause
        self._sleep(pause)

    def _note_time(self, response: httpx.Response) -> None:
        raw = response.headers.get("Date")
        if not raw:
            return
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return
        if when is not None:
            self.server_time_ms = int(when.timestamp() * 1000)

    def _note_limits(self, response: httpx.Response) -> None:
        raw = response.headers.get("X-RateLimit-Remaining")
        if raw is None:
            return
        try:
            self._remaining = int(float(raw))
        except ValueError:
            return
        wait = reset_in(response)
        self._reset_at = None if wait is None else time.time() + wait

    def _request(
        self, method: str, path: str, *, params: Any = None, json: Any = None
    ) -> httpx.Response:
        self._pace()
        if self._access is None:
            self._access = self._token(None)
        self.request_count += 1
        try:
            response = self._http.request(
                method, f"{self.api_url}{path}", params=params, json=json,
                headers={"Authorization": self._access, "Accept": "application/json"},
            )
        except httpx.TimeoutException as exc:
            raise errors.ProviderError(f"ClickUp timed out: {type(exc).__name__}", code="timeout") from None
        except httpx.HTTPError as exc:
            raise errors.ProviderError(f"ClickUp unreachable: {type(exc).__name__}", code="network") from None
        self._note_limits(response)
        self._note_time(response)
        raise_for_status(response)
        return response

    def get_json(self, path: str, *, params: Any = None) -> dict[str, Any]:
        return self._json(self._request("GET", path, params=params))

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise errors.ProviderError("ClickUp answered with something not JSON", status=response.status_code) from None
        if not isinstance(data, dict):
            raise errors.ProviderError("ClickUp answered with something not an object", status=response.status_code)
        return data

    # --- account and roots -------------------------------------------------------------------

    def user(self) -> User:
        data = self.get_json("/user").get("user") or {}
        return User(id=_str(data.get("id")), username=_str(data.get("username")), email=_str(data.get("email")))

    def teams(self) -> list[Team]:
        return [Team(id=_str(t.get("id")), name=_str(t.get("name")))
                for t in self.get_json("/team").get("teams") or [] if isinstance(t, dict)]

    def spaces(self, *, team_id: str) -> list[Space]:
        data = self.get_json(f"/team/{quote(team_id, safe='')}/space", params={"archived": "false"})
        return [Space(id=_str(s.get("id")), name=_str(s.get("name"))) for s in data.get("spaces") or [] if isinstance(s, dict)]

    def folders(self, *, space_id: str) -> list[Folder]:
        data = self.get_json(f"/space/{quote(space_id, safe='')}/folder", params={"archived": "false"})
        return [Folder(id=_str(f.get("id")), name=_str(f.get("name"))) for f in data.get("folders") or [] if isinstance(f, dict)]

    def folder_lists(self, *, folder_id: str) -> list[TaskList]:
        data = self.get_json(f"/folder/{quote(folder_id, safe='')}/list", params={"archived": "false"})
        return [TaskList(id=_str(x.get("id")), name=_str(x.get("name"))) for x in data.get("lists") or [] if isinstance(x, dict)]

    def folderless_lists(self, *, space_id: str) -> list[TaskList]:
        data = self.get_json(f"/space/{quote(space_id, safe='')}/list", params={"archived": "false"})
        return [TaskList(id=_str(x.get("id")), name=_str(x.get("name"))) for x in data.get("lists") or [] if isinstance(x, dict)]

    # --- tasks -------------------------------------------------------------------------------

    def task_page(
        self, *, team_id: str, page: int, space_ids: tuple[str, ...] = (), list_ids: tuple[str, ...] = (),
        updated_gt: int | None = None,
    ) -> TaskPage:
        """One page (up to 100) of the workspace's tasks, subtasks and closed ones included,
        oldest created first (an order an update does not change)."""
        params: list[tuple[str, str]] = [
            ("page", str(page)), ("order_by", "created"), ("reverse", "false"), ("subtasks", "true"),
            ("include_closed", "true"), ("include_markdown_description", "true"),
        ]
        params += [("space_ids[]", s) for s in space_ids]
        params += [("list_ids[]", x) for x in list_ids]
        if updated_gt is not None:
            params.append(("date_updated_gt", str(updated_gt)))
        data = self.get_json(f"/team/{quote(team_id, safe='')}/task", params=params)
        tasks = [parse_task(t) for t in data.get("tasks") or [] if isinstance(t, dict) and t.get("id")]
        # Paged until ClickUp says it was the last page (not "fewer than 100"); an empty page
        # ends it too, so a server that never says it cannot loop us.
        return TaskPage(tasks=tasks, last_page=bool(data.get("last_page", True)) or not tasks)

    def tasks(
        self, *, team_id: str, space_ids: tuple[str, ...] = (), list_ids: tuple[str, ...] = (),
        updated_gt: int | None = None, start_page: int = 0,
    ) -> Iterator[tuple[int, TaskPage]]:
        """(page number, page) from ``start_page`` to the last page."""
        page = start_page
        while page < MAX_TASK_PAGES:
            result = self.task_page(team_id=team_id, page=page, space_ids=space_ids, list_ids=list_ids,
                                    updated_gt=updated_gt)
            yield page, result
            if result.last_page:
                return
            page += 1
        raise errors.ProviderError(f"ClickUp's task listing did not end after {MAX_TASK_PAGES} pages")

    def task(self, task_id: str) -> Task:
        return parse_task(self.get_json(
            f"/task/{quote(task_id, safe='')}", params={"include_markdown_description": "true", "include_subtasks": "false"}
        ))

    # --- comments ----------------------------------------------------------------------------

    def comment_page(self, task_id: str, *, start: int | None = None, start_id: str | None = None) -> list[Comment]:
        """Up to 25 comments, newest first: the newest, or those older than (start, start_id)."""
        params: dict[str, str] = {}
        if start is not None and start_id:
            params = {"start": str(start), "start_id": start_id}
        data = self.get_json(f"/task/{quote(task_id, safe='')}/comment", params=params or None)
        return [parse_comment(c) for c in data.get("comments") or [] if isinstance(c, dict) and c.get("id")]

    def comments(self, task_id: str, *, first: list[Comment] | None = None) -> list[Comment]:
        """Every comment of the task, newest first (``first``: the newest page, already read)."""
        page = first if first is not None else self.comment_page(task_id)
        out: list[Comment] = []
        seen: set[str] = set()
        for _ in range(MAX_COMMENT_PAGES):
            fresh = [c for c in page if c.id not in seen]
            out.extend(fresh)
            seen.update(c.id for c in fresh)
            if len(page) < COMMENTS_PER_PAGE or not fresh:
                return out
            oldest = page[-1]
            page = self.comment_page(task_id, start=oldest.date, start_id=oldest.id)
        raise errors.ProviderError(f"ClickUp's comments of task {task_id} did not end after {MAX_COMMENT_PAGES} pages")

    def replies(self, comment_id: str) -> list[Comment]:
        data = self.get_json(f"/comment/{quote(comment_id, safe='')}/reply")
        return [parse_comment(c) for c in data.get("comments") or [] if isinstance(c, dict) and c.get("id")]

    # --- attachments -------------------------------------------------------------------------

    def _on_api_host(self, url: str) -> bool:
        api, there = urlsplit(self.api_url), urlsplit(url)
        return (api.scheme, api.netloc.lower()) == (there.scheme, there.netloc.lower())

    def attachment_content(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        """An attachment's bytes by its url. Over ``max_bytes`` (by the size ClickUp states,
        before any download, then while reading) → ``ItemTooLarge``. The token goes only to
        the API's own host: ClickUp's attachment urls are on its CDN, signed and public, and
        a token sent there would leak to whoever serves that url."""
        name = attachment.title or attachment.id
        if attachment.size > max_bytes:
            raise errors.ItemTooLarge(f"{name} is {attachment.size} bytes (limit {max_bytes})", code="too_large")
        if not attachment.url.startswith(("https://", "http://")):
            raise errors.ProviderError(f"{name} has no downloadable url", code="no_url")
        headers: dict[str, str] = {}
        on_api = self._on_api_host(attachment.url)
        if on_api:
            self._pace()
            if self._access is None:
                self._access = self._token(None)
            headers["Authorization"] = self._access
        self.request_count += 1
        try:
            with self._http.stream("GET", attachment.url, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    if on_api or response.status_code in (429, 503):
                        raise_for_status(response)
                    # The CDN's refusal (an expired signature, a removed file) is this
                    # attachment's alone, never the connection's grant.
                    raise errors.ProviderError(f"ClickUp's attachment store answered {response.status_code} for {name}",
                                               status=response.status_code)
                chunks: list[bytes] = []
                total = 0
                for chunk in response.iter_bytes():
                    total += len(chunk)
                    if total > max_bytes:
                        raise errors.ItemTooLarge(f"{name} exceeds {max_bytes} bytes", code="too_large")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TimeoutException as exc:
            raise errors.ProviderError(f"ClickUp attachment download timed out: {type(exc).__name__}",
                                       code="timeout") from None
        except httpx.HTTPError as exc:
            raise errors.ProviderError(f"ClickUp attachment download failed: {type(exc).__name__}",
                                       code="network") from None

    # --- webhooks ----------------------------------------------------------------------------

    def webhook_create(self, *, team_id: str, endpoint: str, events: tuple[str, ...]) -> Webhook:
        response = self._request("POST", f"/team/{quote(team_id, safe='')}/webhook",
                                 json={"endpoint": endpoint, "events": list(events)})
        data = self._json(response)
        hook: dict[str, Any] = data["webhook"] if isinstance(data.get("webhook"), dict) else data
        webhook_id, secret = _str(data.get("id") or hook.get("id")), _str(hook.get("secret"))
        if not webhook_id or not secret:
            raise errors.ProviderError("ClickUp created a webhook without an id or a secret", status=response.status_code)
        return Webhook(id=webhook_id, secret=secret)
