"""The Google sandbox of `make run`: started by kb_serve beside the Microsoft one, the demo
business's Docs and mails synced through the real engine, changed with `kb_sandbox --url`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.management import call_command

from connections import models, services
from connections.sandbox import google_demo, serve
from knowledge import serve_hooks
from tests.connections.google_fixtures import gconnect as gconnect  # noqa: F401, PLC0414 - fixtures
from tests.connections.google_fixtures import gconnection as gconnection  # noqa: F401, PLC0414
from tests.connections.google_fixtures import gfake as gfake  # noqa: F401, PLC0414
from tests.connections.test_sync import Sync, docs, retrieved
from tests.connections.test_sync import sync as sync  # noqa: F401, PLC0414 - the fixture
from tests.fakes.google_server import FakeGoogle

pytestmark = pytest.mark.django_db


def kb_sandbox(fake: FakeGoogle, *args: str, **opts: str) -> str:
    out = io.StringIO()
    call_command("kb_sandbox", *args, url=fake.base_url, stdout=out, **opts)
    return out.getvalue()


def sandbox_id(fake: FakeGoogle, name: str) -> str:
    for line in kb_sandbox(fake, "list").splitlines():
        if line.rstrip().endswith(f" {name}"):
            return line.split()[0]
    raise AssertionError(f"{name} not listed")


def share(connection: models.Connection, label: str, surface: str) -> None:
    listing = services.roots_list(connection=connection)
    root = next(r for r in listing.items if r.label == label and r.surface == surface)
    services.connection_sources_set(
        connection=connection, is_admin=True,
        choices=[services.SourceChoice(surface=root.surface, root_id=root.root_id, share="tenant", mail_tier="body")],
    )


def test_the_demo_docs_and_mails_answer_and_a_doc_deleted_with_kb_sandbox_is_gone_after_the_next_delta(
    gfake: FakeGoogle, gconnection: models.Connection, sync: Sync, retrieval_on: Any, retrieve_api: Any
) -> None:
    google_demo.seed(gfake.store)
    share(gconnection, "My Drive / Reception", "gdrive_folder")
    listing = services.roots_list(connection=gconnection)
    front = next(r for r in listing.items if r.label == "Front desk")
    services.connection_sources_set(connection=gconnection, is_admin=True, choices=[
        *[services.SourceChoice(surface=s.surface, root_id=s.root_id, share="tenant")
          for s in models.ConnectionSource.objects.filter(connection=gconnection)],
        services.SourceChoice(surface=front.surface, root_id=front.root_id, share="tenant", mail_tier="body"),
    ])
    models.SyncRun.objects.filter(connection=gconnection).delete()  # run it in process instead of the queue

    run = sync(gconnection, "backfill")

    assert run.status == "succeeded" and run.counts["failed"] == 0, run.item_errors
    assert [d.name for d in docs(gconnection, "gdrive")] == [
        "Cancellation policy", "Opening hours", "Prices 2026", "parking.txt",
    ]
    assert sorted(d.name for d in docs(gconnection, "gmail")) == [
        "Christmas closing", "New hygienist from December", "Re: Do you take the Kinder card?",
    ]
    assert "9:00 to 12:00" in retrieved(retrieve_api, "when are you open on saturday")
    assert "Kinder" in retrieved(retrieve_api, "do you take the kinder card")

    kb_sandbox(gfake, "delete", sandbox_id(gfake, "Opening hours"))
    added = kb_sandbox(gfake, "add", kind="mail", name="Sunday clinic", text="We open one Sunday a month.",
                       parent="Front desk")
    run = sync(gconnection)

    assert run.status == "succeeded" and run.counts["deleted"] == 1 and run.counts["created"] == 1, added
    assert "Opening hours" not in [d.name for d in docs(gconnection)]
    assert "9:00 to 12:00" not in retrieved(retrieve_api, "when are you open on saturday")


def test_kb_serve_starts_the_google_sandbox_beside_the_microsoft_one(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.KB_DATA_DIR = tmp_path
    settings.KB_MS_CLIENT_ID = ""
    settings.KB_GOOGLE_CLIENT_ID = ""
    monkeypatch.delenv("KB_SANDBOX_PROVIDERS", raising=False)

    started = serve_hooks.start_all()
    try:
        env = {k: v for s in started for k, v in s.env.items()}
        banner = " ".join(line for s in started for line in s.banner)
        google_url = serve.google_url_file().read_text()
        assert env["KB_GOOGLE_DRIVE_URL"] == f"{google_url}/drive/v3" and env["KB_MS_GRAPH_URL"]
        assert env["KB_GOOGLE_CLIENT_ID"].startswith("sandbox") and env["KB_SANDBOX_PROVIDERS"] == "1"
        assert "Sandbox Google account: dana@brightsmile.example" in banner
        listed = httpx.get(f"{google_url}/_sandbox/items").json()
        assert {"Opening hours", "Front desk"} <= {i["name"] for i in listed["items"]} | {
            w for i in listed["items"] for w in i["where"].split(", ")}
    finally:
        serve_hooks.stop_all(started)
    assert not serve.google_url_file().exists()
    assert (tmp_path / "sandbox" / "google.pickle").exists()


def test_kb_serve_starts_no_google_sandbox_beside_a_real_google_client_id(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.KB_DATA_DIR = tmp_path
    settings.KB_GOOGLE_CLIENT_ID = "a-real-app.apps.googleusercontent.com"
    monkeypatch.setenv("KB_SANDBOX_PROVIDERS", "1")
    settings.KB_SANDBOX_PROVIDERS = True

    assert serve.start_google() is None
