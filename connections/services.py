"""Writes on connections (DESIGN §9): finishing an authorization (the callback), choosing
sources, asking for a sync run, disconnecting. Each write is one function in one transaction;
tasks are queued on commit and carry a run id only — never a token.

``sync_request`` is the one way a ``SyncRun`` row is created: one active (queued or running)
run per connection — asking again returns the active run. The runs themselves are executed by
``connections.sync`` (``connections.tasks.sync_run``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connections import models, oauth, registry, selectors, tokens
from connections.providers import errors, oauth2
from kbsite.errors import Conflict, Forbidden, InvalidInput
from knowledge import auth, policy_cache
from knowledge import models as kb

log = logging.getLogger(__name__)

TASK_FUNC = "connections.tasks.sync_run"
TASK_GROUP = "connections.sync"
ACTIVE_RUN_STATUSES = (models.RunStatus.QUEUED, models.RunStatus.RUNNING)


# --- sync runs ---------------------------------------------------------------------------------


def task_name(run_id: int) -> str:
    return f"sync-run-{run_id}"


def enqueue(*, run_id: int) -> None:
    """Send the run's task (its id only)."""
    from django_q.tasks import async_task

    timeout = int(getattr(settings, "KB_SYNC_TIMEOUT", 0) or max(settings.KB_INGEST_TIMEOUT, 3600))
    async_task(TASK_FUNC, run_id, task_name=task_name(run_id), group=TASK_GROUP, timeout=timeout)


@dataclass(frozen=True)
class SyncRequest:
    run: models.SyncRun
    created: bool  # False: a run was already queued or running, and is returned


def _lock(connection: models.Connection) -> models.Connection:
    return models.Connection.objects.select_for_update().get(pk=connection.pk, tenant_id=connection.tenant_id)


def sync_request(*, connection: models.Connection, kind: str, trigger: str) -> SyncRequest:
    """Queue a run of ``kind`` (backfill | delta | full | purge) for the connection, or return
    the run already active. Syncs need an ``active`` connection (Conflict otherwise); a purge
    needs a ``revoked`` one and takes the place of queued syncs, which are cancelled."""
    if kind not in models.RunKind.values:
        raise InvalidInput(f"kind must be one of {', '.join(models.RunKind.values)}")
    if trigger not in models.RunTrigger.values:
        raise InvalidInput(f"trigger must be one of {', '.join(models.RunTrigger.values)}")
    with transaction.atomic():
        locked = _lock(connection)
        runs = models.SyncRun.objects.filter(tenant_id=locked.tenant_id, connection=locked)
        if kind == models.RunKind.PURGE:
            if locked.status != models.ConnectionStatus.REVOKED:
                raise Conflict(f"only a revoked connection is purged (this one is {locked.status})")
            now = timezone.now()
            runs.filter(status=models.RunStatus.QUEUED).exclude(kind=models.RunKind.PURGE).update(
                status=models.RunStatus.FAILED, error="cancelled: the connection was disconnected",
                finished_at=now, updated_at=now,
            )
            active = runs.filter(kind=models.RunKind.PURGE, status__in=ACTIVE_RUN_STATUSES).first()
        else:
            if locked.status != models.ConnectionStatus.ACTIVE:
                raise Conflict(
                    f"the connection is {locked.get_status_display().lower()}: "
                    + ("reconnect the account first" if locked.status == models.ConnectionStatus.NEEDS_REAUTH
                       else "it cannot sync")
                )
            active = runs.filter(status__in=ACTIVE_RUN_STATUSES).order_by("-created_at", "-id").first()
        if active is not None:
            return SyncRequest(run=active, created=False)
        run = models.SyncRun.objects.create(
            tenant_id=locked.tenant_id, connection=locked, kind=kind, trigger=trigger,
            status=models.RunStatus.QUEUED,
        )
        run_id = run.pk
        transaction.on_commit(lambda: enqueue(run_id=run_id))
    return SyncRequest(run=run, created=True)


def sync_kind_for(*, connection: models.Connection, full: bool) -> str:
    """What "sync now" means: a full re-enumeration when asked; a backfill until one has
    succeeded; a delta after that."""
    if full:
        return models.RunKind.FULL
    done = models.SyncRun.objects.filter(
        tenant_id=connection.tenant_id, connection=connection, status=models.RunStatus.SUCCEEDED,
        kind__in=[models.RunKind.BACKFILL, models.RunKind.FULL],
    ).exists()
    return models.RunKind.DELTA if done else models.RunKind.BACKFILL


# --- connecting (the browser flow's callback) ---------------------------------------------------


class CallbackError(Exception):
    """The authorization did not complete; ``message`` is for the user. Nothing was created."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CallbackResult:
    connection: models.Connection
    restored: bool
    run: models.SyncRun | None


def _member_role(*, tenant_id: int, user: Any) -> tuple[kb.Tenant, str]:
    tenant = kb.Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        raise CallbackError("The tenant this sign-in was started for no longer exists.")
    membership = kb.Membership.objects.filter(tenant=tenant, user_id=user.pk).first()
    role = membership.role if membership is not None else ""
    if not auth.may(role=role, action=auth.Action.CONNECT_ACCOUNT, is_superuser=bool(user.is_superuser)):
        raise CallbackError("You are not a member of the tenant this sign-in was started for.")
    return tenant, role


def connection_authorize_finish(
    *, provider: str, user: Any, session_key: str | None, state: str, code: str, error: str = "",
    error_description: str = "",
) -> CallbackResult:
    """The callback: check and consume the state, redeem the code (PKCE), read the account's
    label, and create (or restore) the user's connection, ``active``. A provider error, a bad
    or replayed state or a failed exchange raise ``CallbackError`` and create nothing."""
    spec = registry.get(provider)
    if spec is None or not spec.offered():
        raise CallbackError("This provider is not available here.")
    try:
        check = oauth.state_consume(state=state, session_key=session_key, provider=provider)
    except oauth.StateError as exc:
        if error:
            raise CallbackError(f"{spec.display_label()} did not connect the account: {error_description or error}.") from None
        raise CallbackError(str(exc)) from None
    if error:
        reason = error_description.splitlines()[0][:300] if error_description else error
        raise CallbackError(f"{spec.display_label()} did not connect the account: {reason}")
    if not code:
        raise CallbackError("The provider sent no authorization code. Start again.")
    tenant, _role = _member_role(tenant_id=check.tenant_id, user=user)
    try:
        token_set = tokens.code_exchange(provider=provider, code=code, code_verifier=check.code_verifier)
    except errors.ProviderError as exc:
        log.warning("connect %s: code exchange failed (%s)", provider, getattr(exc, "code", "") or type(exc).__name__)
        raise CallbackError(
            f"{spec.display_label()} refused to complete the sign-in ({_plain(exc)}). Start again."
        ) from None
    try:
        account = spec.account(token_set.access_token)
    except errors.ProviderError as exc:
        log.warning("connect %s: reading the account failed (%s)", provider, type(exc).__name__)
        raise CallbackError(f"The account could not be read from {spec.display_label()} ({_plain(exc)}).") from None
    result = tokens.connection_connect(
        tenant=tenant, owner=user, provider=provider, external_account_id=account.external_id,
        account_label=account.label, token_set=token_set,
    )
    run = None
    if result.restored and selectors.sources(connection=result.connection).exists():
        kind = sync_kind_for(connection=result.connection, full=False)
        run = sync_request(connection=result.connection, kind=kind, trigger=models.RunTrigger.CONNECT).run
    log.info("connection %s %s (%s)", result.connection.pk, "restored" if result.restored else "created", provider)
    return CallbackResult(connection=result.connection, restored=result.restored, run=run)


def _plain(exc: Exception) -> str:
    """A provider error as a short sentence (its messages carry no secrets)."""
    if isinstance(exc, oauth2.TokenRefused | oauth2.TokenEndpointError):
        return (getattr(exc, "code", "") or str(exc))[:200]
    return str(exc)[:200]


# --- sources -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceChoice:
    surface: str
    root_id: str
    share: str = models.Share.PERSONAL
    kind: str = kb.Kind.KNOWLEDGE
    mail_tier: str = models.MailTier.SNIPPET


def _validate(choice: SourceChoice, *, spec: registry.ProviderSpec, is_admin: bool) -> None:
    if choice.surface not in spec.surfaces:
        raise InvalidInput(f"surface {choice.surface!r} is not one of {spec.name}'s: {', '.join(spec.surfaces)}")
    if not choice.root_id:
        raise InvalidInput("root_id is required")
    if choice.share not in models.Share.values:
        raise InvalidInput("share must be tenant or personal")
    if choice.kind not in kb.Kind.values:
        raise InvalidInput("kind must be knowledge or policy")
    if choice.mail_tier not in models.MailTier.values:
        raise InvalidInput("mail_tier must be metadata, snippet or body")
    if choice.share == models.Share.TENANT and not is_admin:
        raise Forbidden("only a tenant admin may share a source with the assistant")


def token_source(connection: models.Connection) -> registry.TokenSource:
    def get(refused: str | None) -> str:
        return tokens.access_token_get(connection=connection, refused_token=refused)

    return get


def roots_list(*, connection: models.Connection) -> registry.RootListing:
    """What the connection's account can select now (a provider call). Conflict when the
    connection cannot reach the provider (not active, tokens refused)."""
    spec = registry.get(connection.provider)
    if spec is None:
        raise Conflict(f"provider {connection.provider} is not available")
    if connection.status != models.ConnectionStatus.ACTIVE:
        raise Conflict(f"the connection is {connection.get_status_display().lower()}: its roots cannot be listed")
    try:
        return spec.roots(token_source(connection))
    except tokens.ReauthRequired as exc:
        raise Conflict(exc.reason) from None
    except tokens.NoToken:
        raise Conflict("the connection has no sign-in: reconnect the account") from None
    except errors.Throttled as exc:
        raise Conflict(f"the provider asks us to wait {int(exc.retry_after)} s; try again then") from None
    except errors.ProviderError as exc:
        raise Conflict(f"the provider could not list the roots ({str(exc)[:200]})") from None


@dataclass(frozen=True)
class SourcesResult:
    sources: list[models.ConnectionSource]
    removed: int
    run: models.SyncRun | None


def connection_sources_set(
    *, connection: models.Connection, choices: list[SourceChoice], is_admin: bool,
    roots: registry.RootListing | None = None,
) -> SourcesResult:
    """Replace the connection's selection, then queue a backfill of what is new. Only an
    admin may share with the tenant (Forbidden). A root not selected before must be one the
    provider lists now (its label and details are taken from there). Sources left out are
    deleted; their documents leave with the next run (the engine removes a connection's
    documents that no selected source holds)."""
    spec = registry.get(connection.provider)
    if spec is None:
        raise Conflict(f"provider {connection.provider} is not available")
    seen: set[tuple[str, str]] = set()
    for choice in choices:
        _validate(choice, spec=spec, is_admin=is_admin)
        if (choice.surface, choice.root_id) in seen:
            raise InvalidInput(f"{choice.surface} {choice.root_id} is selected twice")
        seen.add((choice.surface, choice.root_id))
    existing = {(s.surface, s.root_id): s for s in selectors.sources(connection=connection)}
    new = [c for c in choices if (c.surface, c.root_id) not in existing]
    listed: dict[tuple[str, str], registry.Root] = {}
    if new:
        roots = roots if roots is not None else roots_list(connection=connection)
        listed = {(r.surface, r.root_id): r for r in roots.items}
        unknown = [c for c in new if (c.surface, c.root_id) not in listed]
        if unknown:
            raise InvalidInput(f"not a root this account can select: {unknown[0].surface} {unknown[0].root_id}")
    with transaction.atomic():
        locked = _lock(connection)
        if locked.status != models.ConnectionStatus.ACTIVE:
            raise Conflict(f"the connection is {locked.get_status_display().lower()}: sources cannot change")
        _, deleted = models.ConnectionSource.objects.filter(
            tenant_id=locked.tenant_id, connection=locked
        ).exclude(pk__in=[existing[k].pk for k in seen if k in existing]).delete()
        removed = deleted.get(models.ConnectionSource._meta.label, 0)  # cursors cascade too
        changed = bool(removed)
        kept: list[models.ConnectionSource] = []
        for choice in choices:
            key = (choice.surface, choice.root_id)
            source = existing.get(key)
            if source is None:
                root = listed[key]
                source = models.ConnectionSource.objects.create(
                    tenant_id=locked.tenant_id, connection=locked, surface=choice.surface, root_id=choice.root_id,
                    label=root.label, parent_id=root.parent_id, extra=dict(root.extra), share=choice.share,
                    kind=choice.kind, mail_tier=choice.mail_tier,
                )
                changed = True
            elif (source.share, source.kind, source.mail_tier) != (choice.share, choice.kind, choice.mail_tier):
                source.share, source.kind, source.mail_tier = choice.share, choice.kind, choice.mail_tier
                source.save(update_fields=["share", "kind", "mail_tier", "updated_at"])
                changed = True
            kept.append(source)
        run = None
        if changed:
            run = sync_request(connection=locked, kind=models.RunKind.BACKFILL, trigger=models.RunTrigger.SOURCES).run
    return SourcesResult(sources=kept, removed=int(removed), run=run)


# --- disconnecting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevokeResult:
    connection: models.Connection
    run: models.SyncRun
    revoked_at_provider: bool


def connection_revoke(*, connection: models.Connection, reason: str = "") -> RevokeResult:
    """Disconnect: ``revoked`` at once (its content leaves retrieval in this transaction),
    tokens destroyed in the same transaction, queued syncs cancelled, a purge run queued. The
    grant is then revoked at the provider where it offers that (best effort). Any state but
    ``purged``; asking again returns the queued purge."""
    spec = registry.get(connection.provider)
    revoke_url = spec.revoke_url() if spec is not None else ""
    refresh: str | None = None
    with transaction.atomic():
        locked = _lock(connection)
        if locked.status == models.ConnectionStatus.PURGED:
            raise Conflict("the connection is already purged")
        if revoke_url:
            try:
                refresh = tokens.refresh_token_get(connection_id=locked.pk)
            except Exception:  # an unreadable token cannot be revoked; it is destroyed below anyway
                refresh = None
        if locked.status != models.ConnectionStatus.REVOKED:
            locked.status = models.ConnectionStatus.REVOKED
            locked.status_reason = reason or "Disconnected; its documents are being removed."
            locked.next_sync_at = None
            locked.save(update_fields=["status", "status_reason", "next_sync_at", "updated_at"])
            policy_cache.bump(tenant_id=locked.tenant_id)  # its policy leaves the cached block at once
        tokens.tokens_destroy(connection=locked)
        run = sync_request(connection=locked, kind=models.RunKind.PURGE, trigger=models.RunTrigger.REVOKE).run
    revoked = False
    if revoke_url and refresh:
        with oauth2.OAuth2Client(spec.token_endpoint(), timeout=settings.KB_PROVIDER_TIMEOUT) as client:  # type: ignore[union-attr]
            revoked = client.revoke(revoke_url=revoke_url, token=refresh)
    connection.refresh_from_db()
    log.info("connection %s revoked (purge run %s)", connection.pk, run.pk)
    return RevokeResult(connection=connection, run=run, revoked_at_provider=revoked)
