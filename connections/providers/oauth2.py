"""A provider-agnostic OAuth 2.0 token client (authorization code with PKCE, refresh) over
httpx, parameterised by URLs. Pure: no ORM, no settings. Speaks the Microsoft identity
platform v2 wire format, which Google's token endpoint shares (form POST, JSON answer,
``{"error", "error_description"}`` on failure); ClickUp's query-string token call is the
``style="clickup"`` variant (no refresh token, tokens do not expire).

Tokens never appear in a repr, an exception message or a log line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx

from connections.providers import errors

# Errors that mean "the user must sign in again"; anything else is our configuration or a
# passing failure.
REAUTH_ERRORS = frozenset(
    {"invalid_grant", "interaction_required", "consent_required", "login_required", "unauthorized_client_user"}
)


@dataclass(frozen=True, repr=False)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_in: int | None  # seconds; None = does not expire (ClickUp)
    scope: str
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret

    def __repr__(self) -> str:
        return f"<TokenSet expires_in={self.expires_in} refresh={'yes' if self.refresh_token else 'no'}>"


@dataclass(frozen=True)
class TokenEndpoint:
    token_url: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = ()
    style: Literal["form", "clickup"] = "form"
    # Microsoft wants the scopes again on code redemption and refresh; Google ignores them.
    send_scope: bool = True


class TokenRefused(errors.ProviderError):
    """The grant is dead (invalid_grant, interaction_required, 401…): reconnect needed.
    ``code`` is the OAuth error code; the message is the provider's description (no secrets)."""


class TokenEndpointError(errors.ProviderError):
    """The token endpoint failed otherwise (5xx, invalid_client, unreadable answer)."""


def _token_set(payload: dict[str, Any], *, style: str) -> TokenSet:
    access = payload.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenEndpointError("token endpoint answered without an access_token", status=200)
    refresh = payload.get("refresh_token")
    expires = payload.get("expires_in")
    try:
        expires_in = int(expires) if expires is not None and style != "clickup" else None
    except (TypeError, ValueError):
        expires_in = None
    return TokenSet(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_in=expires_in,
        scope=str(payload.get("scope") or ""),
        token_type=str(payload.get("token_type") or "Bearer"),
    )


def _raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("error") or body.get("ECODE") or "")
    description = str(body.get("error_description") or body.get("err") or "")
    # The first line of AADSTS descriptions names the cause; the rest is trace noise.
    description = description.splitlines()[0][:300] if description else ""
    status = response.status_code
    if status in (429, 503):
        raise errors.Throttled(
            f"token endpoint throttled ({status})",
            retry_after=errors.parse_retry_after(response.headers.get("Retry-After")),
            status=status,
        )
    if code == "invalid_client":
        # Our client id or secret is wrong (Entra answers 401): an operator's problem, not the user's.
        raise TokenEndpointError(f"token endpoint error {status}: invalid_client", status=status, code=code)
    if code in REAUTH_ERRORS or status == 401 or code.startswith("OAUTH_"):
        raise TokenRefused(description or f"token refused ({code or status})", status=status, code=code or str(status))
    raise TokenEndpointError(
        f"token endpoint error {status}{': ' + code if code else ''}{' - ' + description if description else ''}",
        status=status,
        code=code,
    )


class OAuth2Client:
    def __init__(self, endpoint: TokenEndpoint, *, http: httpx.Client | None = None, timeout: float = 30) -> None:
        self.endpoint = endpoint
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> OAuth2Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, form: dict[str, str]) -> TokenSet:
        ep = self.endpoint
        try:
            if ep.style == "clickup":
                # ClickUp: POST /oauth/token?client_id&client_secret&code, no body.
                response = self._http.post(ep.token_url, params=form)
            else:
                response = self._http.post(
                    ep.token_url, data=form, headers={"Accept": "application/json"}
                )
        except httpx.HTTPError as exc:
            raise TokenEndpointError(f"token endpoint unreachable: {type(exc).__name__}") from None
        _raise_for_error(response)
        try:
            payload = response.json()
        except ValueError:
            raise TokenEndpointError("token endpoint answered with something not JSON", status=response.status_code) from None
        if not isinstance(payload, dict):
            raise TokenEndpointError("token endpoint answered with something not an object", status=response.status_code)
        return _token_set(payload, style=ep.style)

    def _client_fields(self) -> dict[str, str]:
        ep = self.endpoint
        fields = {"client_id": ep.client_id}
        if ep.client_secret:
            fields["client_secret"] = ep.client_secret
        if ep.scopes and ep.send_scope:
            fields["scope"] = " ".join(ep.scopes)
        return fields

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
        if self.endpoint.style == "clickup":
            return self._post(
                {"client_id": self.endpoint.client_id, "client_secret": self.endpoint.client_secret, "code": code}
            )
        form = {
            **self._client_fields(),
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
        }
        if code_verifier:
            form["code_verifier"] = code_verifier
        return self._post(form)

    def refresh(self, *, refresh_token: str) -> TokenSet:
        if self.endpoint.style == "clickup":
            raise TokenRefused("this provider issues no refresh tokens", status=401, code="no_refresh")
        return self._post(
            {**self._client_fields(), "grant_type": "refresh_token", "refresh_token": refresh_token}
        )

    def revoke(self, *, revoke_url: str, token: str) -> bool:
        """Best-effort revocation (Google's ``POST revoke?token=``); True when accepted."""
        try:
            response = self._http.post(
                revoke_url,
                data={"token": token},
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        except httpx.HTTPError:
            return False
        return response.status_code < 400
