"""Reads of erasure receipts, always for one tenant (operators see them all in the admin)."""

from __future__ import annotations

from django.db.models import QuerySet

from kbsite.errors import NotFound
from knowledge import models


def receipt_list(*, tenant: models.Tenant) -> QuerySet[models.ErasureReceipt]:
    return models.ErasureReceipt.objects.filter(tenant=tenant).select_related("requested_by")


def receipt_get(*, tenant: models.Tenant, receipt_id: int) -> models.ErasureReceipt:
    found = receipt_list(tenant=tenant).filter(pk=receipt_id).first()
    if found is None:
        raise NotFound("erasure receipt not found")
    return found
