"""Connections API (DESIGN §9): /api/v1/connections… Thin: auth, then a selector or a service.

A member sees and changes their own connections, an admin — or a ``manage`` key, which acts
as an admin but cannot start a connection — every connection of the tenant. Another tenant's
id → 404; what only an admin may do (share a source with the tenant) → 403.
"""

from __future__ import annotations

from typing import Any

import pydantic
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Body, Query, Router, Status

from connections import clickup_webhooks, models, schemas, selectors, services
from kbsite.errors import InvalidInput
from kbsite.pagination import Page, paginate
from knowledge import auth

router = Router(tags=["Connections"])

use_auth = auth.TenantAuth(action=auth.Action.USE_CONNECTIONS)


def _viewer(request: HttpRequest) -> selectors.Viewer:
    return selectors.viewer_from_principal(auth.principal(request))


def _connection(request: HttpRequest, connection_id: int) -> models.Connection:
    return selectors.connection_get(viewer=_viewer(request), connection_id=connection_id)


@router.post("/clickup/webhook", auth=None, include_in_schema=False)
def clickup_webhook(request: HttpRequest) -> HttpResponse:
    """ClickUp's deliveries: the ``X-Signature`` HMAC is checked before anything happens."""
    status = clickup_webhooks.webhook_receive(body=request.body, signature=request.headers.get("X-Signature", ""))
    return JsonResponse({"ok": status == 200}, status=status)


@router.get("", response=schemas.ConnectionPage, auth=use_auth)
def list_connections(request: HttpRequest, page: Query[Page]) -> dict[str, Any]:
    return paginate(selectors.connection_list(viewer=_viewer(request)), page)


@router.get("/{connection_id}", response=schemas.ConnectionOut, auth=use_auth)
def get_connection(request: HttpRequest, connection_id: int) -> models.Connection:
    return _connection(request, connection_id)


@router.get("/{connection_id}/roots", response=schemas.RootPage, auth=use_auth)
def list_roots(request: HttpRequest, connection_id: int) -> dict[str, Any]:
    listing = services.roots_list(connection=_connection(request, connection_id))
    return {"items": listing.items, "count": len(listing.items), "warnings": listing.warnings}


@router.put("/{connection_id}/sources", response=schemas.SourcesOut, auth=use_auth)
def put_sources(
    request: HttpRequest, connection_id: int, payload: Body[list[schemas.SourceIn]]
) -> dict[str, Any]:
    viewer = _viewer(request)
    connection = selectors.connection_get(viewer=viewer, connection_id=connection_id)
    choices = [
        services.SourceChoice(
            surface=item.surface, root_id=item.root_id, share=item.share, kind=item.kind, mail_tier=item.mail_tier
        )
        for item in payload
    ]
    result = services.connection_sources_set(connection=connection, choices=choices, is_admin=viewer.is_admin)
    return {"items": result.sources, "count": len(result.sources), "run": result.run}


def _sync_body(request: HttpRequest) -> schemas.SyncIn:
    """``{"full": bool}``, optional: no JSON body is ``{"full": false}``."""
    if request.content_type != "application/json" or not request.body.strip():
        return schemas.SyncIn()
    try:
        return schemas.SyncIn.model_validate_json(request.body)
    except pydantic.ValidationError as exc:
        raise InvalidInput('the body must be {"full": true|false}') from exc


@router.post(
    "/{connection_id}/sync", response={202: schemas.RunOut}, auth=use_auth,
    openapi_extra={"requestBody": {"required": False, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"full": {"type": "boolean", "default": False}}}}}}},
)
def sync_connection(request: HttpRequest, connection_id: int) -> Status:
    """202 and the run: a full re-enumeration with ``{"full": true}``; else a backfill until one
    succeeded, then a delta. A run already queued or running is returned instead of a new one."""
    connection = _connection(request, connection_id)
    full = _sync_body(request).full
    kind = services.sync_kind_for(connection=connection, full=full)
    result = services.sync_request(connection=connection, kind=kind, trigger=models.RunTrigger.MANUAL)
    return Status(202, result.run)


@router.get("/{connection_id}/runs", response=schemas.RunPage, auth=use_auth)
def list_runs(request: HttpRequest, connection_id: int, page: Query[Page]) -> dict[str, Any]:
    return paginate(selectors.run_list(connection=_connection(request, connection_id)), page)


@router.delete("/{connection_id}", response={202: schemas.RevokeOut}, auth=use_auth)
def delete_connection(request: HttpRequest, connection_id: int) -> Status:
    connection = _connection(request, connection_id)
    result = services.connection_revoke(connection=connection)
    out: Any = result.connection
    out.run = result.run
    return Status(202, out)
