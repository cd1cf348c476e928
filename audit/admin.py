from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from audit import models
from knowledge.models import Role


@admin.register(models.RecallAudit)
class RecallAuditAdmin(admin.ModelAdmin):
    list_display = ("id", "tenant", "created_at", "query", "session_id", "source")
    list_filter = ("source", "is_test")
    search_fields = ("query", "session_id", "caller")
    # The returned chunks are not shown here: they may hold other users' personal documents,
    # which only the recall audit pages and API show, withheld by their one rule
    # (audit.selectors.for_reader).
    exclude = ("results",)
    readonly_fields = [f.name for f in models.RecallAudit._meta.fields if f.name != "results"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        user: Any = request.user
        if user.is_superuser:
            return qs
        return qs.filter(
            tenant__memberships__user=user, tenant__memberships__role__in=[Role.ADMIN, Role.SUPPORT]
        ).distinct()

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user: Any = request.user
        return bool(user.is_active and user.is_staff)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user: Any = request.user
        return bool(user.is_superuser)
