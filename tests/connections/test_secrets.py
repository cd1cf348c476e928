"""The token plaintext is in no table row (every text, JSON and binary column of every table
is scanned), no log line and no django-q task row, through the whole browser flow, a token
refresh, a sync request and a disconnect."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection as db
from django.test import Client
from django.utils import timezone

from connections import models, tokens
from knowledge import models as kb
from tests.conftest import ApiClient
from tests.connections import flow
from tests.fakes.msgraph_server import FakeMicrosoft

pytestmark = pytest.mark.django_db


def rows_containing(secret: str) -> list[str]:
    """``table.column`` of every row holding ``secret``, whatever the column's type."""
    found: list[str] = []
    with db.cursor() as cur:
        cur.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        )
        columns = cur.fetchall()
        for table, column, data_type in columns:
            if data_type == "bytea":
                predicate = f'position(convert_to(%s, \'UTF8\') in "{column}") > 0'
            else:
                predicate = f'strpos("{column}"::text, %s) > 0'
            cur.execute(f'SELECT count(*) FROM "{table}" WHERE {predicate}', [secret])  # noqa: S608 - names from the catalog
            if cur.fetchone()[0]:
                found.append(f"{table}.{column}")
    return found


def test_the_token_plaintext_is_in_no_table_row_log_line_or_task_row(
    ms: FakeMicrosoft, make_user: Callable[..., Any], tenant: kb.Tenant, login: Callable[..., Client],
    caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any,
) -> None:
    from django_q.models import OrmQ

    caplog.set_level(logging.DEBUG)
    member = make_user("mia", tenant=tenant, role="member")
    client = login(member)
    with django_capture_on_commit_callbacks(execute=True):
        flow.connect(client, ms)
        connection = models.Connection.objects.get()
        secrets = [tokens.access_token_get(connection=connection), tokens.refresh_token_get(connection_id=connection.pk)]
        # A refresh (rotated refresh token) and its new pair.
        models.ConnectionToken.objects.update(expires_at=timezone.now())
        secrets += [tokens.access_token_get(connection=connection), tokens.refresh_token_get(connection_id=connection.pk)]
        api = ApiClient(client=client)
        inbox = ms.store.mail_folder_id("inbox")
        assert api.client.put(f"/api/v1/connections/{connection.pk}/sources",
                              [{"surface": "mail_folder", "root_id": inbox}], content_type="application/json").status_code == 200
        # The scan finds what is there (the account label is stored in plain text).
        assert "connections_connection.account_label" in rows_containing("dana@brightsmile.example")
        secrets_live = [s for s in secrets if s]
        assert len(secrets_live) == 4 and len(set(secrets_live)) == 4
        for secret in secrets_live:
            assert rows_containing(secret) == [], secret
        assert api.delete(f"/api/v1/connections/{connection.pk}").status_code == 202
    tasks = list(OrmQ.objects.all())
    assert len(tasks) == 2  # the backfill and the purge
    for secret in secrets_live:
        assert rows_containing(secret) == [], secret
        assert secret not in caplog.text
        for task in tasks:
            assert secret not in repr(task.task)
    assert all(task.task["args"] == (run.pk,) for task, run in zip(
        sorted(tasks, key=lambda t: t.task["args"]), models.SyncRun.objects.order_by("pk"), strict=True))
