"""``kb_connections list|sync ID [--full]|revoke ID``."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from connections import models
from tests.fakes.msgraph_server import FakeMicrosoft

pytestmark = pytest.mark.django_db


def run(*args: str, stdin: str | None = None) -> str:
    out = io.StringIO()
    extra: dict[str, Any] = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command(*args, stdout=out, **extra)
    return out.getvalue()


def test_kb_connections_lists_syncs_and_revokes(ms: FakeMicrosoft, connection: models.Connection) -> None:
    listing = run("kb_connections", "list")
    assert f"{connection.pk}\tbrightsmile\talice\tmicrosoft\tdana@brightsmile.example\tactive" in listing
    assert "queued" in run("kb_connections", "sync", str(connection.pk))
    assert models.SyncRun.objects.get().kind == "backfill"
    assert "already queued" in run("kb_connections", "sync", str(connection.pk), "--full")
    out = run("kb_connections", "revoke", str(connection.pk))
    assert "revoked" in out and "purge run" in out
    connection.refresh_from_db()
    assert connection.status == "revoked" and not models.ConnectionToken.objects.exists()
    assert models.SyncRun.objects.filter(kind="purge", status="queued").count() == 1
    with pytest.raises(CommandError, match="revoked"):
        run("kb_connections", "sync", str(connection.pk))
    with pytest.raises(CommandError, match="no connection"):
        run("kb_connections", "revoke", "999999")
