"""The Google connector harness (harness_google.py) drives a whole lifecycle: browser connect,
share, backfill, change, rename, delete, a broken item, throttling and revocation — a check
of the harness itself; the provider-parametrised contract suite uses it the same way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from connections import models
from connections.sync import engine
from knowledge import models as kb
from tests.connections.harness_google import GoogleHarness, make_harness
from tests.connections.test_sync import Sync, docs, retrieved
from tests.connections.test_sync import sync as sync  # noqa: F401, PLC0414 - the fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def harness(settings: Any) -> Iterator[GoogleHarness]:
    with make_harness(settings) as h:
        yield h


def test_the_google_harness_drives_a_connection_through_its_lifecycle(
    harness: GoogleHarness, admin_member: Any, tenant: kb.Tenant, sync: Sync, retrieval_on: Any, retrieve_api: Any,
) -> None:
    connection = harness.connect(client=Client(), tenant=tenant, user=admin_member)
    kept = harness.add_item(title="hours.txt", text="We are open Saturdays from nine to noon.")
    gone = harness.add_item(title="parking.txt", text="Free parking in the courtyard.")
    broken = harness.add_item(title="broken.txt", text="Cannot be read today.")
    harness.break_item(broken)
    source = harness.share(connection, scope="tenant")
    assert source.share == "tenant"
    models.SyncRun.objects.filter(connection=connection).delete()  # run in process instead of the queue

    run = sync(connection, "backfill")
    assert run.counts["created"] == 2 and run.counts["failed"] == 1
    assert "open Saturdays" in retrieved(retrieve_api, "are you open on saturdays")

    harness.change_item(kept, text="We are open Saturdays from ten to noon.")
    harness.rename_item(gone, title="parking-2026.txt")
    run = sync(connection)
    assert run.counts["updated"] == 1 and run.counts["unchanged"] == 1  # the rename fetched nothing

    harness.delete_item(gone)
    harness.throttle_next(1, retry_after="1")
    run = models.SyncRun.objects.create(tenant=tenant, connection=connection, kind="delta")
    assert engine.run(run_id=run.pk) == engine.PAUSED
    models.SyncRun.objects.filter(pk=run.pk).update(resume_at=timezone.now())
    assert engine.run(run_id=run.pk) == "succeeded"
    assert "parking-2026.txt" not in [d.name for d in docs(connection)]

    harness.revoke()
    harness.change_item(kept, text="Changed after the revocation.")
    run = sync(connection)
    connection.refresh_from_db()
    assert run.status == "failed" and connection.status == "needs_reauth"
    assert any(r.path == "/token" for r in harness.requests())
