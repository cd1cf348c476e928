"""The ClickUp sandbox's control endpoints (``/_sandbox/…``, loopback only), shaped like the
Microsoft sandbox's (control.py), so ``manage.py kb_sandbox --url <clickup sandbox>`` lists,
adds, edits and deletes tasks and comments; changes land in the listings exactly as a change
at ClickUp would.

* ``GET /_sandbox/items`` → ``{"items": [{id, kind, name, where}], "count"}`` (kind: ``task``,
  ``subtask``, ``comment``, ``reply``; live items only).
* ``POST /_sandbox/items`` with ``{"kind": "task" (or "file"), "name", "text", "parent"?}``
  (a list id or name, default ``Patient requests``) or ``{"kind": "comment" (or "thread"),
  "text", "parent"|"channel": task id}`` → 201 ``{id}``.
* ``POST /_sandbox/items/{id}`` with ``{"text"?, "name"?, "status"?}``; ``{"archived": true}``
  archives a task.
* ``DELETE /_sandbox/items/{id}`` → the task (with its subtasks) or the comment deleted.
"""

from __future__ import annotations

import json
from typing import Any

from connections.sandbox.clickup_store import ClickUpStore

Answer = tuple[int, dict[str, str], bytes]


def _json(status: int, payload: Any) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def items_list(store: ClickUpStore) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for task in store.tasks.values():
        if task.deleted or task.archived:
            continue
        where = store.lists[task.list_id]["name"]
        out.append({"id": task.id, "kind": "subtask" if task.parent else "task", "name": task.name, "where": where})
    for comment in store.comments.values():
        owner = store.live_task(comment.task_id)
        if comment.deleted or owner is None:
            continue
        out.append({"id": comment.id, "kind": "reply" if comment.reply_to else "comment",
                    "name": comment.text[:60], "where": owner.name})
    return out


def _list_id(store: ClickUpStore, given: str) -> str | None:
    given = given or "Patient requests"
    if given in store.lists:
        return given
    return next((x["id"] for x in store.lists.values() if x["name"] == given), None)


def handle(store: ClickUpStore, method: str, path: str, body: bytes) -> tuple[Answer, bool]:
    """(answer, changed)."""
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return _json(400, {"error": "the body is not JSON"}), False
    rest = path[len("/_sandbox/items"):].strip("/")
    if method == "GET" and not rest:
        items = items_list(store)
        return _json(200, {"items": items, "count": len(items)}), False
    if method == "POST" and not rest:
        kind = str(data.get("kind") or "task")
        if kind in ("comment", "thread", "reply"):
            task_id = str(data.get("parent") or data.get("channel") or "")
            if store.live_task(task_id) is None:
                return _json(404, {"error": f"no task {task_id!r}"}), False
            return _json(201, {"id": store.comment_add(task_id, str(data.get("text") or ""))}), True
        list_id = _list_id(store, str(data.get("parent") or ""))
        if list_id is None:
            return _json(404, {"error": "no such list"}), False
        task_id = store.task_add(list_id, str(data.get("name") or "New task"), str(data.get("text") or ""))
        return _json(201, {"id": task_id}), True
    if rest in store.comments and not store.comments[rest].deleted:
        if method == "DELETE":
            store.comment_delete(rest)
            return _json(200, {"id": rest}), True
        if method == "POST" and data.get("text") is not None:
            store.comment_edit(rest, str(data["text"]))
            return _json(200, {"id": rest}), True
    if store.live_task(rest) is not None:
        if method == "DELETE":
            store.task_delete(rest)
            return _json(200, {"id": rest}), True
        if method == "POST":
            if data.get("archived"):
                store.task_archive(rest)
            else:
                store.task_edit(rest, name=data.get("name"), description=data.get("text"), status=data.get("status"))
            return _json(200, {"id": rest}), True
    return _json(404, {"error": f"no item {rest!r}"}), False
