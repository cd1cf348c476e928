"""Recall audit browser for support staff and admins: read-only, tenant-scoped."""

from __future__ import annotations

import json
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse

from audit import selectors as audit_selectors
from knowledge import auth, forms, retrieval, selectors
from knowledge import views as kb_views

AUDITS_PER_PAGE = 25
# Older rows may lack some keys; the templates see every key, None when unknown.
HIT_DEFAULTS: dict[str, Any] = dict.fromkeys(retrieval.Hit.model_fields)


@kb_views.tenant_view(roles=auth.SUPPORT_ROLES)
def recall_list(request: HttpRequest, kb: kb_views.KbContext) -> HttpResponse:
    filters = forms.AuditFilterForm(request.GET or None)
    cleaned: dict[str, Any] = filters.cleaned_data if filters.is_valid() else {}
    qs = audit_selectors.recall_list(
        tenant=kb.tenant,
        date_from=cleaned.get("date_from"),  # dates are inclusive, whole days
        date_to=cleaned.get("date_to"),
        text=cleaned.get("q") or None,
        session=cleaned.get("session") or None,
    )
    page = Paginator(qs, AUDITS_PER_PAGE).get_page(request.GET.get("page"))
    rows = []
    for recall in page.object_list:
        results = recall.results or []
        scores = [float(r["score"]) for r in results if isinstance(r, dict) and isinstance(r.get("score"), int | float)]
        rows.append({
            "recall": recall,
            "hits": len(results),
            "top_score": max(scores) if scores else None,
            "total_ms": (recall.timings_ms or {}).get("total"),
        })
    context = {
        "title": "Recall audit",
        "filters": filters,
        "filtered": any(cleaned.values()),
        "page": page,
        "rows": rows,
    }
    return kb_views.render_page(request, kb, "audit/recall_list.html", context, section="audit")


@kb_views.tenant_view(roles=auth.SUPPORT_ROLES)
def recall_detail(request: HttpRequest, kb: kb_views.KbContext, pk: int) -> HttpResponse:
    recall = audit_selectors.recall_get(tenant=kb.tenant, recall_id=pk)
    results = [r for r in (recall.results or []) if isinstance(r, dict)]
    doc_ids: set[int] = {r["document_id"] for r in results if isinstance(r.get("document_id"), int)}
    # Documents deleted since the call are shown as such; links only to ones the viewer may
    # open (another member's personal document still exists, but is not theirs to open).
    present = selectors.document_presence(tenant=kb.tenant, user=request.user, document_ids=doc_ids)
    hits = [{**HIT_DEFAULTS, **r, "rank": i, "document_exists": r.get("document_id") in present,
             "document_visible": bool(present.get(r.get("document_id")))}  # type: ignore[arg-type]
            for i, r in enumerate(results, start=1)]
    context = {
        "title": f"Recall {recall.pk}",
        "recall": recall,
        "hits": hits,
        "flags": sorted((recall.flags or {}).items()) if isinstance(recall.flags, dict) else [],
        "legs": [leg if isinstance(leg, str) else json.dumps(leg, default=str) for leg in (recall.legs or [])],
        "timings": list((recall.timings_ms or {}).items()) if isinstance(recall.timings_ms, dict) else [],
    }
    return kb_views.render_page(request, kb, "audit/recall_detail.html", context, section="audit")
