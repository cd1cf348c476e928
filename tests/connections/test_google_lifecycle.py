"""A Google connection's lifecycle against the local Google server: the browser flow
(offline access with consent, PKCE S256), the roots, throttling by 403 rateLimitExceeded,
a grant revoked at Google, disconnect (revoked at Google, purged with a receipt), other
tenants' 404s, and no token plaintext in the database or the logs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from connections import models, tokens
from connections.sync import engine
from knowledge import models as kb
from tests.conftest import ApiClient
from tests.connections.google_fixtures import gconnect as gconnect  # noqa: F401, PLC0414 - fixtures
from tests.connections.google_fixtures import gconnection as gconnection  # noqa: F401, PLC0414
from tests.connections.google_fixtures import gfake as gfake  # noqa: F401, PLC0414
from tests.connections.test_secrets import rows_containing
from tests.connections.test_sync import Sync, add_source, docs, retrieved
from tests.connections.test_sync import sync as sync  # noqa: F401, PLC0414 - the fixture
from tests.fakes.google_server import FakeGoogle

pytestmark = pytest.mark.django_db


def connect_in_browser(client: Client, gfake: FakeGoogle) -> Any:
    """Press Connect, consent at Google, come back to the callback."""
    start = client.post("/kb/connections/connect/google")
    assert start.status_code == 302, start.content[:500]
    assert start["Location"].startswith(f"{gfake.auth_url}?")
    at_google = httpx.get(start["Location"])
    assert at_google.status_code == 302
    back = urlsplit(at_google.headers["Location"])
    assert f"{back.scheme}://{back.netloc}" == "http://kb.test"
    return client.get(f"{back.path}?{back.query}")


@pytest.fixture
def member(make_user: Callable[..., Any], tenant: kb.Tenant) -> Any:
    return make_user("mia", tenant=tenant, role="member")


def test_connecting_google_asks_offline_access_with_consent_and_pkce_and_keeps_a_refresh_token(
    gfake: FakeGoogle, member: Any, login: Callable[..., Client], tenant: kb.Tenant
) -> None:
    client = login(member)
    answer = connect_in_browser(client, gfake)

    connection = models.Connection.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/kb/connections/{connection.pk}/"
    assert connection.provider == "google" and connection.status == "active"
    assert connection.account_label == "dana@brightsmile.example"
    assert connection.external_account_id == gfake.store.user["permissionId"]
    (authorize,) = gfake.requests_to("/o/oauth2/v2/auth")
    assert authorize.query["access_type"] == "offline" and authorize.query["prompt"] == "consent"
    assert authorize.query["code_challenge_method"] == "S256" and authorize.query["code_challenge"]
    assert "https://www.googleapis.com/auth/drive.readonly" in authorize.query["scope"].split()
    (exchange,) = [r for r in gfake.requests_to("/token") if r.form.get("grant_type") == "authorization_code"]
    assert exchange.form["code_verifier"] and exchange.form["redirect_uri"] == "http://kb.test/connections/callback/google"
    assert tokens.refresh_token_get(connection_id=connection.pk)  # without offline consent Google gives none
    # An expired access token is refreshed with it.
    models.ConnectionToken.objects.update(expires_at=timezone.now())
    assert tokens.access_token_get(connection=connection).startswith("ya29.")
    assert gfake.refresh_grants == 1


def test_roots_list_my_drive_two_levels_of_folders_shared_drives_and_labels(
    gfake: FakeGoogle, gconnection: models.Connection, api: ApiClient
) -> None:
    store = gfake.store
    reception = store.folder_add(name="Reception")
    store.folder_add(name="Forms", parent_id=reception)
    deep = store.folder_add(name="Old", parent_id=store.folder_add(name="Archive", parent_id=reception))
    drive = store.shared_drive_add(name="Clinic handbook")
    store.folder_add(name="Hygiene", parent_id=drive)
    front = store.label_add(name="Front desk")
    store.label_add(name="Front desk/Urgent")

    body = api.get(f"/api/v1/connections/{gconnection.pk}/roots").json()

    roots = {(r["surface"], r["label"]): r for r in body["items"]}
    assert ("gdrive_folder", "My Drive") in roots
    assert roots[("gdrive_folder", "My Drive / Reception")]["parent_id"] == store.root_id
    assert roots[("gdrive_folder", "My Drive / Reception / Forms")]["parent_id"] == reception
    assert deep not in {r["root_id"] for r in body["items"]}  # two levels deep, not three
    assert roots[("shared_drive", "Clinic handbook")]["root_id"] == drive
    assert ("gdrive_folder", "Clinic handbook / Hygiene") in roots
    assert roots[("gmail_label", "Front desk")]["root_id"] == front
    assert roots[("gmail_label", "Front desk/Urgent")]["parent_id"] == front
    assert ("gmail_label", "Inbox") in roots and not any(r["root_id"] == "SPAM" for r in body["items"])


@pytest.mark.parametrize(("reason", "retry_after"), [("rateLimitExceeded", "120"), ("userRateLimitExceeded", "")])
def test_a_403_rate_limit_pauses_the_run_instead_of_failing_it(
    gfake: FakeGoogle, gconnection: models.Connection, sync: Sync, reason: str, retry_after: str
) -> None:
    folder = gfake.store.folder_add(name="Reception")
    gfake.store.file_add(name="hours.txt", content=b"Open on Saturdays.", parent_id=folder)
    add_source(gconnection, surface="gdrive_folder", root_id=folder)

    gfake.throttle_next(1, status=403, reason=reason, retry_after=retry_after)
    run = models.SyncRun.objects.create(tenant=gconnection.tenant, connection=gconnection, kind="backfill")
    assert engine.run(run_id=run.pk) == engine.PAUSED
    run.refresh_from_db()
    assert run.status == "queued" and run.attempts == 0 and run.resume_at is not None
    assert run.resume_at > timezone.now() + timedelta(seconds=20)  # Retry-After, else a default pause
    gconnection.refresh_from_db()
    assert gconnection.status == "active"

    models.SyncRun.objects.filter(pk=run.pk).update(resume_at=timezone.now())
    assert engine.run(run_id=run.pk) == "succeeded"


def test_a_403_that_is_not_a_rate_limit_is_no_pause(
    gfake: FakeGoogle, gconnection: models.Connection, sync: Sync
) -> None:
    folder = gfake.store.folder_add(name="Reception")
    add_source(gconnection, surface="gdrive_folder", root_id=folder)
    gfake.throttle_next(1, status=403, reason="insufficientFilePermissions", retry_after="")

    run = sync(gconnection, "backfill", resume=False)

    assert run.status == "succeeded" and run.counts["failed"] == 1  # the source could not be read, said plainly
    assert "insufficientFilePermissions" in run.item_errors[0]["error"]


def test_a_grant_revoked_at_google_needs_reauth_and_hides_the_content_at_once(
    gfake: FakeGoogle, gconnection: models.Connection, sync: Sync, retrieval_on: Any, retrieve_api: Any
) -> None:
    folder = gfake.store.folder_add(name="Reception")
    gfake.store.doc_add(name="Hours", text="We are open Saturdays from nine to noon.", parent_id=folder)
    add_source(gconnection, surface="gdrive_folder", root_id=folder)
    sync(gconnection, "backfill")
    assert "open Saturdays" in retrieved(retrieve_api, "are you open on saturdays")

    gfake.revoke_grant()
    gfake.store.doc_add(name="New", text="Something new.", parent_id=folder)
    run = sync(gconnection)

    gconnection.refresh_from_db()
    assert run.status == "failed" and "Reconnect" in run.error
    assert gconnection.status == "needs_reauth" and gconnection.next_sync_at is None
    refresh = [r for r in gfake.requests_to("/token") if r.form.get("grant_type") == "refresh_token"]
    assert refresh and refresh[-1].status == 400  # invalid_grant
    assert "open Saturdays" not in retrieved(retrieve_api, "are you open on saturdays")
    assert len(docs(gconnection)) == 1  # kept for a reconnect, just not served


def test_disconnecting_revokes_the_grant_at_google_and_purges_with_a_receipt(
    gfake: FakeGoogle, gconnection: models.Connection, sync: Sync, api: ApiClient
) -> None:
    folder = gfake.store.folder_add(name="Reception")
    gfake.store.file_add(name="hours.txt", content=b"Open on Saturdays.", parent_id=folder)
    add_source(gconnection, surface="gdrive_folder", root_id=folder)
    sync(gconnection, "backfill")
    refresh = tokens.refresh_token_get(connection_id=gconnection.pk)

    answer = api.delete(f"/api/v1/connections/{gconnection.pk}")

    assert answer.status_code == 202
    (revoke,) = gfake.requests_to("/revoke")
    assert revoke.method == "POST" and revoke.form["token"] == refresh and revoke.status == 200
    assert gfake.revoked == [refresh]
    assert not models.ConnectionToken.objects.filter(connection=gconnection).exists()
    assert engine.run(run_id=answer.json()["run"]["id"]) == "succeeded"
    gconnection.refresh_from_db()
    assert gconnection.status == "purged" and (gconnection.purge_receipt or {})["documents"] == 1
    assert docs(gconnection) == []


def test_another_tenants_google_connection_answers_404_on_every_endpoint_and_page(
    gfake: FakeGoogle, gconnect: Callable[..., models.Connection], other_tenant: kb.Tenant,
    make_user: Callable[..., Any], api: ApiClient, admin_member: Any, login: Callable[..., Client],
) -> None:
    theirs = gconnect(to=other_tenant, owner=make_user("olga", tenant=other_tenant), account_id="someone-else")
    base = f"/api/v1/connections/{theirs.pk}"
    admin_api = ApiClient(client=login(admin_member))
    for client in (api, admin_api):
        assert client.get(base).status_code == 404
        assert client.get(f"{base}/roots").status_code == 404
        assert client.get(f"{base}/runs").status_code == 404
        assert client.client.put(f"{base}/sources", [{"surface": "gmail_label", "root_id": "INBOX"}],
                                 content_type="application/json", headers=client._headers(None)).status_code == 404
        assert client.post(f"{base}/sync").status_code == 404
        assert client.delete(base).status_code == 404
    browser = login(admin_member)
    for method, url in (("get", f"/kb/connections/{theirs.pk}/"), ("get", f"/kb/connections/{theirs.pk}/roots/"),
                        ("post", f"/kb/connections/{theirs.pk}/sync/"),
                        ("post", f"/kb/connections/{theirs.pk}/disconnect/")):
        assert getattr(browser, method)(url).status_code == 404, url
    theirs.refresh_from_db()
    assert theirs.status == "active" and not models.SyncRun.objects.exists()
    assert not gfake.requests_to("/revoke") and not gfake.requests_to("/drive/")


def test_no_google_token_plaintext_in_any_table_row_or_log_line(
    gfake: FakeGoogle, member: Any, login: Callable[..., Client], caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = login(member)
    with django_capture_on_commit_callbacks(execute=True):
        connect_in_browser(client, gfake)
        connection = models.Connection.objects.get()
        refresh = tokens.refresh_token_get(connection_id=connection.pk)
        assert refresh
        secrets = [tokens.access_token_get(connection=connection), refresh]
        models.ConnectionToken.objects.update(expires_at=timezone.now())
        secrets.append(tokens.access_token_get(connection=connection))
        assert all(s for s in secrets) and len(set(secrets)) == 3
        for secret in secrets:
            assert rows_containing(secret) == [], secret
        assert ApiClient(client=client).delete(f"/api/v1/connections/{connection.pk}").status_code == 202
    for secret in secrets:
        assert rows_containing(secret) == [], secret
        assert secret not in caplog.text
