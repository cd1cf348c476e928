"""The Google sandbox's control endpoints (``/_sandbox/…``, loopback only), the same shape as
the Microsoft sandbox's (control.py), so ``manage.py kb_sandbox --url <google sandbox>``
drives them too. They call the store's mutation API, so every change lands in Drive's
changes feed and Gmail's history exactly as a change at Google would.

* ``GET /_sandbox/items`` → ``{"items": [{id, kind, name, where}], "count"}`` (kind:
  ``folder``, ``file``, ``doc``, ``mail``; live items only).
* ``POST /_sandbox/items`` with ``{"kind": "file"|"doc", "name", "text", "parent"?}`` (a
  folder id or name, default My Drive) or ``{"kind": "mail", "subject", "text", "label"?}``
  (a label id or name, default ``Front desk``; ``folder`` is read as the label, as
  ``kb_sandbox add --kind mail --parent`` sends it) → 201 ``{id}``.
* ``POST /_sandbox/items/{id}`` with ``{"text"?, "name"?}`` → edited (a mail is replaced by a
  new message, as Gmail messages are immutable: the answer names the new id).
* ``DELETE /_sandbox/items/{id}`` → a file or folder to the bin, a mail deleted for good.
"""

from __future__ import annotations

from typing import Any

from connections.sandbox.control import Answer, dispatch
from connections.sandbox.google_store import GoogleStore


def items_list(store: GoogleStore) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for file in store.files.values():
        if file.deleted or file.trashed or file.id == store.root_id:
            continue
        parent = file.parents[0] if file.parents else ""
        where = (store.shared_drives.get(parent, {}).get("name") or
                 ("My Drive" if parent == store.root_id else store.files[parent].name if parent in store.files else ""))
        kind = "folder" if file.is_folder else "doc" if file.is_native else "file"
        out.append({"id": file.id, "kind": kind, "name": file.name, "where": where})
    for mail in store.mails.values():
        labels = ", ".join(sorted(store.labels[x]["name"] for x in mail.labels if x in store.labels))
        out.append({"id": mail.id, "kind": "mail", "name": mail.subject, "where": labels})
    return out


def _folder(store: GoogleStore, ref: str) -> str | None:
    if not ref:
        return None
    if ref in store.shared_drives:
        return ref
    for file in store.files.values():
        if file.is_folder and not file.deleted and not file.trashed and ref in (file.id, file.name):
            return file.id
    raise KeyError(ref)


def _label(store: GoogleStore, ref: str) -> str:
    for label in store.labels.values():
        if ref in (label["id"], label["name"]):
            return label["id"]
    raise KeyError(ref)


def _add(store: GoogleStore, data: dict[str, Any]) -> str:
    kind, text = data.get("kind", "file"), str(data.get("text", ""))
    if kind in ("file", "doc"):
        parent = _folder(store, str(data.get("parent", "")))
        if kind == "doc":
            return store.doc_add(name=str(data["name"]), text=text, parent_id=parent)
        return store.file_add(name=str(data["name"]), content=text.encode(), parent_id=parent)
    if kind == "mail":
        label = _label(store, str(data.get("label") or data.get("folder") or "Front desk"))
        return store.mail_add(labels=["INBOX", label] if label != "INBOX" else ["INBOX"],
                              subject=str(data.get("subject") or data.get("name") or ""), body=text)
    raise ValueError(f"unknown kind {kind!r} (file, doc or mail)")


def _edit(store: GoogleStore, item_id: str, data: dict[str, Any]) -> str:
    text, name = data.get("text"), data.get("name")
    file = store.files.get(item_id)
    if file is not None and not file.deleted and not file.trashed and item_id != store.root_id:
        if name:
            store.rename(item_id, str(name))
        if text is not None:
            store.file_edit(item_id, str(text).encode())
        return item_id
    if item_id in store.mails:
        before = set(store.mails)
        store.mail_edit(item_id, subject=str(name) if name else None, body=None if text is None else str(text))
        return next(iter(set(store.mails) - before), item_id)
    raise KeyError(item_id)


def _delete(store: GoogleStore, item_id: str) -> None:
    file = store.files.get(item_id)
    if file is not None and not file.deleted and not file.trashed and item_id != store.root_id:
        store.trash(item_id)
    elif item_id in store.mails:
        store.mail_delete(item_id)
    else:
        raise KeyError(item_id)


def handle(store: GoogleStore, method: str, path: str, body: bytes) -> tuple[Answer, bool]:
    """Answer one control request; the flag says whether the store changed."""
    return dispatch(method, path, body, listing=lambda: items_list(store), add=lambda data: _add(store, data),
                    edit=lambda item_id, data: _edit(store, item_id, data),
                    delete=lambda item_id: _delete(store, item_id))
