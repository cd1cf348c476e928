"""Erasure receipts in the Django admin, for operators: read-only (a receipt is proof)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from knowledge import models


@admin.register(models.ErasureReceipt)
class ErasureReceiptAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "scope", "tenant", "dry_run", "status", "files_deleted",
                    "vacuum_finished_at", "requested_via", "requested_by")
    list_filter = ("status", "scope", "dry_run", "requested_via")
    search_fields = ("subject_hash",)
    exclude = ("pending_user_id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[models.ErasureReceipt]:
        qs = super().get_queryset(request)
        user: Any = request.user
        if user.is_superuser:
            return qs
        return qs.filter(tenant__memberships__user=user, tenant__memberships__role=models.Role.ADMIN)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.name != "pending_user_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
