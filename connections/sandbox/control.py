"""The sandbox's control endpoints (``/_sandbox/…``, loopback only): what a newcomer uses,
through ``manage.py kb_sandbox``, to change the sandbox account and watch the change (or the
deletion) arrive at the next sync. They call the store's mutation API, so every change lands
in the delta feeds exactly as a change at Microsoft would.

* ``GET /_sandbox/items`` → ``{"items": [{id, kind, name, where}], "count"}``
  (kind: ``folder``, ``file``, ``mail``, ``thread``, ``reply``; live items only).
* ``POST /_sandbox/items`` with ``{"kind": "file", "name", "text", "parent"?}`` (parent: a
  folder id or name, default the OneDrive root), ``{"kind": "mail", "subject", "text",
  "folder"?}`` (a mail folder id or name, default ``Shared inbox``), or ``{"kind": "thread",
  "text", "channel"?}`` → 201 ``{id}``.
* ``POST /_sandbox/items/{id}`` with ``{"text"?, "name"?}`` → the item edited (a file's
  content or name, a mail's body or subject, a channel message's body).
* ``DELETE /_sandbox/items/{id}`` → the item deleted (a folder with everything under it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from connections.sandbox.store import GraphStore

Answer = tuple[int, dict[str, str], bytes]


def _json(status: int, payload: Any) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def _error(status: int, message: str) -> Answer:
    return _json(status, {"error": message})


def items_list(store: GraphStore) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for item in store.items.values():
        if item.deleted or item.parent_id is None:
            continue
        parent = store.items[item.parent_id]
        where = store.drives[item.drive_id]["name"] + ("" if parent.parent_id is None else f" / {parent.name}")
        out.append({"id": item.id, "kind": "folder" if item.is_folder else "file", "name": item.name, "where": where})
    for message in store.messages.values():
        if not message.deleted:
            folder = store.mail_folders[message.folder_id]["displayName"]
            out.append({"id": message.id, "kind": "mail", "name": message.subject, "where": folder})
    for cm in store.channel_messages.values():
        if cm.deleted_at is None:
            channel = store.channels.get((cm.team_id, cm.channel_id), {}).get("displayName", "")
            team = store.teams.get(cm.team_id, {}).get("displayName", "")
            out.append({
                "id": cm.id, "kind": "reply" if cm.reply_to else "thread",
                "name": (cm.subject or cm.body)[:60], "where": f"{team} / {channel}",
            })
    return out


def _folder_id(store: GraphStore, ref: str) -> str | None:
    if not ref:
        return None
    for item in store.items.values():
        if item.is_folder and not item.deleted and ref in (item.id, item.name):
            return item.id
    raise KeyError(ref)


def _mail_folder(store: GraphStore, ref: str) -> str:
    found = store.mail_folder_id(ref)
    if found:
        return found
    for folder in store.mail_folders.values():
        if folder["displayName"] == ref:
            return str(folder["id"])
    raise KeyError(ref)


def _channel(store: GraphStore, ref: str) -> tuple[str, str]:
    for (team_id, channel_id), channel in store.channels.items():
        if not ref or ref in (channel_id, channel["displayName"]):
            return team_id, channel_id
    raise KeyError(ref)


def _add(store: GraphStore, data: dict[str, Any]) -> str:
    kind, text = data.get("kind", "file"), str(data.get("text", ""))
    if kind == "file":
        parent = _folder_id(store, str(data.get("parent", "")))
        drive_id = store.items[parent].drive_id if parent else store.personal_drive_id
        return store.file_add(drive_id=drive_id, name=str(data["name"]), content=text.encode(), parent_id=parent)
    if kind == "mail":
        folder = _mail_folder(store, str(data.get("folder") or "Shared inbox"))
        return store.mail_add(folder_id=folder, subject=str(data.get("subject", "")), body=text, content_type="text")
    if kind == "thread":
        team_id, channel_id = _channel(store, str(data.get("channel", "")))
        return store.thread_add(team_id=team_id, channel_id=channel_id, body=text)
    raise ValueError(f"unknown kind {kind!r} (file, mail or thread)")


def _edit(store: GraphStore, item_id: str, data: dict[str, Any]) -> None:
    text, name = data.get("text"), data.get("name")
    if item_id in store.items and not store.items[item_id].deleted:
        if name:
            store.item_rename(item_id, str(name))
        if text is not None:
            store.file_edit(item_id, str(text).encode())
    elif item_id in store.messages and not store.messages[item_id].deleted:
        store.mail_edit(item_id, subject=str(name) if name else None, body=None if text is None else str(text))
    elif item_id in store.channel_messages and store.channel_messages[item_id].deleted_at is None:
        if text is not None:
            store.channel_message_edit(item_id, str(text))
    else:
        raise KeyError(item_id)


def _delete(store: GraphStore, item_id: str) -> None:
    if item_id in store.items and not store.items[item_id].deleted and store.items[item_id].parent_id:
        store.item_delete(item_id)
    elif item_id in store.messages and not store.messages[item_id].deleted:
        store.mail_delete(item_id)
    elif item_id in store.channel_messages and store.channel_messages[item_id].deleted_at is None:
        store.channel_message_delete(item_id)
    else:
        raise KeyError(item_id)


def dispatch(
    method: str, path: str, body: bytes, *, listing: Callable[[], list[dict[str, Any]]],
    add: Callable[[dict[str, Any]], str], edit: Callable[[str, dict[str, Any]], str | None],
    delete: Callable[[str], None],
) -> tuple[Answer, bool]:
    """One ``/_sandbox/items`` request over a provider's own list/add/edit/delete: the answer,
    and whether the store changed. A missing item (KeyError) is 404, bad input 400."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return _error(400, "the body must be JSON"), False
    if not isinstance(data, dict):
        return _error(400, "the body must be a JSON object"), False
    rest = path[len("/_sandbox/items"):].strip("/")
    try:
        if not rest and method == "GET":
            items = listing()
            return _json(200, {"items": items, "count": len(items)}), False
        if not rest and method == "POST":
            return _json(201, {"id": add(data)}), True
        if rest and method == "POST":
            return _json(200, {"id": edit(rest, data) or rest}), True
        if rest and method == "DELETE":
            delete(rest)
            return _json(200, {"id": rest, "deleted": True}), True
    except KeyError as exc:
        return _error(404, f"no such sandbox item: {exc.args[0]}"), False
    except (ValueError, TypeError) as exc:
        return _error(400, str(exc)), False
    return _error(405, "not supported"), False


def handle(store: GraphStore, method: str, path: str, body: bytes) -> tuple[Answer, bool]:
    """Answer one control request; the flag says whether the store changed."""
    return dispatch(method, path, body, listing=lambda: items_list(store), add=lambda data: _add(store, data),
                    edit=lambda item_id, data: _edit(store, item_id, data),
                    delete=lambda item_id: _delete(store, item_id))
