"""Writes of recall audit rows: one INSERT per retrieval call, and the retention purge."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from audit import models

if TYPE_CHECKING:
    from knowledge.models import ApiKey
    from knowledge.retrieval import RetrievalResult

logger = logging.getLogger(__name__)

PURGE_BATCH = 5000


def recall_record(
    *,
    result: RetrievalResult,
    source: str,
    session_id: str = "",
    caller: str = "",
    api_key: ApiKey | None = None,
    user_id: int | None = None,
    is_test: bool = False,
) -> int:
    """Record what one retrieval call was asked and returned, as it was at that moment.

    A single INSERT (the caller is waiting): everything is denormalised into the row, so
    the audit still shows the text that was returned after the documents change or go.
    """
    row = models.RecallAudit.objects.create(
        tenant_id=result.tenant.pk,
        source=source if source in models.RecallSource.values else models.RecallSource.API,
        is_test=is_test,
        query=result.query,
        normalized_query=result.normalized_query,
        session_id=(session_id or "")[:200],
        caller=(caller or "")[:200],
        top_k=result.top_k,
        retrieval_enabled=result.retrieval_enabled,
        flags=result.flags,
        embedding_model=result.embedding_model,
        legs=list(result.legs),
        results=[hit.as_audit() for hit in result.knowledge],
        policy_chunk_ids=list(result.policy.chunk_ids),
        policy_text=result.policy.text,
        policy_truncated=result.policy.truncated,
        timings_ms=dict(result.timings_ms),
        api_key_id=api_key.pk if api_key is not None else None,
        user_id=user_id,
    )
    return int(row.pk)


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
