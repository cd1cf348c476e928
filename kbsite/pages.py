"""What every app's browser pages share: who is looking at which tenant (``tenant_view``,
``KbContext``), the admin chrome and top navigation (``base_context``), and rendering
(``render_page``, ``forbidden``), plus two small request helpers (``is_htmx``, ``safe_next``).

The tenant always comes from the logged-in user's memberships, resolved exactly as the API
resolves a session (``knowledge.auth``); a view never takes it from the URL or the form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from kbsite.errors import Forbidden, NotFound
from knowledge import auth, models, selectors

SITE_HEADER = "Knowledge base"

# Sections of the top navigation, with the roles that may open them.
NAV = (
    ("files", "KB files", "kb:files", auth.roles_for(auth.Action.READ_FILES)),
    ("jobs", "Ingest jobs", "kb:jobs", auth.roles_for(auth.Action.READ_JOBS)),
    ("retrieval", "Retrieval test", "kb:retrieval_test", auth.roles_for(auth.Action.RETRIEVE)),
    ("audit", "Recall audit", "kb:audit_list", auth.roles_for(auth.Action.READ_AUDIT)),
    ("connections", "Connections", "kb:connections", auth.roles_for(auth.Action.USE_CONNECTIONS)),
    ("keys", "API keys", "kb:keys", auth.roles_for(auth.Action.MANAGE_KEYS)),
    ("profile", "Business profile", "kb:profile", auth.ADMIN_ROLES),
    ("me", "My profile", "kb:me", auth.READ_ROLES),
    ("erasure", "Erasure", "kb:erasures", auth.ADMIN_ROLES),
)


@dataclass
class KbContext:
    """Who is looking at which tenant, and with what role (superusers act as admins)."""

    tenant: models.Tenant
    role: str
    tenants: list[models.Tenant] = field(default_factory=list)

    @property
    def can_manage(self) -> bool:
        return self.role in auth.ADMIN_ROLES

    @property
    def can_upload(self) -> bool:
        """Admins upload for the tenant; members upload personal documents (DESIGN §6)."""
        return self.role in auth.UPLOAD_ROLES

    def allows(self, roles: Iterable[str]) -> bool:
        return self.role in roles


def resolve_context(request: HttpRequest) -> KbContext | None:
    """The tenant the session user acts on, exactly as the API resolves it (``auth``): their
    last-selected membership, or for superusers any tenant they switched to."""
    user: Any = request.user
    tenant, role = auth.resolve_session_tenant(request, user)
    if tenant is None:
        return None
    if user.is_superuser:
        role = models.Role.ADMIN
    tenants = list(selectors.tenants_for_user(user=user).order_by("name", "slug"))
    return KbContext(tenant=tenant, role=role, tenants=tenants)


def base_context(request: HttpRequest, kb: KbContext | None, section: str = "") -> dict[str, Any]:
    """What templates/kb/base.html needs: the admin chrome, the nav for this role, the switcher."""
    user: Any = request.user
    nav = []
    if kb is not None:
        nav = [
            {"key": key, "label": label, "url": reverse(url_name), "active": key == section}
            for key, label, url_name, roles in NAV
            if kb.allows(roles)
        ]
    return {
        "site_header": SITE_HEADER,
        "site_title": SITE_HEADER,
        "site_url": None,
        "has_permission": bool(user.is_active and user.is_staff),
        "is_popup": False,
        "is_nav_sidebar_enabled": False,
        "kb": kb,
        "kb_nav": nav,
        "kb_section": section,
    }


def render_page(
    request: HttpRequest, kb: KbContext | None, template: str, context: dict[str, Any], *,
    section: str = "", status: int = 200,
) -> HttpResponse:
    return render(request, template, {**base_context(request, kb, section), **context}, status=status)


def forbidden(request: HttpRequest, kb: KbContext | None, reason: str) -> HttpResponse:
    return render_page(request, kb, "kb/forbidden.html", {"title": "Not allowed", "reason": reason}, status=403)


ViewFunc = Callable[..., HttpResponseBase]


def tenant_view(
    *, action: auth.Action | None = None, roles: frozenset[str] | None = None,
    methods: tuple[str, ...] = ("GET", "HEAD"),
) -> Callable[[ViewFunc], ViewFunc]:
    """Log in, resolve the tenant from the session user, check the role, map NotFound → 404.

    Who may open the page comes from ``auth.RULES`` for ``action`` (the table the API uses);
    ``roles`` states the roles directly (prefer an action). The wrapped view is called as
    ``view(request, kb, *args, **kwargs)``.
    """
    if action is not None:
        roles = auth.roles_for(action)
    if roles is None:
        raise TypeError("tenant_view needs an action, or roles")
    allowed: frozenset[str] = roles

    def decorate(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                kb = resolve_context(request)
            except Forbidden as exc:
                return forbidden(request, None, exc.message)
            if kb is None:
                return forbidden(request, None, "You are not a member of any tenant yet. Ask an admin to add you.")
            if not kb.allows(allowed):
                return forbidden(request, kb, f"Your role ({kb.role or 'none'}) cannot open this page.")
            try:
                return view(request, kb, *args, **kwargs)
            except NotFound as exc:
                raise Http404(exc.message) from exc

        return login_required(require_http_methods(list(methods))(wrapped))

    return decorate


def is_htmx(request: HttpRequest) -> bool:
    """An htmx partial request (not a history restore, which needs the whole page)."""
    details = getattr(request, "htmx", None)
    return bool(details) and not details.history_restore_request  # type: ignore[union-attr]


def safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default
