"""Erasure API (DESIGN §10): /api/v1/erasure… A tenant admin, in a browser session (never an
API key), erases a member of their tenant from it; anyone else's id or name → 404."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from knowledge import auth, models
from knowledge.erasure import schemas, selectors, services, subjects

router = Router(tags=["Erasure"])

# Session only (scope None: no API key may), tenant admins only.
admin_auth = auth.TenantAuth(scope=None, roles=auth.ADMIN_ROLES)


@router.post("", response={202: schemas.ReceiptOut}, auth=admin_auth)
def erasure_create(request: HttpRequest, payload: schemas.ErasureIn) -> Status:
    """Erase a member from this tenant: their personal documents, their connections' content and
    tokens, their recall audit queries and returned text; their membership ends. 202 with the
    receipt; follow it at ``GET /api/v1/erasure/{id}``."""
    p = auth.principal(request)
    user = subjects.user_find(identifier=payload.user, tenant=p.tenant)
    receipt = services.erasure_queue(
        scope=models.ErasureScope.USER_IN_TENANT, user=user, tenant=p.tenant, requested_by=p.user,
        via=models.ErasureVia.API, dry_run=payload.dry_run,
    )
    return Status(202, receipt)


@router.get("/{receipt_id}", response=schemas.ReceiptOut, auth=admin_auth)
def erasure_get(request: HttpRequest, receipt_id: int) -> models.ErasureReceipt:
    return selectors.receipt_get(tenant=auth.principal(request).tenant, receipt_id=receipt_id)
