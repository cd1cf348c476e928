"""Sync runs in a real django-q2 worker (``manage.py qcluster``) against the local Graph
server: a throttled run pauses, and the worker itself resumes it (the run's one-off schedule
at ``resume_at``) and takes it to success."""

from __future__ import annotations

from typing import Any

import pytest

from connections import models, services, tokens
from knowledge import models as kb
from tests.conftest import ApiClient, Worker, wait_for
from tests.connections.conftest import token_set_from
from tests.fakes.msgraph_server import FakeMicrosoft

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _run(run: models.SyncRun) -> models.SyncRun:
    run.refresh_from_db()
    return run


def test_a_throttled_sync_pauses_and_the_real_worker_resumes_it_to_success(
    tenant: kb.Tenant, admin_member: Any, worker_env: dict[str, str], settings: Any, retrieval_on: Any,
    retrieve_api: ApiClient,
) -> None:
    with FakeMicrosoft() as ms:
        settings.KB_MS_CLIENT_ID, settings.KB_MS_CLIENT_SECRET = ms.client_id, ms.client_secret
        settings.KB_MS_AUTHORITY, settings.KB_MS_GRAPH_URL = ms.authority, ms.graph_url
        env = {**worker_env, "KB_MS_CLIENT_ID": ms.client_id, "KB_MS_CLIENT_SECRET": ms.client_secret,
               "KB_MS_AUTHORITY": ms.authority, "KB_MS_GRAPH_URL": ms.graph_url}
        drive = ms.store.personal_drive_id
        ms.store.file_add(drive_id=drive, name="ferry.txt", content=b"The harbour ferry leaves at 7:40 from pier nine.")
        ms.store.file_add(drive_id=drive, name="parking.txt", content=b"Park for free in the lavender garage.")
        connection = tokens.connection_connect(
            tenant=tenant, owner=admin_member, provider=models.Provider.MICROSOFT, external_account_id="user-1",
            account_label="dana@brightsmile.example", token_set=token_set_from(ms.grant()),
        ).connection
        models.ConnectionSource.objects.create(
            tenant=tenant, connection=connection, surface=models.Surface.ONEDRIVE, root_id=drive, share="tenant",
            label="OneDrive", extra={"drive_id": drive},
        )
        ms.throttle_next(1, retry_after="3")
        run = services.sync_request(connection=connection, kind=models.RunKind.BACKFILL,
                                    trigger=models.RunTrigger.MANUAL).run

        worker = Worker(env).start()
        try:
            # The worker takes the run, meets the 429 and pauses it: queued again until resume_at.
            paused = wait_for(lambda: (r := _run(run)).resume_at is not None and r.status == "queued" and r, timeout=90,
                              interval=0.1)
            resume_at = paused.resume_at
            assert "paused" in paused.error and "3 s" in paused.error
            assert paused.attempts == 0  # a throttled attempt gives its attempt back
            assert [r.status for r in ms.requests if r.path.startswith("/v1.0/")][:1] == [429]
            # Nothing in the test process touches the run from here: the worker resumes it.
            done = wait_for(lambda: (r := _run(run)).status in ("succeeded", "failed") and r, timeout=150, interval=0.5)
            assert done.status == "succeeded", done.error
            assert done.resume_at is None and done.error == "" and done.attempts == 1
            assert done.counts["created"] == 2 and done.counts["failed"] == 0
            assert done.finished_at is not None and done.finished_at >= resume_at
            docs = kb.Document.objects.filter(connection=connection)
            wait_for(lambda: docs.filter(status="ready").count() == 2, timeout=90)
        finally:
            worker.kill()
    body = retrieve_api.post("/api/v1/retrieve", json={"query": "when does the harbour ferry leave", "top_k": 5}).json()
    assert "pier nine" in " ".join(hit["text"] for hit in body["knowledge"])
    connection.refresh_from_db()
    assert connection.last_sync_at is not None and connection.next_sync_at is not None
