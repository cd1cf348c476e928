"""Connections API (DESIGN §9): who sees what (member: own; admin and manage key: all of the
tenant's; other tenants' ids → 404), roots, sources (only an admin shares with the tenant),
sync runs (one active per connection) and disconnect (revoked, tokens gone, purge queued)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from connections import models, services, tokens
from knowledge import models as kb
from tests.conftest import ApiClient
from tests.fakes.msgraph_server import FakeMicrosoft

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(make_user: Callable[..., Any], tenant: kb.Tenant) -> Any:
    return make_user("mia", tenant=tenant, role="member")


@pytest.fixture
def member_api(member: Any, login: Callable[..., Client]) -> ApiClient:
    return ApiClient(client=login(member))


@pytest.fixture
def admin_api(admin_member: Any, login: Callable[..., Client]) -> ApiClient:
    return ApiClient(client=login(admin_member))


@pytest.fixture
def mine(connect: Callable[..., models.Connection], member: Any) -> models.Connection:
    return connect(owner=member, account_id="user-1")


def put(api: ApiClient, path: str, body: Any) -> Any:
    return api.client.put(path, body, content_type="application/json", headers=api._headers(None))


def test_a_member_lists_their_own_connections_and_an_admin_or_a_manage_key_all_of_the_tenants(
    ms: FakeMicrosoft, connect: Callable[..., models.Connection], mine: models.Connection, admin_member: Any,
    member_api: ApiClient, admin_api: ApiClient, api: ApiClient,
) -> None:
    admins = connect(owner=admin_member, account_id="user-a")
    assert [c["id"] for c in member_api.get("/api/v1/connections").json()["items"]] == [mine.pk]
    for client in (admin_api, api):
        body = client.get("/api/v1/connections").json()
        assert body["count"] == 2 and {c["id"] for c in body["items"]} == {mine.pk, admins.pk}
    assert member_api.get(f"/api/v1/connections/{admins.pk}").status_code == 404
    assert admin_api.get(f"/api/v1/connections/{mine.pk}").status_code == 200


def test_a_connection_answers_the_contract_fields(ms: FakeMicrosoft, mine: models.Connection, member_api: ApiClient) -> None:
    body = member_api.get(f"/api/v1/connections/{mine.pk}").json()
    assert {"id", "provider", "account_label", "owner", "status", "status_reason", "sources", "last_sync_at",
            "next_sync_at", "counts", "purge_receipt"} <= set(body)
    assert (body["provider"], body["account_label"], body["owner"], body["status"]) == (
        "microsoft", "dana@brightsmile.example", "mia", "active")
    assert body["counts"] == {"documents": 0, "chunks": 0} and body["purge_receipt"] is None
    # The token never appears in an answer.
    assert tokens.access_token_get(connection=mine) not in str(body)


def test_roots_list_drives_libraries_folders_mail_folders_and_channels(
    ms: FakeMicrosoft, mine: models.Connection, member_api: ApiClient
) -> None:
    store = ms.store
    folder = store.folder_add(drive_id=store.personal_drive_id, name="Prices")
    site = store.site_add(name="Reception")
    library = store.drive_add(name="Documents", site_id=site)
    team = store.team_add(name="Front desk")
    channel = store.channel_add(team_id=team, name="General")
    body = member_api.get(f"/api/v1/connections/{mine.pk}/roots").json()
    roots = {(r["surface"], r["root_id"]): r for r in body["items"]}
    assert body["count"] == len(body["items"]) and body["warnings"] == []
    assert roots[("onedrive", store.personal_drive_id)]["label"] == "OneDrive"
    assert roots[("onedrive", folder)] == {"surface": "onedrive", "root_id": folder, "label": "OneDrive / Prices",
                                           "parent_id": store.personal_drive_id}
    assert roots[("sharepoint_library", library)]["label"] == "Reception / Documents"
    assert roots[("teams_channel", channel)]["label"] == "Front desk / General"
    assert {r["label"] for r in body["items"] if r["surface"] == "mail_folder"} >= {"Inbox", "Sent Items", "Archive"}


def test_a_member_cannot_share_a_source_with_the_tenant_but_an_admin_and_a_manage_key_can(
    ms: FakeMicrosoft, mine: models.Connection, member_api: ApiClient, admin_api: ApiClient, api: ApiClient,
    django_capture_on_commit_callbacks: Any,
) -> None:
    inbox = ms.store.mail_folder_id("inbox")
    shared = [{"surface": "mail_folder", "root_id": inbox, "share": "tenant", "kind": "knowledge", "mail_tier": "body"}]
    refused = put(member_api, f"/api/v1/connections/{mine.pk}/sources", shared)
    assert refused.status_code == 403 and not models.ConnectionSource.objects.exists()
    personal = [{**shared[0], "share": "personal"}]
    with django_capture_on_commit_callbacks(execute=False) as queued:
        answer = put(member_api, f"/api/v1/connections/{mine.pk}/sources", personal)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["count"] == 1 and body["items"][0] == {
        "surface": "mail_folder", "root_id": inbox, "label": "Inbox", "parent_id": "", "share": "personal",
        "kind": "knowledge", "mail_tier": "body"}
    assert body["run"]["kind"] == "backfill" and body["run"]["status"] == "queued" and len(queued) == 1
    for client in (admin_api, api):
        assert put(client, f"/api/v1/connections/{mine.pk}/sources", shared).status_code == 200
        assert models.ConnectionSource.objects.get().share == "tenant"
    # Unchanged selection: no new run; one active run per connection anyway.
    assert models.SyncRun.objects.count() == 1


def test_sources_must_be_roots_the_account_lists_and_a_source_left_out_is_removed(
    ms: FakeMicrosoft, mine: models.Connection, member_api: ApiClient
) -> None:
    url = f"/api/v1/connections/{mine.pk}/sources"
    unknown = put(member_api, url, [{"surface": "mail_folder", "root_id": "nope"}])
    assert unknown.status_code == 400 and not models.ConnectionSource.objects.exists()
    assert put(member_api, url, [{"surface": "gmail_label", "root_id": "x"}]).status_code == 400
    inbox, archive = ms.store.mail_folder_id("inbox"), ms.store.mail_folder_id("archive")
    both = [{"surface": "mail_folder", "root_id": inbox}, {"surface": "mail_folder", "root_id": archive}]
    assert put(member_api, url, both).json()["count"] == 2
    assert put(member_api, url, both[:1]).json()["count"] == 1
    assert list(models.ConnectionSource.objects.values_list("root_id", flat=True)) == [inbox]


def test_sync_answers_202_with_the_run_and_keeps_one_active_run_per_connection(
    ms: FakeMicrosoft, mine: models.Connection, member_api: ApiClient, django_capture_on_commit_callbacks: Any,
) -> None:
    from django_q.models import OrmQ

    with django_capture_on_commit_callbacks(execute=True):
        first = member_api.post(f"/api/v1/connections/{mine.pk}/sync", {"full": False})
    assert first.status_code == 202
    run = first.json()
    assert (run["kind"], run["status"], run["trigger"]) == ("backfill", "queued", "manual")
    assert {"id", "kind", "status", "trigger", "started_at", "finished_at", "counts", "error"} <= set(run)
    assert run["counts"] == {"seen": 0, "created": 0, "updated": 0, "unchanged": 0, "deleted": 0, "failed": 0}
    (queued,) = OrmQ.objects.all()
    assert queued.func() == "connections.tasks.sync_run" and queued.task["args"] == (run["id"],)
    again = member_api.post(f"/api/v1/connections/{mine.pk}/sync", {"full": True})
    assert again.status_code == 202 and again.json()["id"] == run["id"]
    assert OrmQ.objects.count() == 1
    runs = member_api.get(f"/api/v1/connections/{mine.pk}/runs").json()
    assert runs["count"] == 1 and runs["items"][0]["id"] == run["id"]


def test_a_full_sync_is_a_full_run_and_a_delta_follows_a_succeeded_backfill(
    ms: FakeMicrosoft, mine: models.Connection, api: ApiClient
) -> None:
    models.SyncRun.objects.create(tenant=mine.tenant, connection=mine, kind="backfill", status="succeeded")
    assert api.post(f"/api/v1/connections/{mine.pk}/sync").json()["kind"] == "delta"
    models.SyncRun.objects.filter(status="queued").update(status="succeeded")
    assert api.post(f"/api/v1/connections/{mine.pk}/sync", {"full": True}).json()["kind"] == "full"
    models.SyncRun.objects.filter(status="queued").update(status="succeeded")
    # No body at all (curl -X POST) is {"full": false}; a wrong one is refused.
    bare = api.client.post(f"/api/v1/connections/{mine.pk}/sync", "", content_type="application/json",
                           headers={"Authorization": f"Bearer {api.key}"})
    assert bare.status_code == 202 and bare.json()["kind"] == "delta"
    assert api.post(f"/api/v1/connections/{mine.pk}/sync", {"full": "sometimes"}).status_code == 400


def test_a_connection_needing_reauth_cannot_sync(ms: FakeMicrosoft, mine: models.Connection, api: ApiClient) -> None:
    tokens.connection_mark_needs_reauth(connection_id=mine.pk, reason="Reconnect the account.")
    answer = api.post(f"/api/v1/connections/{mine.pk}/sync")
    assert answer.status_code == 409 and "reconnect" in answer.json()["detail"]
    assert api.get(f"/api/v1/connections/{mine.pk}").json()["status_reason"] == "Reconnect the account."


def test_delete_revokes_at_once_destroys_the_tokens_and_queues_a_purge(
    ms: FakeMicrosoft, mine: models.Connection, member_api: ApiClient, django_capture_on_commit_callbacks: Any,
) -> None:
    from django_q.models import OrmQ

    sync = services.sync_request(connection=mine, kind="backfill", trigger="manual").run
    with django_capture_on_commit_callbacks(execute=True):
        answer = member_api.delete(f"/api/v1/connections/{mine.pk}")
    assert answer.status_code == 202
    body = answer.json()
    assert body["status"] == "revoked" and body["run"]["kind"] == "purge" and body["run"]["status"] == "queued"
    mine.refresh_from_db()
    assert mine.status == models.ConnectionStatus.REVOKED and mine.next_sync_at is None
    assert not models.ConnectionToken.objects.filter(connection=mine).exists()
    sync.refresh_from_db()
    assert sync.status == "failed" and "cancelled" in sync.error
    assert [q.task["args"] for q in OrmQ.objects.all()] == [(body["run"]["id"],)]
    # Asked again: the same purge run. Once purged: 409.
    assert member_api.delete(f"/api/v1/connections/{mine.pk}").json()["run"]["id"] == body["run"]["id"]
    models.Connection.objects.filter(pk=mine.pk).update(status="purged")
    assert member_api.delete(f"/api/v1/connections/{mine.pk}").status_code == 409
    with pytest.raises(tokens.NoToken):
        tokens.access_token_get(connection=mine)


def test_another_tenants_connection_ids_answer_404_on_every_endpoint(
    ms: FakeMicrosoft, connect: Callable[..., models.Connection], other_tenant: kb.Tenant,
    make_user: Callable[..., Any], api: ApiClient, admin_api: ApiClient,
) -> None:
    theirs = connect(to=other_tenant, owner=make_user("olga", tenant=other_tenant), account_id="user-x")
    base = f"/api/v1/connections/{theirs.pk}"
    for client in (api, admin_api):
        assert client.get(base).status_code == 404
        assert client.get(f"{base}/roots").status_code == 404
        assert client.get(f"{base}/runs").status_code == 404
        assert put(client, f"{base}/sources", [{"surface": "mail_folder", "root_id": "x"}]).status_code == 404
        assert client.post(f"{base}/sync").status_code == 404
        assert client.delete(base).status_code == 404
        assert client.get("/api/v1/connections").json()["count"] == 0
    theirs.refresh_from_db()
    assert theirs.status == "active" and not models.SyncRun.objects.exists()
    assert models.ConnectionToken.objects.filter(connection=theirs).exists()


def test_the_api_needs_credentials_and_a_key_cannot_start_a_connection(
    ms: FakeMicrosoft, mine: models.Connection, anon_api: ApiClient, manage_key: str, retrieve_api: ApiClient,
) -> None:
    assert anon_api.get("/api/v1/connections").status_code == 401
    assert retrieve_api.get("/api/v1/connections").status_code == 403
    started = Client().post("/kb/connections/connect/microsoft", headers={"Authorization": f"Bearer {manage_key}"})
    assert started.status_code == 302 and started["Location"].startswith("/accounts/login/")
