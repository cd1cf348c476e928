"""The tenant admins' page of erasure receipts: read-only."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse

from kbsite import pages
from knowledge import auth
from knowledge.erasure import selectors

PER_PAGE = 25


@pages.tenant_view(roles=auth.ADMIN_ROLES)
def receipts(request: HttpRequest, kb: pages.KbContext) -> HttpResponse:
    page = Paginator(selectors.receipt_list(tenant=kb.tenant), PER_PAGE).get_page(request.GET.get("page"))
    rows = [
        {"receipt": r, "counts": [(table, n, (r.counts_after or {}).get(table)) for table, n in (r.counts_before or {}).items()]}
        for r in page.object_list
    ]
    context = {"title": "Erasure receipts", "page": page, "rows": rows}
    return pages.render_page(request, kb, "kb/erasures.html", context, section="erasure")
