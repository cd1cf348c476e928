"""Tenant-scoped reads of connections (tenant first, always). Who sees what (DESIGN §9): a
member sees their own connections, an admin — or a ``manage`` API key — every connection of
the tenant. Another tenant's id, or another member's for a member, is NotFound, exactly like
an id that does not exist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from connections import models
from kbsite.errors import NotFound
from knowledge import auth
from knowledge import models as kb


@dataclass(frozen=True)
class Viewer:
    """Who acts on a tenant's connections: a member (``user``) or an API key (``user`` None)."""

    tenant: kb.Tenant
    user: Any = None
    is_admin: bool = False
    is_key: bool = False

    @property
    def can_connect(self) -> bool:
        # Starting a connection needs a member in a browser: the account becomes theirs.
        return self.user is not None and not self.is_key


def viewer_for(*, tenant: kb.Tenant, user: Any = None, role: str = "", api_key: Any = None) -> Viewer:
    """The viewer of a session (user + role) or of an API key (acts as an admin)."""
    if api_key is not None:
        return Viewer(tenant=tenant, user=None, is_admin=True, is_key=True)
    is_super = bool(getattr(user, "is_superuser", False))
    is_admin = auth.may(role=role, action=auth.Action.MANAGE_CONNECTIONS, is_superuser=is_super)
    return Viewer(tenant=tenant, user=user, is_admin=is_admin)


def viewer_from_principal(principal: auth.Principal) -> Viewer:
    return viewer_for(tenant=principal.tenant, user=principal.user, role=principal.role, api_key=principal.api_key)


def connection_list(*, viewer: Viewer) -> QuerySet[models.Connection]:
    qs = models.Connection.objects.filter(tenant=viewer.tenant).select_related("owner")
    if not viewer.is_admin:
        qs = qs.filter(owner_id=getattr(viewer.user, "pk", None))
    return qs.order_by("-created_at", "-id")


def connection_get(*, viewer: Viewer, connection_id: int) -> models.Connection:
    found = connection_list(viewer=viewer).filter(pk=connection_id).first()
    if found is None:
        raise NotFound("connection not found")
    return found


def run_list(*, connection: models.Connection) -> QuerySet[models.SyncRun]:
    return models.SyncRun.objects.filter(tenant_id=connection.tenant_id, connection=connection).order_by(
        "-created_at", "-id"
    )


def last_run(*, connection: models.Connection) -> models.SyncRun | None:
    return run_list(connection=connection).first()


def active_run(*, connection: models.Connection) -> models.SyncRun | None:
    return run_list(connection=connection).filter(
        status__in=[models.RunStatus.QUEUED, models.RunStatus.RUNNING]
    ).first()


def sources(*, connection: models.Connection) -> QuerySet[models.ConnectionSource]:
    return models.ConnectionSource.objects.filter(tenant_id=connection.tenant_id, connection=connection).order_by("id")


def _has_field(model: type[Any], name: str) -> bool:
    return any(f.name == name for f in model._meta.get_fields())


def content_counts(*, connection: models.Connection) -> dict[str, int]:
    """``{documents, chunks}`` the connection holds now (attachments included)."""
    counts = {"documents": 0, "chunks": 0}
    # Document.connection / Chunk.connection come with the virtual documents (DESIGN §3); until
    # that schema is merged there is nothing to count (keyword dict: the field may not exist yet).
    by_connection: dict[str, Any] = {"tenant_id": connection.tenant_id, "connection_id": connection.pk}
    if _has_field(kb.Document, "connection"):
        counts["documents"] = kb.Document.objects.filter(**by_connection).count()
    if _has_field(kb.Chunk, "connection"):
        counts["chunks"] = kb.Chunk.objects.filter(**by_connection).count()
    return counts
