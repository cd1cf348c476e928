"""Django admin for connections: read-only views of connections, sources and runs, scoped to
the tenants a staff user administers. Tokens are never registered, and no admin form shows
an encrypted blob."""

from __future__ import annotations

from django.contrib import admin

from connections import models
from knowledge.admin import TenantScopedAdmin


class _ReadOnly(TenantScopedAdmin):
    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [f.name for f in self.model._meta.fields]


@admin.register(models.Connection)
class ConnectionAdmin(_ReadOnly):
    list_display = ("id", "tenant", "owner", "provider", "account_label", "status", "last_sync_at", "next_sync_at")
    list_filter = ("provider", "status")
    search_fields = ("account_label",)


@admin.register(models.ConnectionSource)
class ConnectionSourceAdmin(_ReadOnly):
    list_display = ("id", "tenant", "connection", "surface", "label", "share", "kind", "mail_tier")
    list_filter = ("surface", "share", "kind")


@admin.register(models.SyncRun)
class SyncRunAdmin(_ReadOnly):
    list_display = ("id", "tenant", "connection", "kind", "status", "trigger", "started_at", "finished_at")
    list_filter = ("kind", "status")
