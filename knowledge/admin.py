"""Django admin for tenant data. Non-superusers see only their own tenants' rows; nobody sees
another user's personal documents (or their jobs) — the selectors' owner rule — and every
change goes through the same services as the API."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from knowledge import forms, ingestion, models, selectors, services
from knowledge.erasure import admin as _erasure_admin  # noqa: F401  (registers ErasureReceipt)


class PurgesDocumentsOnDelete:
    """For admins of rows whose deletion purges documents (users, tenants): the documents and
    their jobs go through ``knowledge.purge`` (a ``pre_delete`` receiver: files deleted,
    personal audit text redacted), so their own "no delete in the admin" rule must not
    block the deletion of their owner."""

    PURGED = {str(models.Document._meta.verbose_name), str(models.IngestJob._meta.verbose_name)}

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        to_delete, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)  # type: ignore[misc]
        return to_delete, model_count, {p for p in perms_needed if p not in self.PURGED}, protected


class TenantScopedAdmin(admin.ModelAdmin):
    tenant_field = "tenant"
    # The lookup path to the row's document, for models that follow a document's visibility
    # (None: the model holds no document content).
    document_path: str | None = None

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        user: Any = request.user
        if self.document_path is not None:
            # Superusers too: a personal document is its owner's alone (DESIGN §5).
            qs = qs.filter(selectors.document_visibility(user=user, via=self.document_path))
        if user.is_superuser:
            return qs
        return qs.filter(**{f"{self.tenant_field}__memberships__user": user,
                            f"{self.tenant_field}__memberships__role": models.Role.ADMIN}).distinct()

    def has_module_permission(self, request: HttpRequest) -> bool:
        user: Any = request.user
        return bool(user.is_active and user.is_staff)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        user: Any = request.user
        return bool(user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user: Any = request.user
        return bool(user.is_superuser)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user: Any = request.user
        return bool(user.is_superuser)


@admin.register(models.Tenant)
class TenantAdmin(PurgesDocumentsOnDelete, TenantScopedAdmin):
    list_display = ("slug", "name", "retrieval_enabled", "embeddings_enabled", "embedding_tokens_used", "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("embedding_tokens_used", "policy_version", "created_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = admin.ModelAdmin.get_queryset(self, request)
        user: Any = request.user
        if user.is_superuser:
            return qs
        # Like every other page here: only the tenants this user is an admin of.
        return qs.filter(memberships__user=user, memberships__role=models.Role.ADMIN).distinct()


@admin.register(models.Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ("user", "tenant", "role", "last_selected_at")
    list_filter = ("role",)
    search_fields = ("user__username", "tenant__slug")


@admin.register(models.ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    list_display = ("prefix", "name", "tenant", "scopes", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "secret_hash", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        for key in queryset:
            services.apikey_revoke(key=key)
        messages.success(request, f"revoked {queryset.count()} key(s)")


@admin.register(models.Document)
class DocumentAdmin(TenantScopedAdmin):
    document_path = ""
    list_display = ("name", "tenant", "kind", "file_type", "size_bytes", "status", "chunk_count", "ingested_at")
    list_filter = ("kind", "status", "source_kind")
    search_fields = ("name",)
    readonly_fields = [f.name for f in models.Document._meta.fields]
    actions = ["reingest"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deletes go through services.document_delete (the KB files page)

    @admin.action(description="Re-ingest selected documents")
    def reingest(self, request: HttpRequest, queryset: QuerySet) -> None:
        for doc in queryset:
            ingestion.request_ingestion(document=doc, trigger=models.Trigger.UI, force=True)
        messages.success(request, f"queued {queryset.count()} document(s)")


@admin.register(models.IngestJob)
class IngestJobAdmin(TenantScopedAdmin):
    document_path = "document__"
    list_display = ("id", "document", "tenant", "status", "trigger", "attempts", "created_at", "finished_at")
    list_filter = ("status", "trigger")
    readonly_fields = [f.name for f in models.IngestJob._meta.fields]


@admin.register(models.NeutralisationSettings)
class NeutralisationSettingsAdmin(TenantScopedAdmin):
    """Per-tenant and per-source-kind PII neutralisation (DESIGN §10); saved by the service."""

    form = forms.NeutralisationSettingsForm
    list_display = ("tenant", "locale", "source_kinds", "person_names", "updated_at")
    search_fields = ("tenant__slug",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if not self.has_change_permission(request, obj):  # view only: the stored fields as they are
            return ["tenant", "locale", "source_kinds", "person_names", "published_contacts", "updated_at"]
        kinds = [forms.KIND_FIELD_PREFIX + kind for kind in models.SourceKind.values]
        return ["tenant", "locale", *kinds, "person_names", "published_contacts_text"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        row = services.neutralisation_settings_update(
            tenant=form.cleaned_data["tenant"], locale=form.cleaned_data["locale"],
            source_kinds=form.source_kinds(), person_names=form.cleaned_data["person_names"],
            published_contacts=form.published_contacts(),
        )
        obj.pk = row.pk


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class PurgingUserAdmin(PurgesDocumentsOnDelete, UserAdmin):
    """Django's user admin; deleting a user purges their documents first (knowledge.purge)."""
