"""Recall audit browser for support staff and admins: read-only, tenant-scoped."""

from __future__ import annotations

import json
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse

from audit import forms, selectors
from kbsite import pages
from knowledge import auth, retrieval

AUDITS_PER_PAGE = 25
# Older rows may lack some keys; the templates see every key, None when unknown.
HIT_DEFAULTS: dict[str, Any] = dict.fromkeys(retrieval.Hit.model_fields)


@pages.tenant_view(action=auth.Action.READ_AUDIT)
def recall_list(request: HttpRequest, kb: pages.KbContext) -> HttpResponse:
    filters = forms.AuditFilterForm(request.GET or None)
    cleaned: dict[str, Any] = filters.cleaned_data if filters.is_valid() else {}
    qs = selectors.recall_list(
        tenant=kb.tenant,
        date_from=cleaned.get("date_from"),  # dates are inclusive, whole days
        date_to=cleaned.get("date_to"),
        text=cleaned.get("q") or None,
        session=cleaned.get("session") or None,
    )
    page = Paginator(qs, AUDITS_PER_PAGE).get_page(request.GET.get("page"))
    rows = []
    for recall in selectors.for_reader(tenant=kb.tenant, user=request.user, recalls=page.object_list):
        scores = [float(r["score"]) for r in recall.results if isinstance(r.get("score"), int | float)]
        rows.append({
            "recall": recall,
            "hits": len(recall.results),
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
    return pages.render_page(request, kb, "audit/recall_list.html", context, section="audit")


@pages.tenant_view(action=auth.Action.READ_AUDIT)
def recall_detail(request: HttpRequest, kb: pages.KbContext, pk: int) -> HttpResponse:
    # What this reader may see of the returned chunks (another user's personal document is
    # withheld); links only to documents they may open, deleted ones shown as such.
    recall = selectors.recall_get_for_reader(tenant=kb.tenant, user=request.user, recall_id=pk)
    hits = [{**HIT_DEFAULTS, **hit, "rank": i, "withheld_label": selectors.document_label(hit) if hit["withheld"] else ""}
            for i, hit in enumerate(recall.results, start=1)]
    context = {
        "title": f"Recall {recall.pk}",
        "recall": recall,
        "hits": hits,
        "flags": sorted((recall.flags or {}).items()) if isinstance(recall.flags, dict) else [],
        "legs": [leg if isinstance(leg, str) else json.dumps(leg, default=str) for leg in (recall.legs or [])],
        "timings": list((recall.timings_ms or {}).items()) if isinstance(recall.timings_ms, dict) else [],
    }
    return pages.render_page(request, kb, "audit/recall_detail.html", context, section="audit")
