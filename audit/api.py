"""Recall audit API (support staff): /api/v1/audit/recalls. Thin: auth, then a selector."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router

from audit import schemas, selectors
from kbsite.pagination import paginate
from knowledge import auth

router = Router(tags=["Recall audit"])

support_auth = auth.TenantAuth(action=auth.Action.READ_AUDIT)


@router.get("/recalls", response=schemas.RecallPage, auth=support_auth)
def list_recalls(request: HttpRequest, filters: Query[schemas.RecallFilters]) -> dict:
    qs = selectors.recall_list(
        tenant=auth.principal(request).tenant, date_from=filters.date_from, date_to=filters.date_to,
        text=filters.q, session=filters.session_id, source=filters.source,
    )
    return selectors.page_for_reader(page=paginate(qs, filters), principal=auth.principal(request))


@router.get("/recalls/{recall_id}", response=schemas.RecallOut, auth=support_auth)
def get_recall(request: HttpRequest, recall_id: int) -> selectors.ReaderRecall:
    principal = auth.principal(request)
    return selectors.recall_get_for_reader(tenant=principal.tenant, user=principal.user, recall_id=recall_id)
