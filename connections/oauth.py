"""OAuth authorization requests: PKCE (S256), a signed single-use ``state`` and the
authorize URLs of DESIGN §9.

The ``state`` is ``django.core.signing`` over {nonce, session, tenant, provider}: it expires
after ten minutes, is bound to the browser session (a hash of its key: the session key itself
never leaves the server) and to the tenant and provider, and its nonce is consumed once (a
row in ``ConsumedOAuthState``), so a replayed state is refused. The PKCE verifier is derived
from the nonce with the server's secret (HMAC): nothing has to be stored between the redirect
and the callback, and only this server can compute it.

The URL builders are pure (arguments in, string out); ``authorization_start`` and
``state_consume`` are the thin parts that read settings and the database.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from connections import models, tokens

STATE_MAX_AGE = timedelta(minutes=10)
_STATE_SALT = "connections.oauth.state"
_PKCE_SALT = "connections.oauth.pkce"


class StateError(Exception):
    """A bad, expired, replayed or foreign ``state``: the callback creates nothing."""


# --- PKCE (RFC 7636) ----------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_verifier(*, nonce: str, secret: str | None = None) -> str:
    """43 characters of url-safe base64 (RFC 7636: 43..128 of [A-Za-z0-9-._~])."""
    digest = salted_hmac(_PKCE_SALT, nonce, secret=secret, algorithm="sha256").digest()
    return _b64(digest)


def pkce_challenge(verifier: str) -> str:
    """S256: BASE64URL(SHA256(ASCII(verifier))), unpadded."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


# --- state ---------------------------------------------------------------------------------------


def _session_binding(session_key: str) -> str:
    return hashlib.sha256(f"kb-oauth:{session_key}".encode()).hexdigest()[:32]


def state_make(*, session_key: str, tenant_id: int, provider: str, nonce: str | None = None) -> tuple[str, str]:
    """A signed state and its nonce."""
    nonce = nonce or secrets.token_urlsafe(24)
    payload = {"n": nonce, "s": _session_binding(session_key), "t": tenant_id, "p": provider}
    return signing.dumps(payload, salt=_STATE_SALT, compress=False), nonce


@dataclass(frozen=True)
class StateCheck:
    tenant_id: int
    provider: str
    nonce: str
    code_verifier: str


def state_read(*, state: str, session_key: str | None, provider: str) -> StateCheck:
    """Check a state's signature, age and bindings, without consuming it."""
    if not state or not session_key:
        raise StateError("The sign-in request is missing or does not belong to this browser session.")
    try:
        payload = signing.loads(state, salt=_STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.SignatureExpired:
        raise StateError("The sign-in request expired (after 10 minutes). Start again.") from None
    except signing.BadSignature:
        raise StateError("The sign-in request is not valid. Start again.") from None
    if not isinstance(payload, dict):
        raise StateError("The sign-in request is not valid. Start again.")
    if not constant_time_compare(str(payload.get("s", "")), _session_binding(session_key)):
        raise StateError("The sign-in request was started in another browser session. Start again.")
    if payload.get("p") != provider:
        raise StateError("The sign-in request was for another provider. Start again.")
    nonce = str(payload.get("n", ""))
    tenant_id = payload.get("t")
    if not nonce or not isinstance(tenant_id, int):
        raise StateError("The sign-in request is not valid. Start again.")
    return StateCheck(tenant_id=tenant_id, provider=provider, nonce=nonce, code_verifier=pkce_verifier(nonce=nonce))


def state_consume(*, state: str, session_key: str | None, provider: str) -> StateCheck:
    """Check a state and consume its nonce: the second use of one state is refused."""
    check = state_read(state=state, session_key=session_key, provider=provider)
    nonce_hash = hashlib.sha256(check.nonce.encode()).hexdigest()
    try:
        with transaction.atomic():
            models.ConsumedOAuthState.objects.create(nonce=nonce_hash)
    except IntegrityError:
        raise StateError("This sign-in request was already used. Start again.") from None
    # States older than their lifetime are refused by their signature anyway.
    models.ConsumedOAuthState.objects.filter(created_at__lt=timezone.now() - 2 * STATE_MAX_AGE).delete()
    return check


# --- authorize URLs (pure) -----------------------------------------------------------------------


def microsoft_authorize_url(
    *, authority: str, client_id: str, redirect_uri: str, scopes: tuple[str, ...], state: str, code_challenge: str
) -> str:
    params = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "response_mode": "query",
        "scope": " ".join(scopes),
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    return f"{authority.rstrip('/')}/oauth2/v2.0/authorize?{urlencode(params)}"


def google_authorize_url(
    *, auth_url: str, client_id: str, redirect_uri: str, scopes: tuple[str, ...], state: str, code_challenge: str
) -> str:
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(scopes),
        # Without both, Google returns no refresh token after the first consent and the
        # connection dies within the hour.
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    return f"{auth_url}?{urlencode(params)}"


def clickup_authorize_url(*, auth_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    # ClickUp supports neither PKCE nor scopes.
    params = {"client_id": client_id, "redirect_uri": redirect_uri, "state": state}
    return f"{auth_url}?{urlencode(params)}"


# --- thin: settings --------------------------------------------------------------------------------


def provider_client_id(provider: str) -> str:
    return {
        models.Provider.MICROSOFT: settings.KB_MS_CLIENT_ID,
        models.Provider.GOOGLE: settings.KB_GOOGLE_CLIENT_ID,
        models.Provider.CLICKUP: settings.KB_CLICKUP_CLIENT_ID,
    }.get(models.Provider(provider), "")


def configured_providers() -> list[str]:
    """Providers offered to users: those whose client id is set."""
    return [p for p in models.Provider.values if provider_client_id(p)]


def authorize_url(*, provider: str, state: str, nonce: str) -> str:
    redirect = tokens.redirect_uri(provider)
    client_id = provider_client_id(provider)
    challenge = pkce_challenge(pkce_verifier(nonce=nonce))
    if provider == models.Provider.MICROSOFT:
        return microsoft_authorize_url(
            authority=settings.KB_MS_AUTHORITY,
            client_id=client_id,
            redirect_uri=redirect,
            scopes=tokens.MICROSOFT_SCOPES,
            state=state,
            code_challenge=challenge,
        )
    if provider == models.Provider.GOOGLE:
        return google_authorize_url(
            auth_url=settings.KB_GOOGLE_AUTH_URL,
            client_id=client_id,
            redirect_uri=redirect,
            scopes=tokens.GOOGLE_SCOPES,
            state=state,
            code_challenge=challenge,
        )
    if provider == models.Provider.CLICKUP:
        return clickup_authorize_url(
            auth_url=settings.KB_CLICKUP_AUTH_URL, client_id=client_id, redirect_uri=redirect, state=state
        )
    raise ValueError(f"unknown provider {provider!r}")


def authorization_start(*, session_key: str, tenant_id: int, provider: str) -> str:
    """The provider's authorize URL for this session, tenant and provider (the connect view
    redirects to it). ClickUp gets no PKCE; the state protects it alike."""
    state, nonce = state_make(session_key=session_key, tenant_id=tenant_id, provider=provider)
    return authorize_url(provider=provider, state=state, nonce=nonce)
