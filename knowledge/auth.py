"""Who is calling, for which tenant: API keys (Bearer) and logged-in members (session), and
what each may do (``RULES``: the one table of who may do what, for the API and the pages).

No/invalid/revoked key → 401; a key without the scope, or a member without the role → 403.
The tenant always comes from the key or the membership, never from the request body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.db.models import F
from django.http import HttpRequest
from ninja.utils import check_csrf

from kbsite.errors import Forbidden
from knowledge import apikeys, models

READ_ROLES = frozenset({models.Role.ADMIN, models.Role.SUPPORT, models.Role.MEMBER})
SUPPORT_ROLES = frozenset({models.Role.ADMIN, models.Role.SUPPORT})
ADMIN_ROLES = frozenset({models.Role.ADMIN})
# Everyone in a tenant may keep personal documents; only admins upload for the tenant.
UPLOAD_ROLES = READ_ROLES


class Action(StrEnum):
    """Everything a caller may be allowed to do, as the API and the pages both name it."""

    READ_FILES = "read_files"  # KB files: list, detail, chunks, download
    MANAGE_FILES = "manage_files"  # upload, delete, (re-)ingest, retry a document's or a job's ingestion
    UPLOAD_PERSONAL = "upload_personal"  # upload a personal document of one's own (a session, never a key)
    READ_JOBS = "read_jobs"  # the ingest jobs list and a job's detail
    RETRIEVE = "retrieve"  # retrieval (API and the retrieval test page); writes recall audit rows
    READ_AUDIT = "read_audit"  # recall audit rows
    MANAGE_KEYS = "manage_keys"  # create and revoke API keys
    # Connected accounts (connections app): a member uses their own, an admin (or a manage
    # key) every connection of the tenant.
    USE_CONNECTIONS = "use_connections"  # list, read, choose sources, sync, disconnect
    CONNECT_ACCOUNT = "connect_account"  # start a connection: a member in a browser, never a key
    MANAGE_CONNECTIONS = "manage_connections"  # every member's connections; share a source with the tenant


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]  # member roles allowed in a session (a superuser always is)
    scope: str | None  # the API key scope that allows it (None: no key may)


# Who may do what — the one table. ``TenantAuth(action=…)`` (API) and ``tenant_view(action=…)``
# (pages) both read it, so a member is never allowed over the API what their pages refuse.
RULES: dict[Action, Rule] = {
    Action.READ_FILES: Rule(READ_ROLES, models.Scope.MANAGE),
    Action.MANAGE_FILES: Rule(ADMIN_ROLES, models.Scope.MANAGE),
    Action.UPLOAD_PERSONAL: Rule(UPLOAD_ROLES, None),
    Action.READ_JOBS: Rule(SUPPORT_ROLES, models.Scope.MANAGE),
    Action.RETRIEVE: Rule(SUPPORT_ROLES, models.Scope.RETRIEVE),
    Action.READ_AUDIT: Rule(SUPPORT_ROLES, models.Scope.MANAGE),
    Action.MANAGE_KEYS: Rule(ADMIN_ROLES, None),
    Action.USE_CONNECTIONS: Rule(READ_ROLES, models.Scope.MANAGE),
    Action.CONNECT_ACCOUNT: Rule(READ_ROLES, None),
    Action.MANAGE_CONNECTIONS: Rule(ADMIN_ROLES, models.Scope.MANAGE),
}


def roles_for(action: Action) -> frozenset[str]:
    """The member roles that may do ``action``."""
    return RULES[action].roles


def may(*, role: str, action: Action, is_superuser: bool = False) -> bool:
    """Whether a member with ``role`` (a superuser: always) may do ``action``."""
    return is_superuser or role in RULES[action].roles


def allows(p: Principal, action: Action) -> bool:
    """Whether an authenticated caller (a key by its scopes, a session by its role) may do ``action``."""
    rule = RULES[action]
    if p.api_key is not None:
        return rule.scope is not None and rule.scope in p.scopes
    return bool(getattr(p.user, "is_superuser", False)) or p.role in rule.roles


TENANT_HEADER = "HTTP_X_KB_TENANT"
# A superuser acting on a tenant they are not a member of (set by the UI's tenant switcher).
SESSION_TENANT_KEY = "kb_tenant_id"


@dataclass
class Principal:
    tenant: models.Tenant
    api_key: models.ApiKey | None = None
    user: Any = None
    role: str = ""
    scopes: frozenset[str] = field(default_factory=frozenset)

    def __bool__(self) -> bool:
        return True


def principal(request: HttpRequest) -> Principal:
    """The caller ninja authenticated for this endpoint (``request.auth``)."""
    found = getattr(request, "auth", None)
    assert isinstance(found, Principal)
    return found


def bearer_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None for any other shape."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


class TenantAuth:
    """ninja auth callable: ``TenantAuth(action=Action.READ_JOBS)`` takes the key scope and the
    member roles from ``RULES``; ``scope=``/``roles=`` state them directly (prefer an action)."""

    openapi_type = "http"
    openapi_scheme = "bearer"

    def __init__(
        self, *, action: Action | None = None, scope: str | None = None, roles: frozenset[str] | None = None
    ) -> None:
        if action is not None:
            rule = RULES[action]
            scope, roles = rule.scope, rule.roles
        if roles is None:
            raise TypeError("TenantAuth needs an action, or roles")
        self.scope = scope
        self.roles = roles

    def __call__(self, request: HttpRequest) -> Principal | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header:
            return self._from_key(header)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return self._from_session(request, user)
        return None

    def _from_key(self, header: str) -> Principal | None:
        token = bearer_token(header)
        if token is None:
            return None
        key = apikeys.authenticate(token)
        if key is None:
            return None
        if self.scope is None:
            raise Forbidden("API keys cannot do this; log in as a member")
        if self.scope not in key.scopes:
            raise Forbidden(f"this API key lacks the '{self.scope}' scope")
        return Principal(tenant=key.tenant, api_key=key, scopes=frozenset(key.scopes))

    def _from_session(self, request: HttpRequest, user: Any) -> Principal | None:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            error = check_csrf(request)
            if error:
                raise Forbidden("CSRF check failed")
        tenant, role = resolve_session_tenant(request, user)
        if tenant is None:
            raise Forbidden("you are not a member of any tenant")
        if role not in self.roles and not user.is_superuser:
            raise Forbidden(f"your role ({role or 'none'}) cannot do this")
        return Principal(tenant=tenant, user=user, role=role or "superuser")


def resolve_session_tenant(request: HttpRequest, user: Any) -> tuple[models.Tenant | None, str]:
    """The tenant a logged-in user acts on, and their role there ("" for a superuser who is not
    a member): ``X-KB-Tenant``/``?tenant=`` if given (and theirs); else, for a superuser, the
    tenant they switched to in this session; else the membership they selected last.

    The browser pages and the API both ask this, so they always act on the same tenant."""
    slug = request.META.get(TENANT_HEADER) or request.GET.get("tenant") or ""
    memberships = models.Membership.objects.filter(user_id=user.pk).select_related("tenant")
    if slug:
        membership = memberships.filter(tenant__slug=slug).first()
        if membership is not None:
            return membership.tenant, membership.role
        if user.is_superuser:
            return models.Tenant.objects.filter(slug=slug).first(), ""
        raise Forbidden("you are not a member of this tenant")
    session = getattr(request, "session", None)
    switched = session.get(SESSION_TENANT_KEY) if user.is_superuser and session is not None else None
    if switched:
        tenant = models.Tenant.objects.filter(pk=switched).first()
        if tenant is not None:  # the switcher stores it only for tenants without a membership
            return tenant, ""
    membership = memberships.order_by(F("last_selected_at").desc(nulls_last=True), "tenant__slug").first()
    if membership is not None:
        return membership.tenant, membership.role
    if user.is_superuser:
        return models.Tenant.objects.order_by("slug").first(), ""
    return None, ""
