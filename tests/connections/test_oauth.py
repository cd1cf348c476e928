"""OAuth authorization requests: PKCE S256, a signed single-use state, authorize URLs."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connections import models, oauth, tokens
from connections.providers import microsoft, oauth2
from knowledge import models as kb
from tests.fakes.msgraph_server import FakeMicrosoft

SESSION = "session-key-1"


def _query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def test_pkce_challenge_is_s256_of_the_verifier_as_in_rfc_7636() -> None:
    # RFC 7636, appendix B.
    assert oauth.pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    verifier = oauth.pkce_verifier(nonce="n1")
    assert 43 <= len(verifier) <= 128 and verifier == oauth.pkce_verifier(nonce="n1")
    assert verifier != oauth.pkce_verifier(nonce="n2")


def test_state_is_accepted_once_for_its_session_and_provider(db: Any) -> None:
    state, _ = oauth.state_make(session_key=SESSION, tenant_id=7, provider="microsoft")
    check = oauth.state_consume(state=state, session_key=SESSION, provider="microsoft")
    assert check.tenant_id == 7
    with pytest.raises(oauth.StateError, match="already used"):
        oauth.state_consume(state=state, session_key=SESSION, provider="microsoft")


def test_state_from_another_session_provider_or_tampered_is_refused(db: Any) -> None:
    state, _ = oauth.state_make(session_key=SESSION, tenant_id=7, provider="microsoft")
    with pytest.raises(oauth.StateError, match="another browser session"):
        oauth.state_consume(state=state, session_key="other-session", provider="microsoft")
    with pytest.raises(oauth.StateError, match="another provider"):
        oauth.state_consume(state=state, session_key=SESSION, provider="google")
    with pytest.raises(oauth.StateError):
        oauth.state_consume(state=state[:-2] + "xx", session_key=SESSION, provider="microsoft")
    with pytest.raises(oauth.StateError):
        oauth.state_consume(state=state, session_key=None, provider="microsoft")
    # None of the refusals consumed it.
    assert oauth.state_consume(state=state, session_key=SESSION, provider="microsoft").tenant_id == 7


def test_state_older_than_ten_minutes_is_refused(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 601)
    state, _ = oauth.state_make(session_key=SESSION, tenant_id=7, provider="microsoft")
    monkeypatch.setattr(time, "time", real)
    with pytest.raises(oauth.StateError, match="expired"):
        oauth.state_consume(state=state, session_key=SESSION, provider="microsoft")


def test_state_does_not_carry_the_session_key(db: Any) -> None:
    state, _ = oauth.state_make(session_key="very-secret-session-key", tenant_id=7, provider="microsoft")
    import base64

    decoded = base64.urlsafe_b64decode(state.split(":")[0] + "==")
    assert b"very-secret-session-key" not in decoded


def test_microsoft_authorize_url_asks_offline_access_with_pkce_and_the_exact_redirect(settings: Any) -> None:
    settings.KB_MS_CLIENT_ID = "ms-client"
    settings.KB_MS_AUTHORITY = "https://login.example/common"
    settings.KB_PUBLIC_URL = "https://kb.example"
    url = oauth.authorization_start(session_key=SESSION, tenant_id=1, provider="microsoft")
    assert url.startswith("https://login.example/common/oauth2/v2.0/authorize?")
    q = _query(url)
    assert q["redirect_uri"] == "https://kb.example/connections/callback/microsoft"
    assert "offline_access" in q["scope"].split()
    assert q["code_challenge_method"] == "S256" and q["response_type"] == "code"
    nonce = oauth.state_read(state=q["state"], session_key=SESSION, provider="microsoft").nonce
    assert q["code_challenge"] == oauth.pkce_challenge(oauth.pkce_verifier(nonce=nonce))


def test_google_authorize_url_asks_offline_access_with_consent_and_pkce(settings: Any) -> None:
    settings.KB_GOOGLE_CLIENT_ID = "g-client"
    settings.KB_GOOGLE_AUTH_URL = "https://accounts.example/o/oauth2/v2/auth"
    settings.KB_PUBLIC_URL = "https://kb.example"
    q = _query(oauth.authorization_start(session_key=SESSION, tenant_id=1, provider="google"))
    assert q["access_type"] == "offline" and q["prompt"] == "consent"
    assert q["code_challenge_method"] == "S256" and q["code_challenge"]
    assert q["redirect_uri"] == "https://kb.example/connections/callback/google"


def test_clickup_authorize_url_carries_client_id_redirect_and_state_only(settings: Any) -> None:
    settings.KB_CLICKUP_CLIENT_ID = "cu-client"
    settings.KB_CLICKUP_AUTH_URL = "https://app.clickup.example/api"
    settings.KB_PUBLIC_URL = "https://kb.example"
    url = oauth.authorization_start(session_key=SESSION, tenant_id=1, provider="clickup")
    assert url.startswith("https://app.clickup.example/api?")
    assert set(_query(url)) == {"client_id", "redirect_uri", "state"}


def test_only_providers_with_a_client_id_are_offered(settings: Any) -> None:
    settings.KB_MS_CLIENT_ID = "x"
    settings.KB_GOOGLE_CLIENT_ID = ""
    settings.KB_CLICKUP_CLIENT_ID = ""
    assert oauth.configured_providers() == ["microsoft"]


def test_authorization_round_trip_with_the_identity_server_connects_the_account(
    ms: FakeMicrosoft, tenant: kb.Tenant, admin_member: Any
) -> None:
    url = oauth.authorization_start(session_key=SESSION, tenant_id=tenant.pk, provider="microsoft")
    answer = httpx.get(url)  # the browser at the provider: consent, then back to us
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith("http://kb.test/connections/callback/microsoft?")
    q = _query(location)
    check = oauth.state_consume(state=q["state"], session_key=SESSION, provider="microsoft")
    token_set = tokens.code_exchange(provider="microsoft", code=q["code"], code_verifier=check.code_verifier)
    with microsoft.GraphClient(graph_url=ms.graph_url, token=lambda _r: token_set.access_token) as graph:
        account = graph.me()
    result = tokens.connection_connect(
        tenant=tenant, owner=admin_member, provider="microsoft", external_account_id=account.id,
        account_label=account.label, token_set=token_set,
    )
    assert result.connection.status == models.ConnectionStatus.ACTIVE
    assert result.connection.account_label == "dana@brightsmile.example"
    assert tokens.access_token_get(connection=result.connection) == token_set.access_token


def test_code_exchange_with_a_wrong_verifier_is_refused(ms: FakeMicrosoft, db: Any) -> None:
    url = oauth.authorization_start(session_key=SESSION, tenant_id=1, provider="microsoft")
    q = _query(httpx.get(url).headers["Location"])
    with pytest.raises(oauth2.TokenRefused) as info:
        tokens.code_exchange(provider="microsoft", code=q["code"], code_verifier="x" * 43)
    assert info.value.code == "invalid_grant"
    assert not models.Connection.objects.exists()


def test_a_redeemed_code_cannot_be_redeemed_again(ms: FakeMicrosoft, db: Any) -> None:
    url = oauth.authorization_start(session_key=SESSION, tenant_id=1, provider="microsoft")
    q = _query(httpx.get(url).headers["Location"])
    check = oauth.state_read(state=q["state"], session_key=SESSION, provider="microsoft")
    tokens.code_exchange(provider="microsoft", code=q["code"], code_verifier=check.code_verifier)
    with pytest.raises(oauth2.TokenRefused):
        tokens.code_exchange(provider="microsoft", code=q["code"], code_verifier=check.code_verifier)
