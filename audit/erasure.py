"""The recall audit's part of an erasure (``knowledge.erasure``). A person's erasure keeps the
rows (what was retrieved, scores, timings) but redacts what names or quotes them: the query,
caller and session of the rows of their own retrievals (and the link to their account), and
the text, name and heading of every hit from a document the erasure removes (their personal
documents and their connections' documents), and the text of their policy chunks cut out of
the policy blocks that quoted them.
A tenant's erasure deletes the tenant's rows."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from audit import models, services
from knowledge.erasure.registry import Part, Participant, Plan, Subject

REDACTED = "[erased]"
BATCH = 5000

COVERS = {
    "audit.RecallAudit": (
        "user: rows kept; the subject's queries, caller and session redacted, hits of their erased "
        "documents blanked; tenant: deleted"
    ),
}

# Rows with a hit of these documents that is not redacted yet.
_HITS_SQL = """
SELECT r.id FROM audit_recallaudit r
WHERE (%s::bigint IS NULL OR r.tenant_id = %s) AND jsonb_typeof(r.results) = 'array' AND EXISTS (
  SELECT 1 FROM jsonb_array_elements(r.results) h
  WHERE jsonb_typeof(h) = 'object' AND jsonb_typeof(h->'document_id') = 'number'
    AND (h->>'document_id')::bigint = ANY(%s) AND NOT coalesce(h->>'redacted', '') = 'true')
"""

# Rows whose policy block was built from these chunks (whether it still quotes them: ``_quotes``).
_POLICY_SQL = """
SELECT r.id, r.policy_text FROM audit_recallaudit r
WHERE (%s::bigint IS NULL OR r.tenant_id = %s) AND r.policy_text <> ''
  AND jsonb_typeof(r.policy_chunk_ids) = 'array' AND EXISTS (
  SELECT 1 FROM jsonb_array_elements_text(r.policy_chunk_ids) c WHERE c ~ '^[0-9]+$' AND c::bigint = ANY(%s))
"""


def _hits(subject: Subject, plan: Plan) -> set[int]:
    if not plan.document_ids:
        return set()
    with connection.cursor() as cur:
        cur.execute(_HITS_SQL, [subject.tenant_id, subject.tenant_id, sorted(plan.document_ids)])
        return {int(row[0]) for row in cur.fetchall()}


def _policies(subject: Subject, plan: Plan) -> dict[int, str]:
    """Rows whose policy text still quotes an erased policy chunk: id → that text."""
    if not plan.policy_texts:
        return {}
    with connection.cursor() as cur:
        cur.execute(_POLICY_SQL, [subject.tenant_id, subject.tenant_id, sorted(plan.chunk_ids)])
        return {int(pk): text for pk, text in cur.fetchall() if _quotes(text, plan)}


def _probes(plan: Plan) -> list[str]:
    """Pieces of each erased policy chunk (its first and last 40 characters)."""
    probes = []
    for chunk in plan.policy_texts:
        text = chunk.strip()
        if text:
            probes += [text[:40], text[-40:]]
    return probes


def _quotes(policy_text: str, plan: Plan) -> bool:
    return any(probe in policy_text for probe in _probes(plan))


def _cut(policy_text: str, plan: Plan) -> str:
    """The policy block without the erased chunks' text; the whole block when a piece of one
    is still in it (the block was cut in the middle of a chunk)."""
    text = policy_text
    for chunk in sorted(plan.policy_texts, key=len, reverse=True):
        if chunk.strip():
            text = text.replace(chunk, REDACTED)
    return REDACTED if _quotes(text, plan) else text


def _own_rows(subject: Subject) -> QuerySet[models.RecallAudit]:
    return models.RecallAudit.objects.filter(subject.tenants(), user_id=subject.uid)


def count(subject: Subject, plan: Plan) -> dict[str, int]:
    if subject.is_tenant:
        return {}  # knowledge counts every row of the tenant's tables
    own = set(_own_rows(subject).values_list("pk", flat=True))
    return {"audit_recallaudit": len(own | _hits(subject, plan) | set(_policies(subject, plan)))}


def erase(subject: Subject, plan: Plan) -> Part:
    if subject.is_tenant:
        deleted = 0
        rows = models.RecallAudit.objects.filter(tenant_id=subject.tid)
        while True:
            ids = list(rows.values_list("pk", flat=True)[:BATCH])
            if not ids:
                break
            deleted += models.RecallAudit.objects.filter(pk__in=ids).delete()[0]
        return Part(info={"rows_deleted": deleted})
    queries = _own_rows(subject).update(query=REDACTED, normalized_query="", session_id="", caller="", user=None)
    hits = 0
    holding = _hits(subject, plan)
    if holding:
        tenants = set(models.RecallAudit.objects.filter(pk__in=holding).values_list("tenant_id", flat=True))
        for tenant_id in sorted(tenants):
            hits += services.recall_redact_documents(tenant_id=tenant_id, document_ids=sorted(plan.document_ids))
    policies = 0
    for pk, text in _policies(subject, plan).items():
        models.RecallAudit.objects.filter(pk=pk).update(policy_text=_cut(text, plan))
        policies += 1
    return Part(info={"queries_redacted": queries, "rows_hits_redacted": hits, "policy_texts_redacted": policies})


participant = Participant(name="audit", covers=COVERS, count=count, erase=erase)
