"""Connections pages (DESIGN §9 browser flow): the list with Connect buttons, the connect
redirect, the provider's callback, a connection's page (choose sources, sync now,
disconnect). Thin: a selector or a service, then a template; htmx with no inline script.

A member sees their own connections; an admin every connection of the tenant. The callback
takes its tenant from the signed ``state`` (bound to this browser session), never the URL.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from connections import models, registry, selectors, services
from kbsite import pages
from kbsite.errors import ServiceError
from knowledge import auth
from knowledge import models as kb_models

RUNS_SHOWN = 20

# Connection states drawn with the existing badge colours.
STATUS_BADGE = {
    models.ConnectionStatus.CONNECTING: "queued",
    models.ConnectionStatus.ACTIVE: "ready",
    models.ConnectionStatus.NEEDS_REAUTH: "failed",
    models.ConnectionStatus.REVOKED: "skipped",
    models.ConnectionStatus.PURGED: "skipped",
}


def _viewer(request: HttpRequest, kb: pages.KbContext) -> selectors.Viewer:
    return selectors.viewer_for(tenant=kb.tenant, user=request.user, role=kb.role)


def _row(connection: models.Connection) -> dict[str, Any]:
    return {
        "connection": connection,
        "badge": STATUS_BADGE.get(models.ConnectionStatus(connection.status), "queued"),
        "provider_label": registry.label(connection.provider),
        "sources": list(selectors.sources(connection=connection)),
        "last_run": selectors.last_run(connection=connection),
        "counts": selectors.content_counts(connection=connection),
    }


@pages.tenant_view(action=auth.Action.USE_CONNECTIONS)
def connection_list(request: HttpRequest, kb: pages.KbContext) -> HttpResponse:
    viewer = _viewer(request, kb)
    can_connect = kb.allows(auth.roles_for(auth.Action.CONNECT_ACCOUNT))
    context = {
        "title": "Connections",
        "rows": [_row(c) for c in selectors.connection_list(viewer=viewer)],
        "providers": [{"name": p.name, "label": p.display_label()} for p in registry.offered()] if can_connect else [],
        "sees_all": viewer.is_admin,
    }
    return pages.render_page(request, kb, "connections/list.html", context, section="connections")


@pages.tenant_view(action=auth.Action.CONNECT_ACCOUNT, methods=("POST",))
def connect(request: HttpRequest, kb: pages.KbContext, provider: str) -> HttpResponse:
    spec = registry.get(provider)
    if spec is None or not spec.offered():
        raise Http404("unknown provider")
    if not request.session.session_key:
        request.session.save()
    url = spec.authorize_url(session_key=request.session.session_key or "", tenant_id=kb.tenant.pk)
    return HttpResponseRedirect(url)


@login_required
@require_GET
def callback(request: HttpRequest, provider: str) -> HttpResponse:
    """The provider sends the browser back here with ``code`` and ``state`` (or ``error``)."""
    params = request.GET
    try:
        result = services.connection_authorize_finish(
            provider=provider, user=request.user, session_key=request.session.session_key,
            state=params.get("state", ""), code=params.get("code", ""), error=params.get("error", ""),
            error_description=params.get("error_description", ""),
        )
    except services.CallbackError as exc:
        kb = _context_or_none(request)
        context = {"title": "Connecting failed", "message": exc.message, "provider_label": registry.label(provider)}
        return pages.render_page(request, kb, "connections/callback_error.html", context,
                                 section="connections", status=400)
    connection = result.connection
    if result.restored:
        messages.success(request, f"Reconnected {connection.account_label}: syncing resumes.")
    else:
        messages.success(request, f"Connected {connection.account_label}. Choose what to sync below.")
    return redirect("kb:connection", pk=connection.pk)


def _context_or_none(request: HttpRequest) -> pages.KbContext | None:
    try:
        return pages.resolve_context(request)
    except ServiceError:
        return None


@pages.tenant_view(action=auth.Action.USE_CONNECTIONS)
def connection_detail(request: HttpRequest, kb: pages.KbContext, pk: int) -> HttpResponse:
    connection = selectors.connection_get(viewer=_viewer(request, kb), connection_id=pk)
    runs = list(selectors.run_list(connection=connection)[:RUNS_SHOWN])
    context = {
        "title": f"{registry.label(connection.provider)} · {connection.account_label or 'connection'}",
        **_row(connection),
        "runs": runs,
        "polling": any(r.status in services.ACTIVE_RUN_STATUSES for r in runs),
        "is_active": connection.status == models.ConnectionStatus.ACTIVE,
        "can_disconnect": connection.status != models.ConnectionStatus.PURGED,
        "is_mine": connection.owner_id == request.user.pk,
        "can_reconnect": connection.status == models.ConnectionStatus.NEEDS_REAUTH
        and connection.owner_id == request.user.pk,
    }
    return pages.render_page(request, kb, "connections/detail.html", context, section="connections")


@pages.tenant_view(action=auth.Action.USE_CONNECTIONS)
def connection_runs(request: HttpRequest, kb: pages.KbContext, pk: int) -> HttpResponse:
    """The runs table alone (htmx polls it while a run is queued or running)."""
    connection = selectors.connection_get(viewer=_viewer(request, kb), connection_id=pk)
    runs = list(selectors.run_list(connection=connection)[:RUNS_SHOWN])
    polling = any(r.status in services.ACTIVE_RUN_STATUSES for r in runs)
    return render(request, "connections/_runs.html", {"connection": connection, "runs": runs, "polling": polling})


def _root_rows(connection: models.Connection, listing: Any) -> list[dict[str, Any]]:
    chosen = {(s.surface, s.root_id): s for s in selectors.sources(connection=connection)}
    rows = []
    for index, root in enumerate(listing.items):
        source = chosen.get((root.surface, root.root_id))
        rows.append({
            "index": index,
            "root": root,
            "surface_label": models.Surface(root.surface).label if root.surface in models.Surface.values else root.surface,
            "selected": source is not None,
            "share": source.share if source else models.Share.PERSONAL,
            "kind": source.kind if source else kb_models.Kind.KNOWLEDGE,
            "mail_tier": source.mail_tier if source else models.MailTier.SNIPPET,
            "is_mail": root.surface in (models.Surface.MAIL_FOLDER, models.Surface.GMAIL_LABEL),
            "nested": bool(root.parent_id),
        })
    return rows


@pages.tenant_view(action=auth.Action.USE_CONNECTIONS)
def connection_roots(request: HttpRequest, kb: pages.KbContext, pk: int) -> HttpResponse:
    """The source chooser: what the account can select (asked from the provider now)."""
    viewer = _viewer(request, kb)
    connection = selectors.connection_get(viewer=viewer, connection_id=pk)
    error = ""
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    try:
        listing = services.roots_list(connection=connection)
    except ServiceError as exc:
        error = exc.message
    else:
        rows = _root_rows(connection, listing)
        warnings = listing.warnings
    context = {
        "title": "Choose sources",
        "connection": connection,
        "rows": rows,
        "warnings": warnings,
        "error": error,
        "is_admin": viewer.is_admin,
        "share_choices": models.Share.choices if viewer.is_admin else [(models.Share.PERSONAL, models.Share.PERSONAL.label)],
        "kind_choices": kb_models.Kind.choices,
        "tier_choices": models.MailTier.choices,
    }
    if pages.is_htmx(request):
        return render(request, "connections/_roots.html", context)
    return pages.render_page(request, kb, "connections/roots.html", context, section="connections")


@pages.tenant_view(action=auth.Action.USE_CONNECTIONS, methods=("POST",))
def connection_sources(request: HttpRequest, kb: pages.KbContext, pk: int) -> HttpResponse:
    viewer = _viewer(request, kb)
    connection = selectors.connection_get(viewer=viewer, connection_id=pk)
    post = request.POST
    choices = []
    try:
        total = min(int(post.get("count", "0")), 5000)
    except ValueError:
        total = 0
    for i in range(total):
        if not post.get(f"selected_{i}"):
            continue
        choices.append(services.SourceChoice(
            surface=post.get(f"surface_{i}", ""), root_id=post.get(f"root_id_{i}", ""),
            share=post.get(f"share_{i}", models.Share.PERSONAL), kind=post.get(f"kind_{i}", kb_models.Kind.KNOWLEDGE),
            mail_tier=post.get(f"mail_tier_{i}", models.MailTier.SNIPPET),
        ))
    try:
        result = services.connection_sources_set(connection=connection, choices=choices, is_admin=viewer.is_admin)
    except ServiceError as exc:
        if exc.status_code == 403:
            return pages.forbidden(request, kb, exc.message)
        messages.error(request, exc.message)
    else:
        note = " A sync is queued." if result.run is not None else ""
        messages.success(request, f"{len(result.sources)} source{'s' if len(result.sources) != 1 else ''} selected.{note}")
    return redirect("kb:connection", pk=connection.pk)


@pages.tenant_view(action=auth.Action.USE_CONNECTIONS, methods=("POST",))
def connection_sync(request: HttpRequest, kb: pages.KbContext, pk: int) -> HttpResponse:
    connection = selectors.connection_get(viewer=_viewer(request, kb), connection_id=pk)
    full = request.POST.get("full") == "1"
    try:
        kind = services.sync_kind_for(connection=connection, full=full)
        result = services.sync_request(connection=connection, kind=kind, trigger=models.RunTrigger.MANUAL)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        run = result.run
        if result.created:
            messages.success(request, f"{run.get_kind_display()} run #{run.pk} queued.")
        else:
            messages.info(request, f"Run #{run.pk} is already {run.status}; it picks up the latest changes.")
    return redirect("kb:connection", pk=connection.pk)


@pages.tenant_view(action=auth.Action.USE_CONNECTIONS, methods=("GET", "HEAD", "POST"))
def connection_disconnect(request: HttpRequest, kb: pages.KbContext, pk: int) -> HttpResponse:
    """GET: the confirmation page; POST: disconnect (revoke, destroy tokens, purge)."""
    connection = selectors.connection_get(viewer=_viewer(request, kb), connection_id=pk)
    if request.method == "POST":
        try:
            services.connection_revoke(connection=connection)
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Disconnected {connection.account_label}: its documents are being removed.")
        return redirect("kb:connection", pk=connection.pk)
    context = {
        "title": "Disconnect",
        **_row(connection),
        "cancel_url": reverse("kb:connection", args=[connection.pk]),
    }
    return pages.render_page(request, kb, "connections/disconnect.html", context, section="connections")
