"""Writes of documents, whatever their source: the one way a document is created or changed.

* ``document_put`` — a connection's item or a snapshot (a *virtual document* when it comes as
  text, a file when it comes as bytes), upserted on its identity ``(tenant, connection,
  source_kind, external_id)``. It computes the content hash and, in the same transaction,
  requests ingestion when the content is new or changed. Unchanged content (same hash) asks
  for nothing, whatever the revision says; a rename or a move (title, kind, scope, owner)
  updates the row and its chunks' denormalised columns and displayed title, never re-embeds.
* ``document_upload`` — a browser or API upload: the same bytes for the same tenant, scope
  and owner are the existing document (DESIGN §6). Its ``external_id`` is its own id.
* ``document_remove`` — by identity, through the one delete path (``services.document_delete``:
  chunks in the same transaction, files on commit).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction

from kbsite.errors import InvalidInput, NotFound, TooLarge, UnsupportedMedia
from knowledge import filetypes, ingestion, models, names, policy_cache

TEXT_FORMATS = {"txt": "text/plain", "md": "text/markdown"}


@dataclass
class PutResult:
    document: models.Document
    created: bool
    content_changed: bool  # new or changed content: ingestion was requested (when asked for)
    ingestion: ingestion.IngestionOutcome | None


@dataclass
class UploadResult:
    document: models.Document
    duplicate: bool
    ingestion: ingestion.IngestionOutcome | None


@dataclass
class _Content:
    sha256: str
    size: int
    file_type: str
    content_type: str
    text: str | None = None  # inline text (a virtual document)
    data: bytes | None = None  # bytes to store as the document's file


def _max_bytes() -> int:
    return int(settings.KB_MAX_UPLOAD_MB) * 1024 * 1024


def _text_content(text: str, text_format: str) -> _Content:
    if text_format not in TEXT_FORMATS:
        raise InvalidInput(f"text_format must be one of {', '.join(TEXT_FORMATS)}")
    raw = text.encode("utf-8")
    return _Content(
        sha256=hashlib.sha256(raw).hexdigest(), size=len(raw), file_type=text_format,
        content_type=TEXT_FORMATS[text_format], text=text,
    )


def _bytes_content(data: bytes, filename: str) -> _Content:
    if len(data) > _max_bytes():
        raise TooLarge(f"file is larger than the {settings.KB_MAX_UPLOAD_MB} MB upload limit")
    if not data.strip():
        raise InvalidInput("the file is empty")
    try:
        detected = filetypes.detect(data, filename)
    except filetypes.UnsupportedFile as exc:
        raise UnsupportedMedia(exc.reason) from exc
    return _Content(
        sha256=hashlib.sha256(data).hexdigest(), size=len(data), file_type=detected.file_type,
        content_type=detected.content_type, data=data,
    )


def _set_content(doc: models.Document, content: _Content) -> str:
    """Put ``content`` on the row (not saved). Returns the storage name of a file it replaced."""
    old_file = doc.file.name if doc.file else ""
    doc.content_sha256 = content.sha256
    doc.size_bytes = content.size
    doc.file_type = content.file_type
    doc.content_type = content.content_type
    if content.data is not None:
        doc.inline_text = ""
        doc.file.save(content.file_type, ContentFile(content.data), save=False)
    else:
        doc.inline_text = content.text or ""
        if doc.file:
            doc.file = ""  # type: ignore[assignment]  # the old file is deleted on commit
    return old_file


def _check_scope(*, scope: str, owner: Any, kind: str) -> None:
    if kind not in models.Kind.values:
        raise InvalidInput("kind must be 'policy' or 'knowledge'")
    if scope not in models.DocScope.values:
        raise InvalidInput("scope must be 'tenant' or 'personal'")
    if scope == models.DocScope.PERSONAL and getattr(owner, "pk", None) is None:
        raise InvalidInput("a personal document needs its owner")


# --- Connections' items and snapshots ---------------------------------------------------------


def document_put(
    *,
    tenant: models.Tenant,
    source_kind: str,
    external_id: str,
    title: str,
    connection_id: int | None = None,
    revision: str = "",
    text: str | None = None,
    text_format: str = "txt",
    data: bytes | None = None,
    filename: str = "",
    kind: str = models.Kind.KNOWLEDGE,
    scope: str = models.DocScope.TENANT,
    owner: Any = None,
    metadata: dict[str, Any] | None = None,
    parent: models.Document | None = None,
    auto_ingest: bool = True,
    trigger: str = models.Trigger.CONNECTOR,
) -> PutResult:
    """Create or update the document of one source item and request its ingestion when its
    content is new or changed, all in one transaction.

    Content comes as ``text`` (a virtual document: already neutralised where its source
    requires it) or as ``data`` (bytes stored as a file); neither means "the content is
    unchanged" (a rename or a move: the provider reported the same content hash), allowed
    only for an existing document. ``metadata`` (e.g. a link back to the item) is merged in.
    """
    if source_kind not in models.SourceKind.values or source_kind == models.SourceKind.UPLOAD:
        raise InvalidInput("source_kind must be a connection's kind or 'snapshot' (uploads: document_upload)")
    if not external_id:
        raise InvalidInput("external_id is required")
    if text is not None and data is not None:
        raise InvalidInput("give the content as text or as bytes, not both")
    _check_scope(scope=scope, owner=owner, kind=kind)
    if parent is not None and parent.tenant_id != tenant.pk:
        raise NotFound("parent document not found")
    content = (
        _text_content(text, text_format) if text is not None
        else _bytes_content(data, filename or title) if data is not None
        else None
    )
    name = names.display_title(title, fallback=f"{source_kind} item")
    owner_id = owner.pk if scope == models.DocScope.PERSONAL else None
    identity = {"tenant": tenant, "connection_id": connection_id, "source_kind": source_kind,
                "external_id": external_id}
    with transaction.atomic():
        doc = models.Document.objects.select_for_update(of=("self",)).filter(**identity).first()
        if doc is None:
            if content is None:
                raise NotFound("no document with this identity: give its content")
            try:
                with transaction.atomic():  # a savepoint: a concurrent creation may win
                    doc = models.Document(
                        **identity, name=name, kind=kind, scope=scope, owner_id=owner_id, revision=revision,
                        metadata=dict(metadata or {}), parent=parent, status=models.DocStatus.UPLOADED,
                    )
                    _set_content(doc, content)
                    doc.save()
                created = True
            except IntegrityError:
                doc = models.Document.objects.select_for_update(of=("self",)).get(**identity)
                created = False
        else:
            created = False
        changed = created
        if not created:
            changed = _update(
                doc, content=content, name=name, kind=kind, scope=scope, owner_id=owner_id,
                revision=revision, metadata=metadata, parent=parent,
            )
        outcome = ingestion.request_ingestion(document=doc, trigger=trigger) if changed and auto_ingest else None
    doc.refresh_from_db()
    return PutResult(document=doc, created=created, content_changed=changed, ingestion=outcome)


def _update(
    doc: models.Document, *, content: _Content | None, name: str, kind: str, scope: str, owner_id: int | None,
    revision: str, metadata: dict[str, Any] | None, parent: models.Document | None,
) -> bool:
    """Apply a put to the locked row. True when the content changed (ingestion is due)."""
    changed = content is not None and content.sha256 != doc.content_sha256
    old_file = ""
    if changed:
        assert content is not None
        old_file = _set_content(doc, content)
        if old_file and doc.file and doc.file.name == old_file:
            old_file = ""
    old_name, old_kind = doc.name, doc.kind
    moved = (doc.kind, doc.scope, doc.owner_id) != (kind, scope, owner_id)
    doc.name, doc.kind, doc.scope, doc.owner_id, doc.revision = name, kind, scope, owner_id, revision
    if metadata:
        doc.metadata = {**(doc.metadata or {}), **metadata}
    if parent is not None:
        doc.parent = parent
    doc.save()
    if moved:
        # The chunks' filter columns follow the document at once: no re-embedding needed.
        models.Chunk.objects.filter(tenant_id=doc.tenant_id, document_id=doc.pk).update(
            kind=kind, scope=scope, owner_id=owner_id
        )
    if old_name != name:
        _retitle_chunks(doc=doc, old_title=old_name, new_title=name)
    if models.Kind.POLICY in (old_kind, kind) and (moved or old_name != name):
        policy_cache.bump(tenant_id=doc.tenant_id)
    if old_file:
        storage = doc.file.storage
        transaction.on_commit(lambda: storage.delete(old_file))
    return changed


_RETITLE_SQL = """
UPDATE knowledge_chunk
SET metadata = jsonb_set(metadata, '{title}', to_jsonb(%s::text)),
    search_vector = setweight(to_tsvector('english', %s || ' ' || heading), 'A')
        || setweight(to_tsvector('english', text), 'B') || kb_tenant_lexeme(tenant_id)
WHERE tenant_id = %s AND document_id = %s AND metadata->>'title' = %s
"""


def _retitle_chunks(*, doc: models.Document, old_title: str, new_title: str) -> None:
    """Chunks titled with the document's old name take the new one, in their metadata and
    their search vector (computed as the store step computes it). Their embeddings stay."""
    with connection.cursor() as cur:
        cur.execute(_RETITLE_SQL, [new_title, new_title, doc.tenant_id, doc.pk, old_title])


def document_remove(
    *, tenant: models.Tenant, source_kind: str, external_id: str, connection_id: int | None = None
) -> bool:
    """Remove the document of one source item (its attachments, chunks and jobs with it, its
    files on commit). False when there is none."""
    from knowledge import services

    identity: dict[str, Any] = {"connection_id": connection_id, "source_kind": source_kind, "external_id": external_id}
    doc = models.Document.objects.filter(tenant=tenant, **identity).first()
    if doc is None:
        return False
    services.document_delete(document=doc)
    return True


# --- Uploads ------------------------------------------------------------------------------------


def _read_limited(fileobj: IO[bytes], limit: int) -> bytes:
    data = fileobj.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"file is larger than the {settings.KB_MAX_UPLOAD_MB} MB upload limit")
    return data


def document_upload(
    *,
    tenant: models.Tenant,
    fileobj: IO[bytes],
    filename: str,
    kind: str = models.Kind.KNOWLEDGE,
    scope: str = models.DocScope.TENANT,
    owner: Any = None,
    auto_ingest: bool = True,
    created_by: Any = None,
    trigger: str = models.Trigger.UPLOAD,
) -> UploadResult:
    """Validate and store an uploaded file; the same bytes for the same tenant, scope and owner
    are the existing document (and queue no new work)."""
    _check_scope(scope=scope, owner=owner, kind=kind)
    size = getattr(fileobj, "size", None)
    if size is not None and size > _max_bytes():
        raise TooLarge(f"file is larger than the {settings.KB_MAX_UPLOAD_MB} MB upload limit")
    content = _bytes_content(_read_limited(fileobj, _max_bytes()), filename)
    owner_id = owner.pk if scope == models.DocScope.PERSONAL else None
    same_bytes = {"tenant": tenant, "source_kind": models.SourceKind.UPLOAD, "scope": scope,
                  "owner_id": owner_id, "content_sha256": content.sha256}
    existing = models.Document.objects.filter(**same_bytes).first()
    if existing is not None:
        return UploadResult(document=existing, duplicate=True, ingestion=None)
    display = names.display_name(filename, fallback=f"upload.{content.file_type}")
    try:
        with transaction.atomic():
            doc = models.Document(
                tenant=tenant, name=display, kind=kind, source_kind=models.SourceKind.UPLOAD, scope=scope,
                owner_id=owner_id, status=models.DocStatus.UPLOADED,
                created_by=created_by if getattr(created_by, "pk", None) else None,
            )
            _set_content(doc, content)
            doc.save()
            doc.external_id = str(doc.pk)
            doc.save(update_fields=["external_id"])
            outcome = ingestion.request_ingestion(document=doc, trigger=trigger) if auto_ingest else None
    except IntegrityError:
        # A concurrent upload of the same bytes won the race: answer with its document.
        return UploadResult(document=models.Document.objects.get(**same_bytes), duplicate=True, ingestion=None)
    doc.refresh_from_db()
    return UploadResult(document=doc, duplicate=False, ingestion=outcome)
