"""The connections pages: the browser flow end to end against the local identity server
(connect → callback → active connection), its refusals (provider error, bad or replayed
state, failed exchange: nothing created), the connection page, and other tenants' ids → 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from connections import models, tokens
from knowledge import models as kb
from tests.connections import flow
from tests.fakes.msgraph_server import FakeMicrosoft

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(make_user: Callable[..., Any], tenant: kb.Tenant) -> Any:
    return make_user("mia", tenant=tenant, role="member")


def test_connecting_in_the_browser_creates_an_active_connection_with_the_account_label(
    ms: FakeMicrosoft, member: Any, login: Callable[..., Client], tenant: kb.Tenant
) -> None:
    client = login(member)
    answer = flow.connect(client, ms)
    connection = models.Connection.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/kb/connections/{connection.pk}/"
    assert connection.status == models.ConnectionStatus.ACTIVE
    assert connection.account_label == "dana@brightsmile.example"
    assert (connection.tenant, connection.owner, connection.external_account_id) == (tenant, member, "user-1")
    assert tokens.access_token_get(connection=connection).startswith("at-")
    # PKCE S256 went to the provider and the verifier came back with the code.
    (authorize,) = ms.requests_to("/oauth2/v2.0/authorize")
    assert authorize.query["code_challenge_method"] == "S256"
    (exchange,) = ms.requests_to("/oauth2/v2.0/token")
    assert exchange.form["code_verifier"] and exchange.form["redirect_uri"] == "http://kb.test/connections/callback/microsoft"
    page = client.get(answer["Location"])
    assert page.status_code == 200 and b"dana@brightsmile.example" in page.content


def test_the_list_offers_connect_buttons_only_for_configured_providers(
    ms: FakeMicrosoft, member: Any, login: Callable[..., Client], settings: Any
) -> None:
    page = login(member).get("/kb/connections/")
    assert page.status_code == 200
    assert b'id="kb-connect-microsoft"' in page.content and b"kb-connect-google" not in page.content
    assert b'id="kb-nav-connections"' in page.content
    settings.KB_MS_CLIENT_ID = ""
    page = login(member).get("/kb/connections/")
    assert b"kb-connect-microsoft" not in page.content
    assert login(member).post("/kb/connections/connect/microsoft").status_code == 404


def test_the_sandbox_offers_its_providers_labelled_sandbox(
    member: Any, login: Callable[..., Client], settings: Any
) -> None:
    settings.KB_MS_CLIENT_ID = ""
    settings.KB_SANDBOX_PROVIDERS = True
    page = login(member).get("/kb/connections/")
    assert b'value="Connect Microsoft 365 (Sandbox)"' in page.content


def test_a_provider_error_on_the_callback_shows_a_message_and_creates_nothing(
    ms: FakeMicrosoft, member: Any, login: Callable[..., Client]
) -> None:
    ms.authorize_error = "access_denied"
    client = login(member)
    answer = client.get(flow.authorize(client, ms))
    assert answer.status_code == 400
    assert b"did not connect the account" in answer.content and b"The user declined." in answer.content
    assert not models.Connection.objects.exists() and not models.ConnectionToken.objects.exists()


def test_a_replayed_state_is_refused_and_creates_nothing_more(
    ms: FakeMicrosoft, member: Any, login: Callable[..., Client]
) -> None:
    client = login(member)
    callback = flow.authorize(client, ms)
    assert client.get(callback).status_code == 302
    replay = client.get(callback)
    assert replay.status_code == 400 and b"already used" in replay.content
    assert models.Connection.objects.count() == 1


def test_a_bad_state_or_one_from_another_session_is_refused(
    ms: FakeMicrosoft, member: Any, login: Callable[..., Client]
) -> None:
    client = login(member)
    callback = flow.authorize(client, ms)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    bad = client.get("/connections/callback/microsoft", {"code": code, "state": "forged"})
    assert bad.status_code == 400 and b"not valid" in bad.content
    other_session = login(member).get(callback)
    assert other_session.status_code == 400 and b"another browser session" in other_session.content
    assert not models.Connection.objects.exists()


def test_a_failed_code_exchange_shows_a_message_and_creates_nothing(
    ms: FakeMicrosoft, member: Any, login: Callable[..., Client]
) -> None:
    client = login(member)
    callback = flow.authorize(client, ms)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    answer = client.get("/connections/callback/microsoft", {**query, "code": "not-a-code"})
    assert answer.status_code == 400 and b"refused to complete the sign-in" in answer.content
    assert not models.Connection.objects.exists() and not models.ConnectionToken.objects.exists()


def test_the_callback_needs_a_login(ms: FakeMicrosoft, db: Any) -> None:
    answer = Client().get("/connections/callback/microsoft?code=x&state=y")
    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/")


def test_reconnecting_the_same_account_restores_the_connection_and_queues_a_sync(
    ms: FakeMicrosoft, member: Any, login: Callable[..., Client], django_capture_on_commit_callbacks: Any
) -> None:
    client = login(member)
    flow.connect(client, ms)
    connection = models.Connection.objects.get()
    models.ConnectionSource.objects.create(tenant=connection.tenant, connection=connection, surface="mail_folder", root_id="f")
    tokens.connection_mark_needs_reauth(connection_id=connection.pk, reason="Reconnect the account.")
    page = client.get(f"/kb/connections/{connection.pk}/")
    assert b"Reconnect the account." in page.content and b'id="kb-reconnect"' in page.content
    with django_capture_on_commit_callbacks(execute=False):
        flow.connect(client, ms)
    connection.refresh_from_db()
    assert models.Connection.objects.count() == 1
    assert connection.status == models.ConnectionStatus.ACTIVE and connection.status_reason == ""
    run = models.SyncRun.objects.get(connection=connection)
    assert (run.kind, run.trigger, run.status) == ("backfill", "connect", "queued")


def test_the_source_chooser_lists_the_accounts_roots_and_only_an_admin_may_share_with_the_tenant(
    ms: FakeMicrosoft, member: Any, admin_member: Any, login: Callable[..., Client],
) -> None:
    folder = ms.store.folder_add(drive_id=ms.store.personal_drive_id, name="Reception")
    client = login(member)
    flow.connect(client, ms)
    connection = models.Connection.objects.get()
    chooser = client.get(f"/kb/connections/{connection.pk}/roots/", headers={"HX-Request": "true"})
    assert chooser.status_code == 200
    body = chooser.content.decode()
    assert "OneDrive / Reception" in body and "Inbox" in body
    assert 'value="tenant"' not in body  # a member cannot pick "shared with the assistant"
    rows = {r.root_id: i for i, r in enumerate(chooser.context["rows"][j]["root"] for j in range(len(chooser.context["rows"])))}
    index = rows[folder]
    form = {"count": str(len(rows)), f"selected_{index}": "1", f"surface_{index}": "onedrive",
            f"root_id_{index}": folder, f"share_{index}": "tenant", f"kind_{index}": "knowledge"}
    refused = client.post(f"/kb/connections/{connection.pk}/sources/", form)
    assert refused.status_code == 403 and not models.ConnectionSource.objects.exists()
    form[f"share_{index}"] = "personal"
    assert client.post(f"/kb/connections/{connection.pk}/sources/", form).status_code == 302
    source = models.ConnectionSource.objects.get()
    assert (source.surface, source.root_id, source.share, source.parent_id) == ("onedrive", folder, "personal", ms.store.personal_drive_id)
    assert source.label == "OneDrive / Reception" and source.extra == {"drive_id": ms.store.personal_drive_id, "item_id": folder}
    # The admin sees the member's connection and may share it.
    admin = login(admin_member)
    assert b"tenant" in admin.get(f"/kb/connections/{connection.pk}/roots/").content
    form[f"share_{index}"] = "tenant"
    assert admin.post(f"/kb/connections/{connection.pk}/sources/", form).status_code == 302
    assert models.ConnectionSource.objects.get().share == "tenant"


def test_sync_now_and_disconnect_from_the_connection_page(
    ms: FakeMicrosoft, member: Any, login: Callable[..., Client]
) -> None:
    client = login(member)
    flow.connect(client, ms)
    connection = models.Connection.objects.get()
    assert client.post(f"/kb/connections/{connection.pk}/sync/").status_code == 302
    run = models.SyncRun.objects.get()
    assert (run.kind, run.trigger, run.status) == ("backfill", "manual", "queued")
    confirm = client.get(f"/kb/connections/{connection.pk}/disconnect/")
    assert confirm.status_code == 200 and b"kb-confirm-disconnect" in confirm.content
    assert models.Connection.objects.get().status == "active"  # GET changes nothing
    assert client.post(f"/kb/connections/{connection.pk}/disconnect/").status_code == 302
    connection.refresh_from_db()
    assert connection.status == models.ConnectionStatus.REVOKED
    assert not models.ConnectionToken.objects.exists()
    assert models.SyncRun.objects.get(pk=run.pk).status == "failed"  # the queued sync is cancelled
    assert models.SyncRun.objects.filter(kind="purge", status="queued").count() == 1


def test_teams_consent_missing_is_shown_plainly(
    ms: FakeMicrosoft, member: Any, login: Callable[..., Client]
) -> None:
    client = login(member)
    flow.connect(client, ms)
    connection = models.Connection.objects.get()
    models.Connection.objects.filter(pk=connection.pk).update(
        status_reason="Teams: your organisation's administrator has not consented to reading channel messages."
    )
    page = client.get(f"/kb/connections/{connection.pk}/")
    assert b"has not consented to reading channel messages" in page.content


def test_another_tenants_or_another_members_connection_is_404_on_every_page(
    ms: FakeMicrosoft, connect: Callable[..., models.Connection], other_tenant: kb.Tenant,
    make_user: Callable[..., Any], member: Any, login: Callable[..., Client], admin_member: Any,
) -> None:
    theirs = connect(to=other_tenant, owner=make_user("olga", tenant=other_tenant), account_id="user-x")
    admins = connect(owner=admin_member, account_id="user-a")  # same tenant, another member's
    for client, target in ((login(admin_member), theirs), (login(member), admins)):
        for method, url in (
            ("get", f"/kb/connections/{target.pk}/"),
            ("get", f"/kb/connections/{target.pk}/roots/"),
            ("get", f"/kb/connections/{target.pk}/runs/"),
            ("get", f"/kb/connections/{target.pk}/disconnect/"),
            ("post", f"/kb/connections/{target.pk}/sources/"),
            ("post", f"/kb/connections/{target.pk}/sync/"),
            ("post", f"/kb/connections/{target.pk}/disconnect/"),
        ):
            assert getattr(client, method)(url).status_code == 404, (method, url)
        listing = client.get("/kb/connections/")
        assert f'id="connection-{target.pk}"'.encode() not in listing.content
    assert models.Connection.objects.filter(status="active").count() == 2
    assert not models.SyncRun.objects.exists()
