"""The connections app's part of an erasure (``knowledge.erasure``): the connections a subject
owns — their documents are purged by knowledge (``documents``), their tokens, sources, cursors
and runs go here, and each grant is revoked at the provider after commit where the provider
offers that (best effort). A tenant's erasure takes every connection of the tenant."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Q, QuerySet

from connections import models, registry, tokens
from connections.providers import oauth2
from knowledge.erasure.registry import Part, Participant, Plan, Subject

logger = logging.getLogger(__name__)

COVERS = {
    "connections.Connection": "the subject's connections (a tenant's: all) deleted after their documents are purged",
    "connections.ConnectionToken": "destroyed with the connection; the grant revoked at the provider where possible",
    "connections.ConnectionSource": "deleted with the connection",
    "connections.SyncCursor": "deleted with the connection",
    "connections.SyncRun": "deleted with the connection",
}


def _connections(subject: Subject) -> QuerySet[models.Connection]:
    if subject.is_tenant:
        return models.Connection.objects.filter(tenant_id=subject.tid)
    return models.Connection.objects.filter(subject.tenants(), owner_id=subject.uid)


def documents(subject: Subject) -> Q:
    return Q(connection_id__in=_connections(subject).values("pk"))


def count(subject: Subject, plan: Plan) -> dict[str, int]:
    if subject.is_tenant:
        return {}  # knowledge counts every row of the tenant's tables
    ids = _connections(subject).values("pk")
    return {
        "connections_connection": _connections(subject).count(),
        "connections_connectiontoken": models.ConnectionToken.objects.filter(connection_id__in=ids).count(),
        "connections_connectionsource": models.ConnectionSource.objects.filter(connection_id__in=ids).count(),
        "connections_synccursor": models.SyncCursor.objects.filter(connection_id__in=ids).count(),
        "connections_syncrun": models.SyncRun.objects.filter(connection_id__in=ids).count(),
    }


def erase(subject: Subject, plan: Plan) -> Part:
    grants: list[tuple[str, str]] = []
    destroyed = deleted = 0
    for connection in _connections(subject).select_for_update().order_by("pk"):
        spec = registry.get(connection.provider)
        if spec is not None and spec.revoke_url():
            try:
                refresh = tokens.refresh_token_get(connection_id=connection.pk)
            except Exception:  # noqa: BLE001 — an unreadable token cannot be revoked; it is destroyed below
                refresh = None
            if refresh:
                grants.append((connection.provider, refresh))
        destroyed += tokens.tokens_destroy(connection=connection)
        connection.delete()  # sources, cursors and runs cascade; its documents are already purged
        deleted += 1

    def revoke() -> dict[str, int]:
        revoked = 0
        for provider, refresh in grants:
            spec = registry.get(provider)
            if spec is None:
                continue
            with oauth2.OAuth2Client(spec.token_endpoint(), timeout=settings.KB_PROVIDER_TIMEOUT) as client:
                revoked += bool(client.revoke(revoke_url=spec.revoke_url(), token=refresh))
        grants.clear()
        return {"grants_revoked": revoked}

    return Part(info={"connections_deleted": deleted, "tokens_destroyed": destroyed},
                after_commit=revoke if grants else None)


participant = Participant(name="connections", covers=COVERS, count=count, erase=erase, documents=documents)
