"""Token service against the local identity server: refresh single-flight under a row lock,
rotated refresh tokens persisted, refused grants turned into needs_reauth."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from connections import models, tokens
from connections.providers import errors, microsoft, oauth2
from tests.fakes.msgraph_server import FakeMicrosoft


def _expire(connection: models.Connection) -> None:
    models.ConnectionToken.objects.filter(connection=connection).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_fresh_access_token_is_served_without_calling_the_identity_server(
    ms: FakeMicrosoft, connection: models.Connection
) -> None:
    first = tokens.access_token_get(connection=connection)
    assert tokens.access_token_get(connection=connection) == first
    assert ms.requests_to("/oauth2/v2.0/token") == []


def test_an_expiring_token_is_refreshed_and_the_rotated_refresh_token_persisted(
    ms: FakeMicrosoft, connection: models.Connection
) -> None:
    old_access = tokens.access_token_get(connection=connection)
    old_refresh = tokens.refresh_token_get(connection_id=connection.pk)
    _expire(connection)
    new_access = tokens.access_token_get(connection=connection)
    assert new_access != old_access
    new_refresh = tokens.refresh_token_get(connection_id=connection.pk)
    assert new_refresh and new_refresh != old_refresh
    row = models.ConnectionToken.objects.get(connection=connection)
    assert row.expires_at and row.expires_at > timezone.now() + timedelta(minutes=50)
    # The rotated one works; the old one is dead at the provider.
    _expire(connection)
    assert tokens.access_token_get(connection=connection) not in (old_access, new_access)
    assert ms.refresh_grants == 2


def test_the_refresh_request_carries_the_scopes_and_client_credentials(
    ms: FakeMicrosoft, connection: models.Connection
) -> None:
    _expire(connection)
    tokens.access_token_get(connection=connection)
    (request,) = ms.requests_to("/oauth2/v2.0/token")
    assert request.method == "POST"
    assert request.form["grant_type"] == "refresh_token"
    assert request.form["client_id"] == ms.client_id
    assert "offline_access" in request.form["scope"].split()


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_are_single_flight(
    ms: FakeMicrosoft, connect: Callable[..., models.Connection]
) -> None:
    connection = connect()
    _expire(connection)
    results: list[str] = []
    failures: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            barrier.wait()
            results.append(tokens.access_token_get(connection=connection))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not failures
    assert ms.refresh_grants == 1
    assert len(set(results)) == 1
    connection.refresh_from_db()
    assert connection.status == models.ConnectionStatus.ACTIVE


def test_a_revoked_grant_marks_the_connection_needs_reauth_and_stops_scheduling(
    ms: FakeMicrosoft, connection: models.Connection
) -> None:
    ms.revoke_grant()
    _expire(connection)
    with pytest.raises(tokens.ReauthRequired) as info:
        tokens.access_token_get(connection=connection)
    connection.refresh_from_db()
    assert connection.status == models.ConnectionStatus.NEEDS_REAUTH
    assert connection.next_sync_at is None
    assert "Reconnect the account" in connection.status_reason
    assert info.value.reason == connection.status_reason
    assert "AADSTS" not in connection.status_reason


def test_interaction_required_asks_the_user_to_sign_in_again(
    ms: FakeMicrosoft, connection: models.Connection
) -> None:
    ms.require_interaction()
    _expire(connection)
    with pytest.raises(tokens.ReauthRequired):
        tokens.access_token_get(connection=connection)
    connection.refresh_from_db()
    assert connection.status == models.ConnectionStatus.NEEDS_REAUTH
    assert "sign in again" in connection.status_reason


def test_a_wrong_client_secret_fails_the_call_without_blaming_the_user(
    settings: Any, ms: FakeMicrosoft, connection: models.Connection
) -> None:
    settings.KB_MS_CLIENT_SECRET = "wrong"
    _expire(connection)
    with pytest.raises(oauth2.TokenEndpointError, match="invalid_client"):
        tokens.access_token_get(connection=connection)
    connection.refresh_from_db()
    assert connection.status == models.ConnectionStatus.ACTIVE


def test_a_connection_without_a_refresh_token_needs_reauth_when_its_access_expires(
    ms: FakeMicrosoft, connection: models.Connection
) -> None:
    models.ConnectionToken.objects.filter(connection=connection).update(refresh_token_enc=None)
    _expire(connection)
    with pytest.raises(tokens.ReauthRequired):
        tokens.access_token_get(connection=connection)
    connection.refresh_from_db()
    assert connection.status == models.ConnectionStatus.NEEDS_REAUTH


def test_graph_401_refreshes_once_and_retries(
    ms: FakeMicrosoft, connection: models.Connection, graph: microsoft.GraphClient
) -> None:
    ms.expire_access_tokens()  # the provider dropped the token before its stated expiry
    assert graph.me().id == "user-1"
    assert ms.refresh_grants == 1
    assert [r.status for r in ms.requests_to("/v1.0/me")] == [401, 200]


def test_grant_revoked_mid_run_surfaces_as_reauth_required(
    ms: FakeMicrosoft, connection: models.Connection, graph: microsoft.GraphClient
) -> None:
    drive = ms.store.personal_drive_id
    for i in range(5):
        ms.store.file_add(drive_id=drive, name=f"f{i}.txt", content=b"x")
    pages = graph.drive_delta(drive_id=drive, page_size=2)
    next(pages)
    ms.revoke_grant()
    with pytest.raises(tokens.ReauthRequired):
        list(pages)
    connection.refresh_from_db()
    assert connection.status == models.ConnectionStatus.NEEDS_REAUTH


def test_reconnecting_the_same_account_restores_the_connection(
    ms: FakeMicrosoft, connection: models.Connection, connect: Callable[..., models.Connection], admin_member: Any
) -> None:
    source = models.ConnectionSource.objects.create(
        tenant=connection.tenant, connection=connection, surface=models.Surface.ONEDRIVE, root_id="d1"
    )
    tokens.connection_mark_needs_reauth(connection_id=connection.pk, reason="x")
    again = connect()
    assert again.pk == connection.pk
    again.refresh_from_db()
    assert again.status == models.ConnectionStatus.ACTIVE and again.status_reason == ""
    assert list(again.sources.all()) == [source]
    assert again.next_sync_at is not None
    other = connect(account_id="user-other")
    assert other.pk != connection.pk


def test_a_revoked_connection_is_not_restored_by_reconnecting(
    ms: FakeMicrosoft, connection: models.Connection, connect: Callable[..., models.Connection]
) -> None:
    models.Connection.objects.filter(pk=connection.pk).update(status=models.ConnectionStatus.REVOKED)
    assert tokens.connection_mark_needs_reauth(connection_id=connection.pk, reason="x") is False
    assert connect().pk != connection.pk


def test_the_same_account_in_another_tenant_is_another_connection(
    ms: FakeMicrosoft, connection: models.Connection, connect: Callable[..., models.Connection],
    other_tenant: Any, make_user: Any,
) -> None:
    elsewhere = connect(to=other_tenant, owner=make_user("olga", tenant=other_tenant))
    assert elsewhere.pk != connection.pk and elsewhere.tenant_id == other_tenant.pk


def test_tokens_destroy_removes_the_token_row(ms: FakeMicrosoft, connection: models.Connection) -> None:
    assert tokens.tokens_destroy(connection=connection) == 1
    with pytest.raises(tokens.NoToken):
        tokens.access_token_get(connection=connection)


def test_token_set_repr_shows_no_token() -> None:
    ts = oauth2.TokenSet(access_token="at-secret", refresh_token="rt-secret", expires_in=10, scope="")
    assert "secret" not in repr(ts)


def test_identity_throttling_is_a_pause_not_a_refusal() -> None:
    import httpx

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "7"}, json={"error": "temporarily_unavailable"})

    client = oauth2.OAuth2Client(
        oauth2.TokenEndpoint(token_url="http://idp.test/token", client_id="c", client_secret="s"),
        http=httpx.Client(transport=httpx.MockTransport(answer)),
    )
    with pytest.raises(errors.Throttled) as info:
        client.refresh(refresh_token="rt")
    assert info.value.retry_after == 7


def test_clickup_style_exchange_posts_the_code_in_the_query_and_never_expires() -> None:
    import httpx

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"access_token": "cu-token"})

    client = oauth2.OAuth2Client(
        oauth2.TokenEndpoint(token_url="http://cu.test/api/v2/oauth/token", client_id="c", client_secret="s", style="clickup"),
        http=httpx.Client(transport=httpx.MockTransport(answer)),
    )
    ts = client.exchange_code(code="abc", redirect_uri="http://kb/cb", code_verifier=None)
    assert ts.access_token == "cu-token" and ts.expires_in is None and ts.refresh_token is None
    assert dict(seen[0].url.params) == {"client_id": "c", "client_secret": "s", "code": "abc"}
    with pytest.raises(oauth2.TokenRefused):
        client.refresh(refresh_token="none")
