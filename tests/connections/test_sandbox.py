"""The sandbox of `make run` (connections/sandbox/): the demo business served by the local
Microsoft server, changed through `kb_sandbox` (its /_sandbox/ control endpoints) and synced
through the real engine — a newcomer's walk-through, as a test."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from connections import models, services
from connections.sandbox import demo, serve
from connections.sandbox.server import FakeMicrosoft
from knowledge import serve_hooks
from tests.connections.test_sync import Sync, docs, retrieved
from tests.connections.test_sync import sync as sync  # noqa: F401, PLC0414 - the fixture

pytestmark = pytest.mark.django_db


def kb_sandbox(ms: FakeMicrosoft, *args: str) -> str:
    out = io.StringIO()
    call_command("kb_sandbox", *args, url=ms.base_url, stdout=out)
    return out.getvalue()


def sandbox_id(ms: FakeMicrosoft, name: str) -> str:
    """The id `kb_sandbox list` shows for an item, as a newcomer would read it."""
    for line in kb_sandbox(ms, "list").splitlines():
        if line.rstrip().endswith(f" {name}"):
            return line.split()[0]
    raise AssertionError(f"{name} not listed")


@pytest.fixture
def demo_ms(ms: FakeMicrosoft) -> FakeMicrosoft:
    demo.seed(ms.store)
    return ms


def share_reception(connection: models.Connection) -> None:
    listing = services.roots_list(connection=connection)
    reception = next(r for r in listing.items if r.label.endswith("/ Reception"))
    services.connection_sources_set(
        connection=connection, is_admin=True,
        choices=[services.SourceChoice(surface=reception.surface, root_id=reception.root_id, share="tenant")],
    )


def test_a_demo_file_deleted_with_kb_sandbox_is_gone_after_the_next_delta(
    demo_ms: FakeMicrosoft, connection: models.Connection, sync: Sync, retrieval_on: Any, retrieve_api: Any
) -> None:
    share_reception(connection)
    models.SyncRun.objects.filter(connection=connection).delete()  # run it in process instead of the queue
    sync(connection, "backfill")
    assert [d.name for d in docs(connection)] == [
        "cancellation-policy.docx", "opening-hours.txt", "parking.txt", "prices.md",
    ]
    assert "courtyard" in retrieved(retrieve_api, "where can patients park")
    assert "24 hours" in retrieved(retrieve_api, "cancellation policy missed appointment")

    kb_sandbox(demo_ms, "delete", sandbox_id(demo_ms, "parking.txt"))
    run = sync(connection)

    assert run.status == "succeeded" and run.counts["deleted"] == 1
    assert "parking.txt" not in [d.name for d in docs(connection)]
    assert "courtyard" not in retrieved(retrieve_api, "where can patients park")


def test_an_edit_and_an_addition_with_kb_sandbox_arrive_at_the_next_delta(
    demo_ms: FakeMicrosoft, connection: models.Connection, sync: Sync, retrieval_on: Any, retrieve_api: Any
) -> None:
    share_reception(connection)
    models.SyncRun.objects.filter(connection=connection).delete()
    sync(connection, "backfill")

    kb_sandbox(demo_ms, "edit", sandbox_id(demo_ms, "parking.txt"), "--text", "Parking now in the Mill Lane garage.")
    kb_sandbox(demo_ms, "add", "--parent", "Reception", "--name", "languages.txt", "--text", "We speak Spanish.")
    kb_sandbox(demo_ms, "add", "--parent", "Private", "--name", "diary.txt", "--text", "Not shared.")
    run = sync(connection)

    assert run.status == "succeeded" and (run.counts["created"], run.counts["updated"]) == (1, 1)
    assert "garage" in retrieved(retrieve_api, "where can patients park")
    assert "courtyard" not in retrieved(retrieve_api, "where can patients park")
    assert "diary.txt" not in [d.name for d in docs(connection)]


def test_the_demo_shared_inbox_and_teams_channel_are_retrievable_once_shared(
    demo_ms: FakeMicrosoft, connection: models.Connection, sync: Sync, retrieval_on: Any, retrieve_api: Any
) -> None:
    listing = services.roots_list(connection=connection)
    chosen = [r for r in listing.items if r.label.endswith(("Shared inbox", "Front desk"))]
    assert {r.surface for r in chosen} == {"mail_folder", "teams_channel"}
    services.connection_sources_set(
        connection=connection, is_admin=True,
        choices=[services.SourceChoice(surface=r.surface, root_id=r.root_id, share="tenant") for r in chosen],
    )
    models.SyncRun.objects.filter(connection=connection).delete()

    run = sync(connection, "backfill")

    assert run.status == "succeeded" and run.counts["created"] == 5  # three mails, an attachment, one thread
    assert "Jonas" in retrieved(retrieve_api, "new hygienist December")
    assert "45 minutes" in retrieved(retrieve_api, "how long does a cleaning with Jonas take")
    assert "299 EUR" in retrieved(retrieve_api, "whitening offer price")


def test_kb_sandbox_lists_the_demo_business_and_refuses_an_unknown_item(demo_ms: FakeMicrosoft) -> None:
    listing = kb_sandbox(demo_ms, "list")

    for name in ("Reception", "opening-hours.txt", "Christmas closing", "Whitening offer"):
        assert name in listing
    with pytest.raises(CommandError, match="no such sandbox item"):
        kb_sandbox(demo_ms, "delete", "item-999999")


def test_the_sandbox_keeps_its_account_and_grants_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "microsoft.pickle"
    with FakeMicrosoft(state_path=state) as first:
        demo.seed(first.store)
        grant = first.grant()
        httpx.post(f"{first.base_url}/_sandbox/items", json={"kind": "file", "name": "new.txt", "text": "x"})

    with FakeMicrosoft(state_path=state) as second:
        assert second.restored
        assert "new.txt" in [i.name for i in second.store.items.values()]
        me = httpx.get(f"{second.graph_url}/me", headers={"Authorization": f"Bearer {grant['access_token']}"})
        assert me.status_code == 200 and me.json()["mail"] == "dana@brightsmile.example"


def test_kb_serve_starts_the_sandbox_when_no_client_id_is_set(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.KB_DATA_DIR = tmp_path
    settings.KB_MS_CLIENT_ID = ""
    monkeypatch.delenv("KB_SANDBOX_PROVIDERS", raising=False)

    started = serve_hooks.start_all()
    try:
        env = next(s.env for s in started if "KB_SANDBOX_URL" in s.env)
        banner = " ".join(line for s in started for line in s.banner)
        assert env["KB_SANDBOX_PROVIDERS"] == "1" and env["KB_MS_CLIENT_ID"] == serve.CLIENT_ID
        assert env["KB_MS_GRAPH_URL"] == f"{env['KB_SANDBOX_URL']}/v1.0"
        assert "Sandbox Microsoft account: dana@brightsmile.example" in banner
        assert serve.url_file().read_text() == env["KB_SANDBOX_URL"]
        listed = httpx.get(f"{env['KB_SANDBOX_URL']}/_sandbox/items").json()
        assert listed["count"] > 5
    finally:
        serve_hooks.stop_all(started)
    assert not serve.url_file().exists()


def test_kb_serve_starts_no_sandbox_beside_a_real_client_id(settings: Any, tmp_path: Path) -> None:
    settings.KB_DATA_DIR = tmp_path
    settings.KB_MS_CLIENT_ID = "a-real-app"

    assert serve.start() is None


