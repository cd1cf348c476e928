"""The connector contract (DESIGN §9), written once and run against every provider's harness
(tests/connections/harness.py): each provider's local wire-format server, our real client
code, the real database, the sync engine and ingestion run in process, retrieval through the
API. A provider whose ``tests/connections/harness_<name>.py`` does not exist yet is skipped."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from connections import models, services
from connections.sync import engine, schedule
from knowledge import models as kb
from tests.conftest import ApiClient
from tests.connections.harness import HARNESSES, ProviderHarness
from tests.connections.test_secrets import rows_containing

pytestmark = pytest.mark.django_db

FERRY = "The harbour ferry to the clinic leaves at 7:40 from pier nine every weekday."
PARKING = "Patients park for free in the lavender garage behind the clinic on Elm Street."
HOURS = "The clinic opens at eight on Saturdays and closes at noon; Sundays it is closed."


def _harness_module(name: str) -> Any:
    module_name = f"tests.connections.harness_{name}"
    if importlib.util.find_spec(module_name) is None:
        pytest.skip(f"no {module_name} yet (the {name} provider's branch brings it)")
    return importlib.import_module(module_name)  # a module that exists must import cleanly


@pytest.fixture(params=HARNESSES)
def harness(request: pytest.FixtureRequest, settings: Any) -> Iterator[ProviderHarness]:
    module = _harness_module(request.param)
    with module.make_harness(settings) as made:
        assert made.provider == request.param
        yield made


@pytest.fixture
def admin_client(admin_member: Any, login: Callable[..., Client]) -> Client:
    return login(admin_member)


class Flow:
    """Connect and share through the harness; sync runs and ingestion in process."""

    def __init__(self, harness: ProviderHarness, client: Client, tenant: kb.Tenant, user: Any,
                 run_jobs: Callable[[], list[str]]) -> None:
        self.harness, self.client, self.tenant, self.user, self.run_jobs = harness, client, tenant, user, run_jobs
        self.connection: models.Connection | None = None

    def connect_and_share(self) -> models.Connection:
        self.connection = self.harness.connect(client=self.client, tenant=self.tenant, user=self.user)
        assert self.connection.status == models.ConnectionStatus.ACTIVE, self.connection.status_reason
        self.harness.share(self.connection, scope="tenant")
        return self.connection

    def start(self, *, full: bool = False) -> models.SyncRun:
        """The run queued by the selection, or a new one as "sync now" asks for it."""
        assert self.connection is not None
        kind = services.sync_kind_for(connection=self.connection, full=full)
        return services.sync_request(connection=self.connection, kind=kind, trigger=models.RunTrigger.MANUAL).run

    def sync(self, *, full: bool = False, wait: float = 30) -> models.SyncRun:
        """One run to its end, waiting out pauses as the scheduler would; then ingestion."""
        run = self.start(full=full)
        deadline = time.monotonic() + wait
        while engine.run(run_id=run.pk) in (engine.PAUSED, engine.NOT_CLAIMED) and time.monotonic() < deadline:
            run.refresh_from_db()
            if run.status != models.RunStatus.QUEUED:
                break
            time.sleep(max(0.0, min((run.resume_at - timezone.now()).total_seconds(), 5)) if run.resume_at else 0.1)
        self.run_jobs()
        run.refresh_from_db()
        return run

    def documents(self) -> list[kb.Document]:
        return list(kb.Document.objects.filter(tenant=self.tenant, connection=self.connection).order_by("pk"))

    def document(self, external_id: str) -> kb.Document:
        return kb.Document.objects.get(tenant=self.tenant, connection=self.connection, external_id=external_id)


@pytest.fixture
def flow(harness: ProviderHarness, admin_client: Client, tenant: kb.Tenant, admin_member: Any,
         run_jobs: Callable[[], list[str]]) -> Flow:
    return Flow(harness, admin_client, tenant, admin_member, run_jobs)


def retrieved(retrieve_api: ApiClient, query: str) -> str:
    response = retrieve_api.post("/api/v1/retrieve", json={"query": query, "top_k": 10})
    assert response.status_code == 200, response.content
    return " ".join(hit["text"] for hit in response.json()["knowledge"])


def _last_job_pk() -> int:
    return kb.IngestJob.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _jobs_since(pk: int) -> list[int]:
    return list(kb.IngestJob.objects.filter(pk__gt=pk).values_list("document_id", flat=True))


def test_a_backfill_finds_an_items_text_through_retrieval(
    flow: Flow, harness: ProviderHarness, retrieval_on: Any, retrieve_api: ApiClient
) -> None:
    ferry = harness.add_item(title="Ferry times", text=FERRY)
    harness.add_item(title="Parking", text=PARKING)
    flow.connect_and_share()

    run = flow.sync()

    assert run.status == models.RunStatus.SUCCEEDED, run.error
    assert run.kind == models.RunKind.BACKFILL
    assert run.counts["created"] >= 2 and run.counts["failed"] == 0, run.item_errors
    assert flow.document(ferry).status == kb.DocStatus.READY
    assert "pier nine" in retrieved(retrieve_api, "when does the harbour ferry leave")


def test_a_change_at_the_source_re_embeds_exactly_that_item(
    flow: Flow, harness: ProviderHarness, retrieval_on: Any, retrieve_api: ApiClient
) -> None:
    ferry = harness.add_item(title="Ferry times", text=FERRY)
    harness.add_item(title="Parking", text=PARKING)
    flow.connect_and_share()
    flow.sync()
    last = _last_job_pk()

    harness.change_item(ferry, text=FERRY.replace("7:40", "8:15").replace("pier nine", "pier twelve"))
    run = flow.sync()

    assert run.status == models.RunStatus.SUCCEEDED, run.error
    assert _jobs_since(last) == [flow.document(ferry).pk]
    text = retrieved(retrieve_api, "when does the harbour ferry leave")
    assert "pier twelve" in text and "pier nine" not in text


def test_a_rename_at_the_source_re_embeds_nothing(
    flow: Flow, harness: ProviderHarness, retrieval_on: Any, retrieve_api: ApiClient
) -> None:
    ferry = harness.add_item(title="Ferry times", text=FERRY)
    flow.connect_and_share()
    flow.sync()
    chunks = set(kb.Chunk.objects.filter(document=flow.document(ferry)).values_list("pk", flat=True))
    last = _last_job_pk()

    harness.rename_item(ferry, title="Boat timetable")
    run = flow.sync()

    assert run.status == models.RunStatus.SUCCEEDED, run.error
    assert _jobs_since(last) == []
    doc = flow.document(ferry)
    assert "Boat timetable" in doc.name
    assert set(kb.Chunk.objects.filter(document=doc).values_list("pk", flat=True)) == chunks
    assert "pier nine" in retrieved(retrieve_api, "when does the harbour ferry leave")


def test_a_deletion_at_the_source_is_gone_after_the_next_sync(
    flow: Flow, harness: ProviderHarness, retrieval_on: Any, retrieve_api: ApiClient
) -> None:
    ferry = harness.add_item(title="Ferry times", text=FERRY)
    parking = harness.add_item(title="Parking", text=PARKING)
    flow.connect_and_share()
    flow.sync()
    assert "pier nine" in retrieved(retrieve_api, "when does the harbour ferry leave")

    harness.delete_item(ferry)
    run = flow.sync()

    assert run.status == models.RunStatus.SUCCEEDED, run.error
    assert run.counts["deleted"] >= 1
    assert [d.external_id for d in flow.documents() if d.parent_id is None] == [parking]
    assert "pier nine" not in retrieved(retrieve_api, "when does the harbour ferry leave")


def test_a_throttled_call_pauses_the_run_which_resumes_and_completes(
    flow: Flow, harness: ProviderHarness, retrieval_on: Any, retrieve_api: ApiClient
) -> None:
    harness.add_item(title="Parking", text=PARKING)
    flow.connect_and_share()
    flow.sync()
    harness.add_item(title="Ferry times", text=FERRY)
    harness.throttle_next(1, retry_after="1")

    run = flow.start()
    assert engine.run(run_id=run.pk) == engine.PAUSED
    run.refresh_from_db()
    assert run.status == models.RunStatus.QUEUED and run.resume_at is not None and run.resume_at > timezone.now()
    assert "paused" in run.error
    assert engine.run(run_id=run.pk) == engine.NOT_CLAIMED  # not before Retry-After has passed
    assert any(r.status == 429 for r in harness.requests())

    time.sleep(max(0.0, (run.resume_at - timezone.now()).total_seconds()) + 0.1)
    assert engine.run(run_id=run.pk) == models.RunStatus.SUCCEEDED
    flow.run_jobs()
    run.refresh_from_db()
    assert run.status == models.RunStatus.SUCCEEDED and run.attempts == 1 and run.error == ""
    assert "pier nine" in retrieved(retrieve_api, "when does the harbour ferry leave")


def test_one_broken_item_is_recorded_on_the_run_and_the_others_land(
    flow: Flow, harness: ProviderHarness, retrieval_on: Any, retrieve_api: ApiClient
) -> None:
    harness.add_item(title="Ferry times", text=FERRY)
    broken = harness.add_item(title="Opening hours", text=HOURS)
    harness.add_item(title="Parking", text=PARKING)
    harness.break_item(broken)
    flow.connect_and_share()

    run = flow.sync()

    assert run.status == models.RunStatus.SUCCEEDED, run.error
    assert run.counts["failed"] == 1
    [error] = run.item_errors
    assert error["item"] == broken and error["error"]
    assert not kb.Document.objects.filter(connection=flow.connection, external_id=broken).exists()
    assert "pier nine" in retrieved(retrieve_api, "when does the harbour ferry leave")
    assert "lavender garage" in retrieved(retrieve_api, "where can patients park")


def test_a_revoked_grant_means_needs_reauth_content_hidden_at_once_and_no_schedule(
    flow: Flow, harness: ProviderHarness, retrieval_on: Any, retrieve_api: ApiClient
) -> None:
    harness.add_item(title="Ferry times", text=FERRY)
    connection = flow.connect_and_share()
    flow.sync()
    assert "pier nine" in retrieved(retrieve_api, "when does the harbour ferry leave")

    harness.revoke()
    run = flow.sync()

    assert run.status == models.RunStatus.FAILED and run.error
    connection.refresh_from_db()
    assert connection.status == models.ConnectionStatus.NEEDS_REAUTH and connection.status_reason
    assert connection.next_sync_at is None
    assert "pier nine" not in retrieved(retrieve_api, "when does the harbour ferry leave")
    models.Connection.objects.filter(pk=connection.pk).update(last_sync_at=timezone.now() - timedelta(days=1))
    runs_before = models.SyncRun.objects.filter(connection=connection).count()
    schedule.tick()
    assert models.SyncRun.objects.filter(connection=connection).count() == runs_before


def test_disconnecting_purges_everything_with_a_receipt(
    flow: Flow, harness: ProviderHarness, api: ApiClient
) -> None:
    harness.add_item(title="Ferry times", text=FERRY)
    harness.add_item(title="Parking", text=PARKING)
    connection = flow.connect_and_share()
    flow.sync()
    held = kb.Document.objects.filter(connection=connection)
    documents, chunks = held.count(), kb.Chunk.objects.filter(connection=connection).count()
    files = held.exclude(file="").count()
    assert documents >= 2 and chunks >= 2

    assert api.delete(f"/api/v1/connections/{connection.pk}").status_code == 202
    connection.refresh_from_db()
    assert connection.status == models.ConnectionStatus.REVOKED
    purge = models.SyncRun.objects.get(connection=connection, kind=models.RunKind.PURGE)
    assert engine.run(run_id=purge.pk) == models.RunStatus.SUCCEEDED

    body = api.get(f"/api/v1/connections/{connection.pk}").json()
    assert body["status"] == "purged"
    receipt = body["purge_receipt"]
    assert (receipt["documents"], receipt["chunks"], receipt["files"]) == (documents, chunks, files)
    assert receipt["finished_at"]
    assert not kb.Document.objects.filter(connection=connection).exists()
    assert not kb.Chunk.objects.filter(connection=connection).exists()


def test_another_tenants_user_gets_404_on_the_connections_api_and_pages(
    flow: Flow, harness: ProviderHarness, other_tenant: kb.Tenant, make_user: Callable[..., Any],
    login: Callable[..., Client], other_api: ApiClient,
) -> None:
    harness.add_item(title="Ferry times", text=FERRY)
    connection = flow.connect_and_share()
    flow.sync()
    runs_before = models.SyncRun.objects.filter(connection=connection).count()
    stranger = login(make_user("olga", tenant=other_tenant, role="admin"))
    base, api = f"/kb/connections/{connection.pk}", f"/api/v1/connections/{connection.pk}"

    for path in (f"{base}/", f"{base}/roots/", f"{base}/runs/"):
        assert stranger.get(path).status_code == 404, path
    for path in (f"{base}/sync/", f"{base}/disconnect/", f"{base}/sources/"):
        assert stranger.post(path, {}).status_code == 404, path
    session_api = ApiClient(client=stranger)
    for caller in (session_api, other_api):
        for path in (api, f"{api}/roots", f"{api}/runs"):
            assert caller.get(path).status_code == 404, path
        assert caller.post(f"{api}/sync", json={"full": False}).status_code == 404
        assert caller.client.put(f"{api}/sources", [], content_type="application/json",
                                 headers=caller._headers(None)).status_code == 404
        assert caller.delete(api).status_code == 404

    connection.refresh_from_db()
    assert connection.status == models.ConnectionStatus.ACTIVE
    assert models.SyncRun.objects.filter(connection=connection).count() == runs_before
    assert models.ConnectionSource.objects.filter(connection=connection).count() == 1


def test_no_token_plaintext_in_any_table_row_task_row_or_log_line(
    flow: Flow, harness: ProviderHarness, caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django_q.models import OrmQ

    caplog.set_level(logging.DEBUG)
    harness.add_item(title="Ferry times", text=FERRY)
    with django_capture_on_commit_callbacks(execute=True):  # the tasks are queued (as rows) too
        connection = flow.connect_and_share()
        flow.sync()
        models.ConnectionToken.objects.filter(connection=connection).update(expires_at=timezone.now())
        harness.add_item(title="Parking", text=PARKING)
        flow.sync()  # with a refreshed access token

    secrets: set[str] = set()
    for request in harness.requests():
        auth = request.headers.get("authorization", "")
        if auth:
            secrets.add(auth.removeprefix("Bearer ").strip())
        # (Not the authorization code: single use, and the test's own "browser" logs the URL it follows.)
        for field in ("refresh_token", "code_verifier"):
            if request.form.get(field):
                secrets.add(request.form[field])
    secrets.discard("")
    # ClickUp issues no refresh token (and takes no PKCE verifier): its access token is all.
    assert len(secrets) >= (1 if harness.provider == "clickup" else 2), "the harness recorded no credentials"
    tasks = list(OrmQ.objects.all())
    for secret in secrets:
        assert rows_containing(secret) == [], secret[:6]
        assert secret not in caplog.text, secret[:6]
        assert not any(secret in repr(task.task) for task in tasks), secret[:6]
