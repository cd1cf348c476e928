"""The ClickUp sandbox of `make run`: kb_serve starts it next to Microsoft's, a newcomer
connects it in the browser, shares a list, finds a task comment's answer, deletes the task
with `kb_sandbox` and no longer gets it after the next sync (the sweep)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.core.management import call_command
from django.test import Client

from connections import models, registry, services
from connections.sandbox import serve
from connections.sandbox.clickup import FakeClickUp
from knowledge import models as kb
from knowledge import serve_hooks
from tests.connections.test_sync import Sync, docs, retrieved
from tests.connections.test_sync import sync as sync  # noqa: F401, PLC0414 - the fixture

pytestmark = pytest.mark.django_db


def kb_sandbox(url: str, *args: str) -> str:
    out = io.StringIO()
    call_command("kb_sandbox", *args, url=url, stdout=out)
    return out.getvalue()


def test_kb_serve_starts_the_clickup_sandbox_and_its_demo_answers_until_deleted_there(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tenant: kb.Tenant, admin_member: Any,
    login: Callable[..., Client], sync: Sync, retrieval_on: Any, retrieve_api: Any,
) -> None:
    settings.KB_DATA_DIR = tmp_path
    settings.KB_CLICKUP_CLIENT_ID = ""
    monkeypatch.delenv("KB_SANDBOX_PROVIDERS", raising=False)
    assert serve.start in serve_hooks._hooks
    started = serve.start_clickup()
    assert started is not None
    try:
        env = started.env
        assert "Sandbox ClickUp account: dana@brightsmile.example" in " ".join(started.banner)
        for name in ("KB_CLICKUP_CLIENT_ID", "KB_CLICKUP_CLIENT_SECRET", "KB_CLICKUP_AUTH_URL", "KB_CLICKUP_API_URL"):
            setattr(settings, name, env[name])
        settings.KB_SANDBOX_PROVIDERS = True
        settings.KB_PUBLIC_URL = "http://kb.test"
        assert "ClickUp (Sandbox)" in [spec.display_label() for spec in registry.offered()]

        client = login(admin_member)
        start = client.post("/kb/connections/connect/clickup")
        back = urlsplit(httpx.get(start["Location"]).headers["Location"])
        assert client.get(f"{back.path}?{back.query}").status_code == 302
        connection = models.Connection.objects.get(provider="clickup")
        notes = next(r for r in services.roots_list(connection=connection).items if r.label == "Clinic / Team notes")
        services.connection_sources_set(connection=connection, is_admin=True, choices=[
            services.SourceChoice(surface=notes.surface, root_id=notes.root_id, share="tenant")])
        models.SyncRun.objects.filter(connection=connection).delete()
        assert sync(connection, "backfill").status == "succeeded"
        assert "three monthly instalments" in retrieved(retrieve_api, "can I pay for a crown in instalments")

        listed = kb_sandbox(env["KB_SANDBOX_CLICKUP_URL"], "list")
        faq = next(line.split()[0] for line in listed.splitlines() if line.rstrip().endswith("Front desk FAQ thread"))
        assert "deleted" in kb_sandbox(env["KB_SANDBOX_CLICKUP_URL"], "delete", faq)
        run = sync(connection)

        assert run.counts["deleted"] == 1 and docs(connection) == []
        assert "instalments" not in retrieved(retrieve_api, "can I pay for a crown in instalments")
    finally:
        started.stop()

    with FakeClickUp(state_path=tmp_path / "sandbox" / "clickup.pickle") as again:
        assert again.restored and faq in again.store.tasks and again.store.tasks[faq].deleted


def test_no_clickup_sandbox_beside_a_real_clickup_client_id(settings: Any, tmp_path: Path) -> None:
    settings.KB_DATA_DIR = tmp_path
    settings.KB_CLICKUP_CLIENT_ID = "a-real-app"
    assert serve.start_clickup() is None


def test_kb_sandbox_finds_each_running_sandbox_by_provider(settings: Any, tmp_path: Any) -> None:
    """``kb_sandbox --provider`` reads the URL the running sandbox wrote (no --url needed)."""
    from connections.sandbox.clickup_store import seed_demo

    settings.KB_DATA_DIR = str(tmp_path)
    serve.state_dir().mkdir(parents=True)
    with FakeClickUp() as fake:
        seed_demo(fake.store)
        serve.clickup_url_file().write_text(fake.base_url)
        out = io.StringIO()
        call_command("kb_sandbox", "list", provider="clickup", stdout=out)
    assert "task" in out.getvalue() and " items" in out.getvalue()
