"""ClickUp sources as pages of changes (the engine's ``Adapter``), over the wire client
(connections.providers.clickup).

* A source is a space (``clickup_space``, ``root_id`` = the space id) or a list
  (``clickup_list``, ``root_id`` = the list id, ``parent_id`` = its space); ``extra`` carries
  the workspace (``team_id``).
* One virtual document per task, subtasks included: its title is the task's name (so a
  rename re-embeds nothing); its text the status, list, assignees' display names, the
  markdown description and every comment with its threaded replies (paged past ClickUp's
  newest 25). PII neutralisation applies by the ``clickup`` source kind.
* Revision = ``date_updated`` + the newest comment's id (the newest comment page is read
  with the listing and reused by the fetch, so a task's render costs no extra request).
* Backfill: the whole listing, by ``page`` until ``last_page``. Deltas: a ``date_updated_gt``
  watermark per source (the cursor link ``w=<ms>``; mid-feed ``w=…&s=…&page=…``), moved to
  the start of the listing by ClickUp's clock (less a second), so an update made while we
  list is read again next time rather than missed.
* ClickUp has no delete feed: ``present`` lists the ids still there (archived tasks are not
  listed: for us they are gone) and the engine's presence sweep removes the rest.
* ``recheck``: task ids a webhook named (``taskDeleted``, ``taskUpdated``,
  ``taskCommentPosted``); each delta reads them once: gone (404) or archived → removed,
  otherwise re-read with its comments. It shortens the delay; it never replaces the sweep.
  Tasks whose read failed (recorded on the run) are re-read the same way at the next delta.

* Attachments (DESIGN §9): a task's files become its child documents through the file
  pipeline (``Content.children``; identity = task id + attachment id, revision = the
  attachment id, since ClickUp never changes an uploaded file's bytes), removed with the
  task; one taken off the task leaves. The attachment ids are part of the task's revision.
  Files whose extension is not a document type (images, media, archives) are skipped
  before any download; one over the upload limit is that item's failure, not the run's.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.conf import settings

from connections import models
from connections.providers import clickup, errors
from connections.sync.changes import Change, Content, Page, Remove, Upsert
from knowledge import models as kb

KIND = kb.SourceKind.CLICKUP
# The watermark moves to the listing's start by ClickUp's clock (its Date header, whole
# seconds) minus a second; by our clock (before the backfill, or without a Date header)
# minus a margin for the clocks' skew.
SERVER_CLOCK_MARGIN_MS = 1_000
WATERMARK_MARGIN_MS = 120_000
# The presence sweep runs on every delta run (each scheduled run): the engine also keeps
# it at least daily.
PRESENCE_EVERY = timedelta(0)
# Attachments taken into the file pipeline, by extension ("": none said; the bytes decide).
DOCUMENT_EXTENSIONS = frozenset({"", "txt", "text", "md", "markdown", "csv", "pdf", "docx", "html", "htm"})


def _now_ms() -> int:
    return int(time.time() * 1000)


def _filters(source: models.ConnectionSource) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(space_ids, list_ids) of the source's listing."""
    if source.surface == models.Surface.CLICKUP_SPACE:
        return (source.root_id,), ()
    if source.surface == models.Surface.CLICKUP_LIST:
        return (), (source.root_id,)
    raise errors.ProviderError(f"ClickUp cannot sync a {source.surface} source")


def _team_id(source: models.ConnectionSource) -> str:
    team = str((source.extra or {}).get("team_id") or "")
    if not team:
        raise errors.ProviderError("the ClickUp source does not name its workspace; select it again")
    return team


def _holds(source: models.ConnectionSource, task: clickup.Task) -> bool:
    if source.surface == models.Surface.CLICKUP_SPACE:
        return task.space_id == source.root_id
    return task.list_id == source.root_id


def _link(**values: int | str) -> str:
    return urlencode({k: str(v) for k, v in values.items()})


def _parse_link(link: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, value in parse_qsl(link or ""):
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


class ClickUpAdapter:
    presence_every = PRESENCE_EVERY

    def __init__(self, *, client: clickup.ClickUpClient, recheck: tuple[str, ...] = ()) -> None:
        self.client = client
        self.recheck = recheck
        self._names: dict[str, str] = {}  # task id → name (a subtask's parent, when listed)
        self._rechecked: dict[str, clickup.Task | None] = {}

    @property
    def request_count(self) -> int:
        return self.client.request_count

    def close(self) -> None:
        self.client.close()

    def begin(self, source: models.ConnectionSource) -> str | None:
        return _link(w=_now_ms() - WATERMARK_MARGIN_MS)

    def enumerate(self, source: models.ConnectionSource, *, link: str | None, memo: dict[str, Any]) -> Iterator[Page]:
        start = _parse_link(link).get("page", 0)
        spaces, lists = _filters(source)
        for number, page in self.client.tasks(team_id=_team_id(source), space_ids=spaces, list_ids=lists,
                                              start_page=start):
            changes = self._changes(source, page.tasks, memo)
            yield Page(changes=changes, next_link=None if page.last_page else _link(page=number + 1))

    def changes(self, source: models.ConnectionSource, *, link: str, memo: dict[str, Any]) -> Iterator[Page]:
        at = _parse_link(link)
        watermark = at.get("w", 0)
        start = at.get("s", 0)
        spaces, lists = _filters(source)
        for number, page in self.client.tasks(team_id=_team_id(source), space_ids=spaces, list_ids=lists,
                                              updated_gt=watermark, start_page=at.get("page", 0)):
            if not start:  # ClickUp's clock when the listing began (its Date header: whole seconds)
                server = self.client.server_time_ms
                start = server - SERVER_CLOCK_MARGIN_MS if server else _now_ms() - WATERMARK_MARGIN_MS
            changes = self._changes(source, page.tasks, memo)
            if page.last_page:
                yield Page(changes=changes, final_link=_link(w=max(watermark, start)))
            else:
                yield Page(changes=changes, next_link=_link(w=watermark, s=start, page=number + 1))
        # Tasks a webhook named, and tasks whose read failed last time (their revision was
        # never stored, and an unchanged task is not listed again).
        again = tuple(dict.fromkeys([*self.recheck, *memo.pop("retry", [])]))
        if again:
            yield Page(changes=self._rechecks(source, again, memo), final_link=_link(w=max(watermark, start)))

    def present(self, source: models.ConnectionSource, *, memo: dict[str, Any]) -> Iterator[list[str]]:
        """The ids of every task still in the source (the whole listing, ids only)."""
        spaces, lists = _filters(source)
        for _, page in self.client.tasks(team_id=_team_id(source), space_ids=spaces, list_ids=lists):
            yield [task.id for task in page.tasks if not task.archived]

    # --- items -------------------------------------------------------------------------------

    def _changes(self, source: models.ConnectionSource, tasks: list[clickup.Task], memo: dict[str, Any]) -> list[Change]:
        self._names.update((t.id, t.name) for t in tasks)
        out: list[Change] = []
        for task in tasks:
            if task.archived:
                out.append(Remove(task.id, KIND))
            else:
                out.append(self._upsert(task, memo))
        return out

    def _upsert(self, task: clickup.Task, memo: dict[str, Any]) -> Upsert:
        try:
            newest = self.client.comment_page(task.id)
        except (errors.Throttled, errors.AuthRefused):
            raise
        except errors.ProviderError as exc:
            # This task alone cannot be read: the fetch reports it on the run.
            failure = exc
            return Upsert(external_id=task.id, source_kind=KIND, revision=f"{task.date_updated}:?",
                          title=task.name, url=task.url, parent_id=task.list_id,
                          fetch=functools.partial(_failed, memo, task.id, failure))
        revision = f"{task.date_updated}:{newest[0].id if newest else '-'}{_attachments_revision(task)}"
        return Upsert(
            external_id=task.id, source_kind=KIND, revision=revision, title=task.name or "(untitled task)",
            url=task.url, parent_id=task.list_id, fetch=functools.partial(self._content, task, newest, memo),
        )

    def _rechecks(self, source: models.ConnectionSource, task_ids: tuple[str, ...], memo: dict[str, Any]) -> list[Change]:
        out: list[Change] = []
        for task_id in task_ids:
            if task_id not in self._rechecked:
                try:
                    self._rechecked[task_id] = self.client.task(task_id)
                except errors.ItemGone:
                    self._rechecked[task_id] = None
            task = self._rechecked[task_id]
            if task is None or task.archived:
                out.append(Remove(task_id, KIND))
            elif _holds(source, task):
                out.append(self._upsert(task, memo))
        return out

    def _content(self, task: clickup.Task, newest: list[clickup.Comment], memo: dict[str, Any]) -> Content:
        try:
            comments = self.client.comments(task.id, first=newest)
            threads = [(c, self.client.replies(c.id) if c.reply_count else []) for c in reversed(comments)]
            children = tuple(self._attachments(task))
        except (errors.Throttled, errors.AuthRefused):
            raise
        except errors.ProviderError as exc:
            _failed(memo, task.id, exc)
        return Content(text=render_task(task, threads, parent_name=self._parent_name(task)),
                       children=children)

    def _attachments(self, task: clickup.Task) -> Iterator[Upsert]:
        attachments = task.attachments
        if attachments is None:  # the listing did not carry them: the task's own read does
            attachments = self.client.task(task.id).attachments or ()
        limit = settings.KB_MAX_UPLOAD_MB * 1024 * 1024
        for attachment in attachments:
            if attachment.extension not in DOCUMENT_EXTENSIONS:
                continue
            yield Upsert(
                external_id=attachment_external_id(task.id, attachment.id), source_kind=KIND,
                revision=f"clickup-attachment:{attachment.id}", title=attachment.title or "attachment",
                url=task.url, fetch=functools.partial(self._attachment_content, attachment, limit),
            )

    def _attachment_content(self, attachment: clickup.Attachment, limit: int) -> Content:
        return Content(data=self.client.attachment_content(attachment, max_bytes=limit),
                       filename=attachment.title or f"attachment.{attachment.extension or 'txt'}")

    def _parent_name(self, task: clickup.Task) -> str:
        """A subtask's parent's name: from the listings of this run, else read once."""
        if not task.parent:
            return ""
        if task.parent not in self._names:
            try:
                self._names[task.parent] = self.client.task(task.parent).name
            except errors.ItemGone:
                self._names[task.parent] = ""
        return self._names[task.parent]


def attachment_external_id(task_id: str, attachment_id: str) -> str:
    """A child document's identity: its task's id and the attachment's id."""
    return f"{task_id}/attachment/{attachment_id}"


def _attachments_revision(task: clickup.Task) -> str:
    """The attachment ids' part of a task's revision ("" without attachments, so a task
    without any keeps the revision it had before attachments were synced)."""
    if not task.attachments:
        return ""
    ids = ",".join(sorted(a.id for a in task.attachments))
    return ":a" + hashlib.sha256(ids.encode()).hexdigest()[:16]


def _failed(memo: dict[str, Any], task_id: str, exc: Exception) -> Content:
    """An item's read failed: the engine records it on the run; the next delta reads it again
    (``memo`` is stored with the page's cursor)."""
    retry = memo.setdefault("retry", [])
    if task_id not in retry:
        retry.append(task_id)
    raise exc


def _when(ms: int) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _post(comment: clickup.Comment, *, indent: str = "") -> str:
    head = " ".join(p for p in (comment.author or "someone", f"({_when(comment.date)})" if comment.date else "") if p)
    body = comment.text.strip().replace("\n", "\n" + indent + "  ")
    return f"{indent}{head}: {body}"


def render_task(
    task: clickup.Task, threads: list[tuple[clickup.Comment, list[clickup.Comment]]], *, parent_name: str = ""
) -> str:
    """A task's text: status, list, assignees, description and every comment (oldest first)
    with its replies. The name is the document's title, not part of the text."""
    lines = [f"Status: {task.status}" if task.status else ""]
    where = " / ".join(p for p in (task.folder_name, task.list_name) if p)
    if where:
        lines.append(f"List: {where}")
    if task.parent:
        lines.append(f"Subtask of: {parent_name or 'another task'}")
    if task.assignees:
        lines.append("Assignees: " + ", ".join(task.assignees))
    text = "\n".join(line for line in lines if line)
    if task.description.strip():
        text += "\n\n" + task.description.strip()
    if threads:
        posts = []
        for comment, replies in threads:
            posts.append(_post(comment))
            posts.extend(_post(r, indent="    ") for r in sorted(replies, key=lambda r: (r.date, r.id)))
        text += "\n\nComments:\n" + "\n".join(posts)
    return text.strip() + "\n"
