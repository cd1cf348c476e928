"""Test data built through the services — never hand-made rows that skip invariants (hashes,
identities, jobs). Uploads: ``services.document_upload`` or the ``ingest_text`` fixture."""

from __future__ import annotations

import itertools
from typing import Any

from knowledge import documents, models

_ids = itertools.count(1)


def virtual_document(
    *,
    tenant: models.Tenant,
    text: str,
    title: str = "Message",
    source_kind: str = models.SourceKind.GMAIL,
    external_id: str | None = None,
    scope: str = models.DocScope.TENANT,
    owner: Any = None,
    kind: str = models.Kind.KNOWLEDGE,
    connection_id: int | None = None,
    revision: str = "",
    auto_ingest: bool = True,
    **extra: Any,
) -> models.Document:
    """A virtual document (a mail, a thread, a task) as a connector stores it; ingestion is
    requested (run it with the ``run_jobs`` fixture) unless ``auto_ingest`` is False."""
    return documents.document_put(
        tenant=tenant, source_kind=source_kind, external_id=external_id or f"item-{next(_ids)}", title=title,
        text=text, scope=scope, owner=owner, kind=kind, connection_id=connection_id, revision=revision,
        auto_ingest=auto_ingest, **extra,
    ).document
