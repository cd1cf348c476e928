"""The Microsoft 365 harness (tests/connections/harness.py) over the local identity + Graph
server (connections/sandbox/server.py): the harness's items are text files in a OneDrive
folder, which ``share`` selects."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.contrib.auth.models import User
from django.test import Client

from connections import models, services
from knowledge import models as kb
from tests.connections.harness import ProviderHarness, RecordedRequest
from tests.fakes.msgraph_server import FakeMicrosoft

PUBLIC_URL = "http://kb.test"
FOLDER = "Shared with the assistant"


def _filename(title: str) -> str:
    return title if "." in title.rsplit("/", 1)[-1] else f"{title}.txt"


class MicrosoftHarness:
    provider = "microsoft"

    def __init__(self, fake: FakeMicrosoft) -> None:
        self.fake = fake
        self.drive = fake.store.personal_drive_id
        self.folder = fake.store.folder_add(drive_id=self.drive, name=FOLDER)

    def connect(self, *, client: Client, tenant: kb.Tenant, user: User) -> models.Connection:
        start = client.post("/kb/connections/connect/microsoft")
        assert start.status_code == 302, start.content[:500]
        assert start["Location"].startswith(f"{self.fake.authority}/oauth2/v2.0/authorize?")
        at_provider = httpx.get(start["Location"])
        assert at_provider.status_code == 302, at_provider.text[:300]
        back = urlsplit(at_provider.headers["Location"])
        assert f"{back.scheme}://{back.netloc}" == PUBLIC_URL
        done = client.get(f"{back.path}?{back.query}")
        assert done.status_code == 302, done.content[:500]
        return models.Connection.objects.filter(tenant=tenant, owner=user, provider=self.provider).latest("pk")

    def share(self, connection: models.Connection, *, scope: str = "tenant") -> models.ConnectionSource:
        is_admin = kb.Membership.objects.filter(
            tenant_id=connection.tenant_id, user_id=connection.owner_id, role=kb.Role.ADMIN
        ).exists()
        result = services.connection_sources_set(
            connection=connection, is_admin=is_admin,
            choices=[services.SourceChoice(surface=models.Surface.ONEDRIVE, root_id=self.folder, share=scope)],
        )
        return result.sources[0]

    def add_item(self, *, title: str, text: str) -> str:
        return self.fake.store.file_add(drive_id=self.drive, name=_filename(title), content=text.encode(),
                                        parent_id=self.folder)

    def change_item(self, external_id: str, *, text: str) -> None:
        self.fake.store.file_edit(external_id, text.encode())

    def rename_item(self, external_id: str, *, title: str) -> None:
        self.fake.store.item_rename(external_id, _filename(title))

    def delete_item(self, external_id: str) -> None:
        self.fake.store.item_delete(external_id)

    def break_item(self, external_id: str) -> None:
        self.fake.break_item(external_id)

    def revoke(self) -> None:
        self.fake.revoke_grant()

    def throttle_next(self, count: int = 1, *, retry_after: str = "1") -> None:
        self.fake.throttle_next(count, retry_after=retry_after)

    def requests(self) -> list[RecordedRequest]:
        return list(self.fake.requests)


@contextmanager
def make_harness(settings: Any) -> Iterator[ProviderHarness]:
    with FakeMicrosoft() as fake:
        settings.KB_MS_CLIENT_ID = fake.client_id
        settings.KB_MS_CLIENT_SECRET = fake.client_secret
        settings.KB_MS_AUTHORITY = fake.authority
        settings.KB_MS_GRAPH_URL = fake.graph_url
        settings.KB_PUBLIC_URL = PUBLIC_URL
        yield MicrosoftHarness(fake)
