"""Connection tokens (service): store them encrypted, hand out a valid access token,
refresh it single-flight under a row lock, and turn a refused grant into ``needs_reauth``.

Refresh is single-flight: the token row is locked (``SELECT … FOR UPDATE``) for the whole
refresh, and whoever gets the lock second sees the fresh token and does not refresh again —
Entra rotates refresh tokens, so two concurrent refreshes with the same one end in
``invalid_grant`` for the loser. A rotated refresh token is always persisted in the same
transaction as the access token it came with.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from connections import crypto, models
from connections.providers import oauth2
from knowledge import models as kb
from knowledge import policy_cache

log = logging.getLogger(__name__)

# Refresh this long before the provider says the access token expires.
EXPIRY_MARGIN = timedelta(seconds=120)

# Scopes asked for per provider (Microsoft needs offline_access for a refresh token).
MICROSOFT_SCOPES = (
    "offline_access",
    "User.Read",
    "Files.Read.All",
    "Sites.Read.All",
    "Mail.Read",
    "Team.ReadBasic.All",
    "Channel.ReadBasic.All",
    "ChannelMessage.Read.All",
)
GOOGLE_SCOPES = (
    "openid",
    "email",
    "https://www.googleapis.com/auth/drive.readonly",
    "https://www.googleapis.com/auth/gmail.readonly",
)

_REASONS = {
    "invalid_grant": (
        "{provider} no longer accepts this connection's sign-in (it was revoked, expired, or "
        "the password changed). Reconnect the account to resume syncing."
    ),
    "interaction_required": (
        "{provider} needs you to sign in again (for example multi-factor authentication or a "
        "new consent). Reconnect the account to resume syncing."
    ),
    "login_required": "{provider} needs you to sign in again. Reconnect the account to resume syncing.",
    "consent_required": (
        "{provider} needs a consent that has not been given (some permissions need your "
        "organisation's administrator to approve this app). Ask them, then reconnect."
    ),
    "no_refresh": (
        "{provider} gave no refresh token, so the connection lapsed when its access expired. "
        "Reconnect the account."
    ),
}
_DEFAULT_REASON = (
    "{provider} refused this connection's access (401). Reconnect the account to resume syncing."
)


class ReauthRequired(Exception):
    """The connection's grant is dead; it is now ``needs_reauth`` with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NoToken(Exception):
    """The connection has no token row (never connected, or its tokens were destroyed)."""


def reauth_reason(*, provider: str, code: str) -> str:
    label = models.Provider(provider).label if provider in models.Provider.values else provider
    return _REASONS.get(code, _DEFAULT_REASON).format(provider=label)


# --- endpoints from settings -----------------------------------------------------------------


def redirect_uri(provider: str) -> str:
    """Exactly ``{KB_PUBLIC_URL}/connections/callback/{provider}`` (DESIGN §9)."""
    return f"{settings.KB_PUBLIC_URL}/connections/callback/{provider}"


def token_endpoint(provider: str) -> oauth2.TokenEndpoint:
    if provider == models.Provider.MICROSOFT:
        return oauth2.TokenEndpoint(
            token_url=f"{settings.KB_MS_AUTHORITY}/oauth2/v2.0/token",
            client_id=settings.KB_MS_CLIENT_ID,
            client_secret=settings.KB_MS_CLIENT_SECRET,
            scopes=MICROSOFT_SCOPES,
        )
    if provider == models.Provider.GOOGLE:
        return oauth2.TokenEndpoint(
            token_url=settings.KB_GOOGLE_TOKEN_URL,
            client_id=settings.KB_GOOGLE_CLIENT_ID,
            client_secret=settings.KB_GOOGLE_CLIENT_SECRET,
            scopes=GOOGLE_SCOPES,
            send_scope=False,
        )
    if provider == models.Provider.CLICKUP:
        return oauth2.TokenEndpoint(
            token_url=f"{settings.KB_CLICKUP_API_URL}/oauth/token",
            client_id=settings.KB_CLICKUP_CLIENT_ID,
            client_secret=settings.KB_CLICKUP_CLIENT_SECRET,
            style="clickup",
        )
    raise ValueError(f"unknown provider {provider!r}")


def token_client(provider: str) -> oauth2.OAuth2Client:
    return oauth2.OAuth2Client(token_endpoint(provider), timeout=settings.KB_PROVIDER_TIMEOUT)


# --- storage ---------------------------------------------------------------------------------


def _context(connection_id: int, field: str) -> str:
    return f"connection:{connection_id}:{field}"


def _expires_at(token_set: oauth2.TokenSet, now: datetime) -> datetime | None:
    if token_set.expires_in is None:
        return None
    return now + timedelta(seconds=max(token_set.expires_in, 0))


def _write(row: models.ConnectionToken, token_set: oauth2.TokenSet, *, now: datetime) -> None:
    cid = row.connection_id
    row.access_token_enc = crypto.encrypt(token_set.access_token, context=_context(cid, "access"))
    if token_set.refresh_token:
        # Always keep the newest refresh token: providers that rotate them (Entra) invalidate
        # the old one on use.
        row.refresh_token_enc = crypto.encrypt(
            token_set.refresh_token, context=_context(cid, "refresh")
        )
    elif row.refresh_token_enc is not None and row.key_id != crypto.current_key_id():
        # The refresh token is kept but every blob of the row must be under one key.
        row.refresh_token_enc = crypto.rotate(row.refresh_token_enc)
    row.key_id = crypto.current_key_id()
    row.expires_at = _expires_at(token_set, now)
    if token_set.scope:
        row.scopes = token_set.scope
    row.refreshed_at = now


def token_store(*, connection: models.Connection, token_set: oauth2.TokenSet) -> models.ConnectionToken:
    """Create or replace the connection's tokens (after a code exchange)."""
    now = timezone.now()
    with transaction.atomic():
        row = (
            models.ConnectionToken.objects.select_for_update()
            .filter(connection=connection)
            .first()
        )
        if row is None:
            row = models.ConnectionToken(connection=connection, tenant_id=connection.tenant_id)
        else:
            # A new grant replaces the old one entirely, refresh token included.
            row.refresh_token_enc = None
        _write(row, token_set, now=now)
        row.save()
    return row


def tokens_destroy(*, connection: models.Connection) -> int:
    """Delete the connection's tokens (disconnect, erasure). Returns rows deleted."""
    deleted, _ = models.ConnectionToken.objects.filter(connection=connection).delete()
    return int(deleted)


def _decrypt(row: models.ConnectionToken, field: str) -> str | None:
    blob = row.access_token_enc if field == "access" else row.refresh_token_enc
    if blob is None:
        return None
    return crypto.decrypt(blob, context=_context(row.connection_id, field))


def refresh_token_get(*, connection_id: int) -> str | None:
    """The stored refresh token in plaintext (provider revocation on disconnect)."""
    row = models.ConnectionToken.objects.filter(connection_id=connection_id).first()
    return _decrypt(row, "refresh") if row else None


# --- status ------------------------------------------------------------------------------


def connection_mark_needs_reauth(*, connection_id: int, reason: str) -> bool:
    """``needs_reauth`` with a reason the user can act on; scheduling stops. Only a live
    connection changes (a revoked or purged one stays as it is). True when it changed."""
    updated = models.Connection.objects.filter(
        pk=connection_id,
        status__in=[models.ConnectionStatus.CONNECTING, models.ConnectionStatus.ACTIVE],
    ).update(
        status=models.ConnectionStatus.NEEDS_REAUTH,
        status_reason=reason,
        next_sync_at=None,
        updated_at=timezone.now(),
    )
    if updated:  # its policy documents leave the cached policy block too
        tenant_id = models.Connection.objects.filter(pk=connection_id).values_list("tenant_id", flat=True).first()
        if tenant_id is not None:
            policy_cache.bump(tenant_id=tenant_id)
    return bool(updated)


def _refused(connection: models.Connection, exc: oauth2.TokenRefused) -> ReauthRequired:
    reason = reauth_reason(provider=connection.provider, code=exc.code)
    connection_mark_needs_reauth(connection_id=connection.pk, reason=reason)
    log.warning(
        "connection %s needs reauth: %s (%s)", connection.pk, exc.code, connection.provider
    )
    return ReauthRequired(reason)


# --- access tokens ---------------------------------------------------------------------------


def _is_fresh(row: models.ConnectionToken, now: datetime) -> bool:
    return row.expires_at is None or row.expires_at - EXPIRY_MARGIN > now


def access_token_get(
    *,
    connection: models.Connection,
    client: oauth2.OAuth2Client | None = None,
    refused_token: str | None = None,
) -> str:
    """A valid access token for the connection, refreshed first when it is about to expire.

    ``refused_token``: the provider just answered 401 to this access token; refresh unless the
    stored token is already a newer one (someone else refreshed meanwhile). Raises
    ``ReauthRequired`` (and marks the connection) when the grant is dead, ``NoToken`` when
    there is none, and the provider errors (Throttled, TokenEndpointError) when passing.
    """
    now = timezone.now()
    row = models.ConnectionToken.objects.filter(connection=connection).first()
    if row is None:
        raise NoToken(f"connection {connection.pk} has no token")
    current = _decrypt(row, "access")
    if current is not None and _is_fresh(row, now) and current != refused_token:
        return current
    refusal: oauth2.TokenRefused | None = None
    with transaction.atomic():
        row = (
            models.ConnectionToken.objects.select_for_update()
            .filter(connection=connection)
            .first()
        )
        if row is None:
            raise NoToken(f"connection {connection.pk} has no token")
        current = _decrypt(row, "access")
        now = timezone.now()
        if current is not None and _is_fresh(row, now) and current != refused_token:
            return current  # another process refreshed while we waited for the lock
        refresh = _decrypt(row, "refresh")
        if not refresh:
            refusal = oauth2.TokenRefused("no refresh token", status=401, code="no_refresh")
        else:
            owned = client is None
            client = client or token_client(connection.provider)
            try:
                token_set = client.refresh(refresh_token=refresh)
            except oauth2.TokenRefused as exc:
                refusal = exc
            else:
                _write(row, token_set, now=timezone.now())
                row.save()
                return token_set.access_token
            finally:
                if owned:
                    client.close()
    # Recorded after the lock's transaction, so the status change is never rolled back.
    assert refusal is not None
    raise _refused(connection, refusal)


# --- connecting ------------------------------------------------------------------------------


def code_exchange(
    *, provider: str, code: str, code_verifier: str | None, client: oauth2.OAuth2Client | None = None
) -> oauth2.TokenSet:
    """Redeem an authorization code (the callback). Raises oauth2.TokenRefused / TokenEndpointError."""
    owned = client is None
    client = client or token_client(provider)
    try:
        return client.exchange_code(code=code, redirect_uri=redirect_uri(provider), code_verifier=code_verifier)
    finally:
        if owned:
            client.close()


@dataclass(frozen=True)
class ConnectResult:
    connection: models.Connection
    restored: bool  # True: the same account was connected before and is live again


def connection_connect(
    *,
    tenant: kb.Tenant,
    owner: Any,
    provider: str,
    external_account_id: str,
    account_label: str,
    token_set: oauth2.TokenSet,
) -> ConnectResult:
    """Create the connection for a newly authorised account, or restore the owner's live
    connection of the same account (``needs_reauth`` → ``active``, its sources, cursors and
    documents kept, so nothing unchanged is re-embedded). Stores the tokens."""
    with transaction.atomic():
        existing = (
            models.Connection.objects.select_for_update()
            .filter(
                tenant=tenant,
                owner=owner,
                provider=provider,
                external_account_id=external_account_id,
                status__in=models.LIVE_STATUSES,
            )
            .first()
            if external_account_id
            else None
        )
        if existing is not None:
            existing.status = models.ConnectionStatus.ACTIVE
            existing.status_reason = ""
            existing.account_label = account_label or existing.account_label
            existing.next_sync_at = timezone.now()
            existing.save(update_fields=["status", "status_reason", "account_label", "next_sync_at", "updated_at"])
            policy_cache.bump(tenant_id=existing.tenant_id)  # served again: its policy too
            token_store(connection=existing, token_set=token_set)
            return ConnectResult(connection=existing, restored=True)
        try:
            with transaction.atomic():
                connection = models.Connection.objects.create(
                    tenant=tenant,
                    owner=owner,
                    provider=provider,
                    external_account_id=external_account_id,
                    account_label=account_label,
                    status=models.ConnectionStatus.ACTIVE,
                    next_sync_at=timezone.now(),
                )
        except IntegrityError:
            # The same account connected concurrently: the other callback won; use its row.
            connection = models.Connection.objects.get(
                tenant=tenant,
                owner=owner,
                provider=provider,
                external_account_id=external_account_id,
                status__in=models.LIVE_STATUSES,
            )
            token_store(connection=connection, token_set=token_set)
            return ConnectResult(connection=connection, restored=True)
        token_store(connection=connection, token_set=token_set)
        return ConnectResult(connection=connection, restored=False)


# --- key rotation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RotateResult:
    rotated: int
    already_current: int
    key_id: str


def token_keys_rotate(*, batch_size: int = 200) -> RotateResult:
    """Re-encrypt every token row with the newest key of ``KB_TOKEN_KEYS``, in batches of
    locked rows, so a refresh running meanwhile is neither lost nor overwritten."""
    newest = crypto.current_key_id()
    rotated = 0
    ids = list(
        models.ConnectionToken.objects.exclude(key_id=newest).order_by("pk").values_list("pk", flat=True)
    )
    for start in range(0, len(ids), batch_size):
        with transaction.atomic():
            rows = models.ConnectionToken.objects.select_for_update().filter(
                pk__in=ids[start : start + batch_size]
            ).exclude(key_id=newest)
            for row in rows:
                row.access_token_enc = crypto.rotate(row.access_token_enc)
                if row.refresh_token_enc is not None:
                    row.refresh_token_enc = crypto.rotate(row.refresh_token_enc)
                row.key_id = newest
                row.save(update_fields=["access_token_enc", "refresh_token_enc", "key_id", "updated_at"])
                rotated += 1
    already = models.ConnectionToken.objects.filter(key_id=newest).count() - rotated
    return RotateResult(rotated=rotated, already_current=already, key_id=newest)
