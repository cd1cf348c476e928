"""The recall audit's part of an erasure (``knowledge.erasure``). A person's erasure keeps the
rows (what was retrieved, scores, timings) but redacts what names or quotes them: the query,
caller and session of the rows of their own retrievals (and the link to their account), and
the text, name and heading of every hit from a document the erasure removes (their personal
documents and their connections' documents), the policy text when it quoted one of those.
A tenant's erasure deletes the tenant's rows."""

from __future__ import annotations

from django.db import connection
from django.db.models import Q, QuerySet

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

# Rows holding a hit of these documents that is not redacted yet, or policy text quoting these chunks.
_HOLDING_SQL = """
SELECT r.id FROM audit_recallaudit r
WHERE (%s::bigint IS NULL OR r.tenant_id = %s)
  AND ((jsonb_typeof(r.results) = 'array' AND EXISTS (
          SELECT 1 FROM jsonb_array_elements(r.results) h
          WHERE jsonb_typeof(h) = 'object' AND jsonb_typeof(h->'document_id') = 'number'
            AND (h->>'document_id')::bigint = ANY(%s) AND NOT coalesce(h->>'redacted', '') = 'true'))
    OR (r.policy_text NOT IN ('', '[erased]') AND jsonb_typeof(r.policy_chunk_ids) = 'array' AND EXISTS (
          SELECT 1 FROM jsonb_array_elements_text(r.policy_chunk_ids) c
          WHERE c ~ '^[0-9]+$' AND c::bigint = ANY(%s))))
"""


def _holding(subject: Subject, plan: Plan) -> list[int]:
    if not plan.document_ids and not plan.chunk_ids:
        return []
    with connection.cursor() as cur:
        cur.execute(_HOLDING_SQL, [subject.tenant_id, subject.tenant_id,
                                   sorted(plan.document_ids), sorted(plan.chunk_ids)])
        return [int(row[0]) for row in cur.fetchall()]


def _own_rows(subject: Subject) -> QuerySet[models.RecallAudit]:
    return models.RecallAudit.objects.filter(subject.tenants(), user_id=subject.uid)


def count(subject: Subject, plan: Plan) -> dict[str, int]:
    if subject.is_tenant:
        return {}  # knowledge counts every row of the tenant's tables
    own = set(_own_rows(subject).values_list("pk", flat=True))
    return {"audit_recallaudit": len(own | set(_holding(subject, plan)))}


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
    holding = _holding(subject, plan)
    hits = 0
    policies = 0
    if holding:
        by_tenant: dict[int, list[int]] = {}
        for pk, tenant_id in models.RecallAudit.objects.filter(pk__in=holding).values_list("pk", "tenant_id"):
            by_tenant.setdefault(tenant_id, []).append(pk)
        for tenant_id in sorted(by_tenant):
            hits += services.recall_redact_documents(tenant_id=tenant_id, document_ids=sorted(plan.document_ids))
        quoted = Q(pk__in=holding) & ~Q(policy_text="")
        for row in models.RecallAudit.objects.filter(quoted).only("pk", "policy_chunk_ids"):
            quoted_ids = {int(c) for c in (row.policy_chunk_ids or []) if str(c).isdigit()}
            if quoted_ids & plan.chunk_ids:
                models.RecallAudit.objects.filter(pk=row.pk).update(policy_text=REDACTED)
                policies += 1
    return Part(info={"queries_redacted": queries, "rows_hits_redacted": hits, "policy_texts_redacted": policies})


participant = Participant(name="audit", covers=COVERS, count=count, erase=erase)
