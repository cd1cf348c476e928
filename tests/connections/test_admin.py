"""Django admin for connections: a tenant's admin sees only their tenant's connections,
sources and runs; tokens have no admin page; nothing is editable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from connections import models
from knowledge import models as kb
from tests.fakes.msgraph_server import FakeMicrosoft

pytestmark = pytest.mark.django_db


def test_a_tenant_admin_sees_only_their_tenants_connections_sources_and_runs(
    ms: FakeMicrosoft, connect: Callable[..., models.Connection], admin_member: Any,
    login: Callable[..., Client], other_tenant: kb.Tenant, make_user: Callable[..., Any],
) -> None:
    mine = connect()
    theirs = connect(to=other_tenant, owner=make_user("olga", tenant=other_tenant), account_id="user-x")
    for conn in (mine, theirs):
        models.ConnectionSource.objects.create(tenant=conn.tenant, connection=conn, surface="onedrive", root_id="d")
        models.SyncRun.objects.create(tenant=conn.tenant, connection=conn, kind="backfill")
    client = login(admin_member)
    for url, model in (
        ("/admin/connections/connection/", models.Connection),
        ("/admin/connections/connectionsource/", models.ConnectionSource),
        ("/admin/connections/syncrun/", models.SyncRun),
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert list(page.context["cl"].queryset) == list(model.objects.filter(tenant=mine.tenant)), url
    other_page = client.get(f"/admin/connections/connection/{theirs.pk}/change/")
    assert other_page.status_code == 302  # "does not exist" → back to the admin index
    own_page = client.get(f"/admin/connections/connection/{mine.pk}/change/")
    assert own_page.status_code == 200
    assert b"access_token" not in own_page.content


def test_tokens_have_no_admin_page(admin_member: Any, login: Callable[..., Client]) -> None:
    assert login(admin_member).get("/admin/connections/connectiontoken/").status_code == 404
