"""Writes of recall audit rows: one INSERT per retrieval call, and the retention purge."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from audit import models

if TYPE_CHECKING:
    from knowledge.models import ApiKey
    from knowledge.retrieval import RetrievalResult

logger = logging.getLogger(__name__)

PURGE_BATCH = 5000


_INSERT_SQL = """\
INSERT INTO audit_recallaudit (
  id, tenant_id, created_at, source, is_test, query, normalized_query, session_id, caller, top_k,
  retrieval_enabled, flags, embedding_model, legs, results, policy_chunk_ids, policy_text,
  policy_truncated, timings_ms, api_key_id, user_id
) VALUES (
  COALESCE(%s, nextval(pg_get_serial_sequence('audit_recallaudit', 'id'))), %s, %s, %s, %s, %s, %s, %s, %s, %s,
  %s, %s::jsonb, %s, %s::jsonb, %s::jsonb, %s::jsonb, %s,
  %s, %s::jsonb, %s, %s
) RETURNING id
"""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def recall_record(
    *,
    result: RetrievalResult,
    source: str,
    session_id: str = "",
    caller: str = "",
    api_key: ApiKey | None = None,
    user_id: int | None = None,
    is_test: bool = False,
    recall_id: int | None = None,
) -> int:
    """Record what one retrieval call was asked and returned, as it was at that moment.

    One INSERT, one round trip (the caller is waiting). Written in SQL rather than through
    ``objects.create``: on the benchmark machine the ORM's query compilation cost ~2 ms of
    a 10 ms budget. Everything is denormalised into the row, so the audit still shows the
    text that was returned after the documents change or go. ``recall_id`` is an id taken
    earlier with ``recall_reserve_id`` (the API answers first and writes the row after).
    """
    params = [
        recall_id, result.tenant.pk, timezone.now(),
        source if source in models.RecallSource.values else models.RecallSource.API,
        is_test, result.query, result.normalized_query, (session_id or "")[:200], (caller or "")[:200],
        result.top_k, result.retrieval_enabled, _json(result.flags), result.embedding_model,
        _json(list(result.legs)), _json([hit.as_audit() for hit in result.knowledge]),
        _json(list(result.policy.chunk_ids)), result.policy.text, result.policy.truncated,
        _json(dict(result.timings_ms)), api_key.pk if api_key is not None else None, user_id,
    ]
    with connection.cursor() as cur:
        cur.execute(_INSERT_SQL, params)
        row = cur.fetchone()
    return int(row[0])


_ID_BLOCK = 64
_reserved_ids: list[int] = []
_reserved_pid = [0]
_reserved_lock = threading.Lock()


def recall_reserve_id() -> int:
    """Take the id of a recall audit row that will be written later.

    Ids come from the table's sequence in blocks of ``_ID_BLOCK`` kept in-process, so
    most calls cost no round trip (ids stay unique across processes; gaps are harmless).
    """
    with _reserved_lock:
        if _reserved_pid[0] != os.getpid():  # a forked child must not reuse its parent's block
            _reserved_ids.clear()
            _reserved_pid[0] = os.getpid()
        if not _reserved_ids:
            with connection.cursor() as cur:
                cur.execute(
                    "SELECT nextval(pg_get_serial_sequence('audit_recallaudit', 'id')) "
                    "FROM generate_series(1, %s)",
                    [_ID_BLOCK],
                )
                _reserved_ids.extend(sorted((int(row[0]) for row in cur.fetchall()), reverse=True))
        return _reserved_ids.pop()


def recall_purge(
    *, older_than_days: int | None = None, now: dt.datetime | None = None, batch: int = PURGE_BATCH
) -> int:
    """Delete recall audits older than the retention period (KB_AUDIT_RETENTION_DAYS), in
    batches so a large backlog never holds one long lock. Returns the number deleted."""
    days = int(older_than_days if older_than_days is not None else settings.KB_AUDIT_RETENTION_DAYS)
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    total = 0
    while True:
        ids = list(
            models.RecallAudit.objects.filter(created_at__lt=cutoff)
            .order_by("created_at")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        deleted, _ = models.RecallAudit.objects.filter(pk__in=ids).delete()
        total += deleted
        if len(ids) < batch:
            break
    if total:
        logger.info("purged %s recall audits older than %s days", total, days)
    return total


# Redaction of purged personal content (knowledge.signals.documents_purged).

_REDACTED_BLANKS: dict[str, Any] = {"document_name": "", "text": "", "heading": "", "page": None}

_ROWS_WITH_DOCUMENTS_SQL = """
SELECT id FROM audit_recallaudit r
WHERE r.tenant_id = %s AND jsonb_typeof(r.results) = 'array'
  AND EXISTS (SELECT 1 FROM jsonb_array_elements(r.results) h
              WHERE jsonb_typeof(h) = 'object' AND h ? 'document_id'
                AND jsonb_typeof(h->'document_id') = 'number' AND (h->>'document_id')::bigint = ANY(%s))
ORDER BY id
"""


def recall_redact_documents(*, tenant_id: int, document_ids: list[int]) -> int:
    """Blank the text, name, heading and page of these documents' hits in the tenant's recall
    audit rows; the rows stay (what was asked, scores, ranks) and each such hit says
    ``redacted``. Returns how many rows changed."""
    if not document_ids:
        return 0
    wanted = set(document_ids)
    with connection.cursor() as cur:
        cur.execute(_ROWS_WITH_DOCUMENTS_SQL, [tenant_id, list(wanted)])
        ids = [int(row[0]) for row in cur.fetchall()]
    changed = 0
    for start in range(0, len(ids), 500):
        batch = models.RecallAudit.objects.select_for_update().filter(pk__in=ids[start : start + 500])
        for row in batch.only("pk", "results"):
            results = [
                {**hit, **_REDACTED_BLANKS, "redacted": True}
                if isinstance(hit, dict) and hit.get("document_id") in wanted else hit
                for hit in (row.results or [])
            ]
            models.RecallAudit.objects.filter(pk=row.pk).update(results=results)
            changed += 1
    if changed:
        logger.info("redacted purged personal documents in %s recall audit rows", changed)
    return changed


def on_documents_purged(sender: Any, *, tenant_id: int, document_ids: list[int],
                        personal_document_ids: list[int], **kwargs: Any) -> int:
    """Receiver of ``knowledge.signals.documents_purged``: redact removed personal content."""
    return recall_redact_documents(tenant_id=tenant_id, document_ids=personal_document_ids)
