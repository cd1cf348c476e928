"""The ClickUp harness of the connector contract suite drives the whole lifecycle: the browser
connect flow, a shared list, add / change / rename / delete / break at the source, throttling
and revocation — checked here through the engine, so the harness is known to work before the
contract suite (another module) runs it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from connections import models
from knowledge import models as kb
from tests.connections.harness_clickup import make_harness
from tests.connections.test_sync import Sync, docs, retrieved
from tests.connections.test_sync import sync as sync  # noqa: F401, PLC0414 - the fixture

pytestmark = pytest.mark.django_db


def chunk_ids(doc: kb.Document) -> list[int]:
    return list(kb.Chunk.objects.filter(document=doc).order_by("chunk_index").values_list("pk", flat=True))


def test_the_clickup_harness_runs_the_connector_lifecycle(
    settings: Any, tenant: kb.Tenant, admin_member: Any, login: Callable[..., Client], sync: Sync,
    retrieval_on: Any, retrieve_api: Any,
) -> None:
    with make_harness(settings) as h:
        assert h.provider == "clickup"
        hours = h.add_item(title="Opening hours", text="We open at nine on Saturdays.")
        parking = h.add_item(title="Parking", text="Free parking behind the clinic on Mill Lane.")
        connection = h.connect(client=login(admin_member), tenant=tenant, user=admin_member)
        source = h.share(connection, scope="tenant")
        assert source.surface == "clickup_list" and source.share == "tenant"
        models.SyncRun.objects.filter(connection=connection, status="queued").delete()

        assert sync(connection, "backfill").counts["created"] == 2
        assert "nine on Saturdays" in retrieved(retrieve_api, "when do you open on saturday")

        parking_doc = next(d for d in docs(connection) if d.name == "Parking")
        before = chunk_ids(parking_doc)
        h.change_item(hours, text="We open at ten on Saturdays.")
        h.rename_item(parking, title="Parking and access")
        run = sync(connection)
        assert run.counts["updated"] == 1
        parking_doc.refresh_from_db()
        assert parking_doc.name == "Parking and access" and chunk_ids(parking_doc) == before
        assert "ten on Saturdays" in retrieved(retrieve_api, "when do you open on saturday")

        h.delete_item(parking)
        assert sync(connection).counts["deleted"] == 1

        broken = h.add_item(title="Prices", text="A check-up costs 85 EUR.")
        h.add_item(title="Team", text="Dr Novak works on Tuesdays.")
        h.break_item(broken)
        h.throttle_next(1, retry_after="1")
        run = sync(connection)
        assert run.status == "succeeded" and run.counts["failed"] == 1
        assert any(r.status == 429 for r in h.requests())

        h.revoke()
        assert sync(connection).status == "failed"
        connection.refresh_from_db()
        assert connection.status == "needs_reauth"
        assert "Saturdays" not in retrieved(retrieve_api, "when do you open on saturday")
