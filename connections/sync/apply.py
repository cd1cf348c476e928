"""The apply layer: the ONLY place the sync engine writes knowledge documents.

Two steps per page, so a provider download never runs inside a database transaction:

* ``resolve`` (outside a transaction) reads the page's documents in one query and decides
  per change: unchanged revision → nothing fetched (a new title or link alone is a
  ``touch``); otherwise the item is fetched, and the same content hash → nothing embedded
  (``touch`` with the new revision); new content → ``write``; a deletion → ``remove``. An
  item that cannot be read is recorded on the tally and skipped.
* ``commit`` (inside the page's transaction, next to the cursor) writes what ``resolve``
  decided, through knowledge's one way in (``knowledge.documents.document_put`` /
  ``document_remove``; removals by the one delete path).

An item's content may list its children (a mail's attachments, ``Content.children``): they
are resolved with it by the same rules and land as child documents (``Document.parent``),
removed with their parent; a child the item no longer lists is removed. Sweeps and
unselected-source removals take top-level documents only (children go with them).

Documents of a connection are identified by ``(tenant, connection, source_kind,
external_id)``; their ``metadata`` keeps the selected source (``source``), the item's
container (``parent_id``) and a link back (``url``), so a source taken out of the selection
is removed like a deletion.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from connections import models
from connections.providers import errors
from connections.sync.changes import Change, Content, Remove, RemoveWithin, Upsert, last_occurrences
from kbsite.errors import InvalidInput, TooLarge, UnsupportedMedia
from knowledge import documents, filetypes, names, services
from knowledge import models as kb
from knowledge import purge as purge_service

# Errors that are the run's, not one item's: they propagate out of ``resolve``.
RUN_ERRORS = (errors.Throttled, errors.AuthRefused, errors.CursorExpired)


@dataclass(frozen=True)
class Target:
    """Where a source's items land: its tenant, connection, share target and kind."""

    connection: models.Connection
    source: models.ConnectionSource

    @property
    def tenant_id(self) -> int:
        return self.connection.tenant_id

    @property
    def scope(self) -> str:
        return kb.DocScope.TENANT if self.source.share == models.Share.TENANT else kb.DocScope.PERSONAL

    @property
    def owner_id(self) -> int | None:
        return None if self.scope == kb.DocScope.TENANT else self.connection.owner_id


@dataclass
class Tally:
    """What a run did: counts, per-item errors, and how many new items the quota allows."""

    counts: dict[str, int] = field(default_factory=models.empty_counts)
    item_errors: list[dict[str, str]] = field(default_factory=list)
    items_left: int = 0
    seen: set[tuple[int, str, str]] = field(default_factory=set)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def fail(self, *, target: Target, item: str, title: str, error: str) -> None:
        """One failed item, counted once per run however often it is retried in the run (the
        newest error is the one kept)."""
        for recorded in self.item_errors:
            if recorded["item"] == item and recorded["source"] == (target.source.label or target.source.root_id):
                recorded.update(title=title[:200], error=error[:500])
                return
        self.add("failed")
        if len(self.item_errors) < models.MAX_ITEM_ERRORS:
            self.item_errors.append({
                "source": target.source.label or target.source.root_id, "item": item,
                "title": title[:200], "error": error[:500],
            })


@dataclass
class Op:
    action: str  # "write" | "touch" | "remove" | "unchanged"
    change: Change
    document_id: int | None = None
    content: Content | None = None
    sha256: str = ""
    file_type: str = ""
    children: list[Op] = field(default_factory=list)  # a fetched item's child items (attachments)


# --- reads ------------------------------------------------------------------------------------


def connection_documents(*, connection: models.Connection) -> QuerySet[kb.Document]:
    """Every document the connection holds (attachments included)."""
    return kb.Document.objects.filter(tenant_id=connection.tenant_id, connection_id=connection.pk)


def source_documents(*, target: Target) -> QuerySet[kb.Document]:
    return connection_documents(connection=target.connection).filter(metadata__source=target.source.pk)


def items_left(*, connection: models.Connection) -> int:
    return max(settings.KB_CONNECTION_MAX_ITEMS - connection_documents(connection=connection).count(), 0)


# --- resolve (no transaction) -----------------------------------------------------------------


def resolve(*, target: Target, changes: list[Change], tally: Tally) -> list[Op]:
    changes = last_occurrences(changes)
    existing: dict[tuple[str, str], kb.Document] = {}
    ids = {c.external_id for c in changes if not isinstance(c, RemoveWithin)}
    if ids:
        for row in connection_documents(connection=target.connection).filter(external_id__in=ids).only(
            "pk", "source_kind", "external_id", "revision", "name", "content_sha256", "metadata"
        ):
            existing[(row.source_kind, row.external_id)] = row
    ops: list[Op] = []
    for change in changes:
        if isinstance(change, RemoveWithin):
            for row in source_documents(target=target).filter(metadata__parent_id__in=change.container_ids).only(
                "pk", "source_kind", "external_id"
            ):
                ops.append(Op("remove", Remove(row.external_id, row.source_kind), document_id=row.pk))
            continue
        doc = existing.get((change.source_kind, change.external_id))
        if isinstance(change, Remove):
            if doc is not None:
                ops.append(Op("remove", change, document_id=doc.pk))
            continue
        key = (target.source.pk, change.source_kind, change.external_id)
        first_time = key not in tally.seen
        tally.seen.add(key)
        if first_time:
            tally.add("seen")
        op = _resolve_upsert(target=target, change=change, doc=doc, tally=tally)
        if op is not None:
            ops.append(op)
    return ops


def _resolve_upsert(*, target: Target, change: Upsert, doc: kb.Document | None, tally: Tally) -> Op | None:
    meta_same = doc is not None and (doc.metadata or {}).get("source") == target.source.pk and (
        (doc.metadata or {}).get("url", "") == change.url and (doc.metadata or {}).get("parent_id", "") == change.parent_id
    )
    if doc is not None and doc.revision == change.revision:
        same = doc.name == _title(change) and meta_same
        return Op("unchanged" if same else "touch", change, document_id=doc.pk)
    if doc is None and tally.items_left <= 0:
        tally.fail(target=target, item=change.external_id, title=change.title,
                   error=f"the connection's item limit ({settings.KB_CONNECTION_MAX_ITEMS}) is reached")
        return None
    try:
        content = change.fetch()
        data = _bytes(content)
        file_type = _file_type(content, data)
    except RUN_ERRORS:
        raise
    except errors.ProviderError as exc:
        tally.fail(target=target, item=change.external_id, title=change.title, error=str(exc))
        return None
    except filetypes.UnsupportedFile as exc:
        tally.fail(target=target, item=change.external_id, title=change.title, error=exc.reason)
        return None
    if not data.strip():
        # Nothing left to serve (an empty file, a thread whose every post was deleted).
        return Op("remove", Remove(change.external_id, change.source_kind), document_id=doc.pk) if doc else None
    sha = hashlib.sha256(data).hexdigest()
    if doc is None:
        tally.items_left -= 1
    children = [] if content.children is None else _resolve_children(
        target=target, parent=doc, children=content.children, tally=tally)
    if doc is not None and doc.content_sha256 == sha:
        return Op("touch", change, document_id=doc.pk, children=children)
    return Op("write", change, document_id=doc.pk if doc else None, content=content, sha256=sha, file_type=file_type,
              children=children)


def _resolve_children(*, target: Target, parent: kb.Document | None, children: tuple[Upsert, ...],
                      tally: Tally) -> list[Op]:
    """The complete child list of a fetched item: each child by the upsert rules; existing
    children no longer listed are removed."""
    listed = [c for c in last_occurrences(list(children)) if isinstance(c, Upsert)]
    ids = {c.external_id for c in listed}
    ops: list[Op] = []
    if parent is not None:
        for row in connection_documents(connection=target.connection).filter(parent_id=parent.pk).exclude(
            external_id__in=ids
        ).only("pk", "source_kind", "external_id"):
            ops.append(Op("remove", Remove(row.external_id, row.source_kind), document_id=row.pk))
    existing: dict[tuple[str, str], kb.Document] = {}
    if ids:
        for row in connection_documents(connection=target.connection).filter(external_id__in=ids).only(
            "pk", "source_kind", "external_id", "revision", "name", "content_sha256", "metadata"
        ):
            existing[(row.source_kind, row.external_id)] = row
    for child in listed:
        key = (target.source.pk, child.source_kind, child.external_id)
        if key not in tally.seen:
            tally.seen.add(key)
            tally.add("seen")
        op = _resolve_upsert(target=target, change=child, doc=existing.get((child.source_kind, child.external_id)),
                             tally=tally)
        if op is not None:
            ops.append(op)
    return ops


def _bytes(content: Content) -> bytes:
    if content.data is not None:
        limit = settings.KB_MAX_UPLOAD_MB * 1024 * 1024
        if len(content.data) > limit:
            raise errors.ItemTooLarge(f"larger than the {settings.KB_MAX_UPLOAD_MB} MB upload limit", code="too_large")
        return content.data
    return (content.text or "").encode("utf-8")


def _file_type(content: Content, data: bytes) -> str:
    if content.data is None:
        return "txt"
    return filetypes.detect(data, content.filename).file_type


def _title(change: Upsert) -> str:
    return names.display_title(change.title, fallback=f"{change.source_kind} item")


# --- commit (inside the page's transaction) ----------------------------------------------------


def commit(*, target: Target, ops: list[Op], tally: Tally, parent: kb.Document | None = None) -> None:
    for op in ops:
        doc: kb.Document | None = None
        if op.action == "remove":
            if _remove(target=target, document_id=op.document_id):
                tally.add("deleted")
        elif op.action == "unchanged":
            tally.add("unchanged")
        elif op.action == "touch":
            assert isinstance(op.change, Upsert)
            doc = _put(target=target, change=op.change, content=None, parent=parent)
            tally.add("unchanged")
        elif op.action == "write":
            assert isinstance(op.change, Upsert)
            try:
                with transaction.atomic():  # a savepoint: one refused item leaves the page intact
                    doc = _put(target=target, change=op.change, content=op.content, parent=parent)
            except (InvalidInput, TooLarge, UnsupportedMedia) as exc:
                tally.fail(target=target, item=op.change.external_id, title=op.change.title, error=str(exc))
                continue
            tally.add("updated" if op.document_id else "created")
        if op.children and doc is not None:
            commit(target=target, ops=op.children, tally=tally, parent=doc)


def _metadata(target: Target, change: Upsert) -> dict[str, Any]:
    return {"source": target.source.pk, "provider": target.connection.provider, "url": change.url,
            "parent_id": change.parent_id}


def _put(*, target: Target, change: Upsert, content: Content | None, parent: kb.Document | None = None) -> kb.Document:
    """Through knowledge's one way in for a source's item (no content: same content, new
    title/revision/link — the row and its chunks' titles change, nothing is embedded);
    ``parent``: the item is a child document of it (an attachment of a mail)."""
    scope = target.scope
    return documents.document_put(
        tenant=target.connection.tenant, connection_id=target.connection.pk, source_kind=change.source_kind,
        external_id=change.external_id, title=_title(change), revision=change.revision,
        text=content.text if content is not None and content.data is None else None,
        data=content.data if content is not None else None,
        filename=(content.filename or change.title) if content is not None else "",
        kind=target.source.kind, scope=scope,
        owner=target.connection.owner if scope == kb.DocScope.PERSONAL else None,
        metadata=_metadata(target, change), parent=parent,
    ).document


def _remove(*, target: Target, document_id: int | None) -> bool:
    if document_id is None:
        return False
    doc = connection_documents(connection=target.connection).filter(pk=document_id).only(
        "source_kind", "external_id").first()
    if doc is None:
        return False
    return documents.document_remove(tenant=target.connection.tenant, connection_id=target.connection.pk,
                                     source_kind=doc.source_kind, external_id=doc.external_id)


# --- sweeps and purges ---------------------------------------------------------------------------


def sweep(*, target: Target, seen: set[str], tally: Tally) -> None:
    """After a COMPLETE enumeration: remove the source's documents it did not see."""
    for doc in source_documents(target=target).filter(parent__isnull=True).exclude(external_id__in=seen).only("pk"):
        if _remove(target=target, document_id=doc.pk):
            tally.add("deleted")


def remove_unselected(*, connection: models.Connection, source_ids: list[int], tally: Tally) -> None:
    """Documents of sources taken out of the selection leave like deletions."""
    for doc in connection_documents(connection=connection).filter(parent__isnull=True).exclude(
        metadata__source__in=source_ids
    ):
        services.document_delete(document=doc)
        tally.add("deleted")


def purge(*, connection: models.Connection) -> dict[str, Any]:
    """Every document of the connection, its chunks and files, in one transaction (files on
    commit, personal content's audit text redacted): the counts for the receipt."""
    receipt = purge_service.documents_purge(
        tenant=connection.tenant_id, documents=connection_documents(connection=connection),
        reason=f"connection {connection.pk} revoked",
    )
    counts = receipt.as_dict()
    counts.pop("finished_at", None)
    return counts
