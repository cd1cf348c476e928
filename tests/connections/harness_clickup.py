"""The ClickUp side of the connector contract suite (/work/harness-contract.md): the local
ClickUp server with one workspace ("Harness Co" / "Ops" / list "Harness list") whose list
holds the harness's items, the KB_CLICKUP_* settings pointed at it, and the protocol's
methods over its store and knobs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.test import Client

from connections import models, services
from knowledge import models as kb
from tests.fakes.clickup_server import FakeClickUp, RecordedRequest

LIST_NAME = "Harness list"


class ClickUpHarness:
    provider = "clickup"

    def __init__(self, fake: FakeClickUp) -> None:
        self.fake = fake
        store = fake.store
        self.team_id = store.team_add("Harness Co")
        self.space_id = store.space_add(self.team_id, "Ops")
        self.list_id = store.list_add(self.space_id, LIST_NAME)

    def connect(self, *, client: Client, tenant: kb.Tenant, user: Any) -> models.Connection:
        """Our connect view → ClickUp's authorize endpoint (a real HTTP call) → our callback."""
        if str(client.session.get("_auth_user_id", "")) != str(user.pk):
            client.force_login(user)
        start = client.post("/kb/connections/connect/clickup")
        assert start.status_code == 302, start.content[:500]
        assert start["Location"].startswith(f"{self.fake.auth_url}?")
        at_provider = httpx.get(start["Location"])
        assert at_provider.status_code == 302, at_provider.text[:300]
        back = urlsplit(at_provider.headers["Location"])
        done = client.get(f"{back.path}?{back.query}")
        assert done.status_code == 302, done.content[:500]
        connection = models.Connection.objects.filter(
            tenant=tenant, owner=user, provider=models.Provider.CLICKUP
        ).order_by("-pk").first()
        assert connection is not None and connection.status == models.ConnectionStatus.ACTIVE
        return connection

    def share(self, connection: models.Connection, *, scope: str = "tenant") -> models.ConnectionSource:
        """Select the harness's list through the services (the pages' path), with the owner's role."""
        listing = services.roots_list(connection=connection)
        root = next(r for r in listing.items if r.surface == models.Surface.CLICKUP_LIST and r.root_id == self.list_id)
        role = kb.Membership.objects.filter(tenant_id=connection.tenant_id, user_id=connection.owner_id).values_list(
            "role", flat=True).first()
        services.connection_sources_set(
            connection=connection, is_admin=role == "admin",
            choices=[services.SourceChoice(surface=root.surface, root_id=root.root_id, share=scope)],
        )
        return models.ConnectionSource.objects.get(connection=connection, surface=root.surface, root_id=root.root_id)

    def add_item(self, *, title: str, text: str) -> str:
        with self.fake._lock:
            return self.fake.store.task_add(self.list_id, title, text)

    def change_item(self, external_id: str, *, text: str) -> None:
        with self.fake._lock:
            self.fake.store.task_edit(external_id, description=text)

    def rename_item(self, external_id: str, *, title: str) -> None:
        with self.fake._lock:
            self.fake.store.task_edit(external_id, name=title)

    def delete_item(self, external_id: str) -> None:
        """Gone from ClickUp's listings (and 404): only the sweep can tell."""
        with self.fake._lock:
            self.fake.store.task_delete(external_id)

    def break_item(self, external_id: str) -> None:
        self.fake.break_item(external_id, once=False)  # broken until the test ends, as the others

    def revoke(self) -> None:
        self.fake.revoke()

    def throttle_next(self, count: int = 1, *, retry_after: str = "1") -> None:
        self.fake.throttle_next(count, retry_after=retry_after)

    def requests(self) -> list[RecordedRequest]:
        return list(self.fake.requests)


@contextmanager
def make_harness(settings: Any) -> Iterator[ClickUpHarness]:
    with FakeClickUp() as fake:
        settings.KB_CLICKUP_CLIENT_ID = fake.client_id
        settings.KB_CLICKUP_CLIENT_SECRET = fake.client_secret
        settings.KB_CLICKUP_AUTH_URL = fake.auth_url
        settings.KB_CLICKUP_API_URL = fake.api_url
        settings.KB_PUBLIC_URL = "http://kb.test"
        yield ClickUpHarness(fake)
