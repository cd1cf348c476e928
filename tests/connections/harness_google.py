"""The connector test harness for Google (the protocol of tests/connections/harness.py):
the local Google server (tests/fakes/google_server.py) with the ``KB_GOOGLE_*`` settings
pointed at it. The harness's items are plain files in a "KB harness" folder of My Drive —
files, so a rename reports the same md5Checksum and nothing is downloaded again (native Docs
are exported again on a rename: their own tests are in test_google_drive.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.test import Client

from connections import models, selectors, services
from knowledge import models as kb
from tests.fakes.google_server import FakeGoogle, RecordedRequest

FOLDER_NAME = "KB harness"


class GoogleHarness:
    provider = "google"

    def __init__(self, fake: FakeGoogle) -> None:
        self.fake = fake
        self.folder_id = fake.store.folder_add(name=FOLDER_NAME)

    def connect(self, *, client: Client, tenant: kb.Tenant, user: Any) -> models.Connection:
        """Our connect view → Google's authorize endpoint (the local server) → our callback."""
        client.force_login(user)
        start = client.post("/kb/connections/connect/google")
        assert start.status_code == 302, start.content[:500]
        at_google = httpx.get(start["Location"])
        assert at_google.status_code == 302, at_google.text[:500]
        back = urlsplit(at_google.headers["Location"])
        answer = client.get(f"{back.path}?{back.query}")
        assert answer.status_code == 302, answer.content[:500]
        return models.Connection.objects.filter(
            tenant=tenant, owner=user, provider=models.Provider.GOOGLE, status=models.ConnectionStatus.ACTIVE
        ).latest("pk")

    def share(self, connection: models.Connection, *, scope: str = "tenant") -> models.ConnectionSource:
        """Select the harness folder through the services, with the owner's rights (as the page does)."""
        listing = services.roots_list(connection=connection)
        root = next(r for r in listing.items if r.surface == models.Surface.GDRIVE_FOLDER and r.root_id == self.folder_id)
        membership = kb.Membership.objects.filter(tenant_id=connection.tenant_id, user_id=connection.owner_id).first()
        viewer = selectors.viewer_for(tenant=connection.tenant, user=connection.owner,
                                      role=membership.role if membership else "")
        result = services.connection_sources_set(
            connection=connection, is_admin=viewer.is_admin,
            choices=[services.SourceChoice(surface=root.surface, root_id=root.root_id, share=scope)],
        )
        return next(s for s in result.sources if s.root_id == self.folder_id)

    def add_item(self, *, title: str, text: str) -> str:
        return self.fake.store.file_add(name=title, content=text.encode(), parent_id=self.folder_id,
                                        mime_type="text/plain")

    def change_item(self, external_id: str, *, text: str) -> None:
        self.fake.store.file_edit(external_id, text.encode())

    def rename_item(self, external_id: str, *, title: str) -> None:
        self.fake.store.rename(external_id, title)

    def delete_item(self, external_id: str) -> None:
        self.fake.store.delete(external_id)

    def break_item(self, external_id: str) -> None:
        self.fake.break_item(external_id)

    def revoke(self) -> None:
        self.fake.revoke_grant()

    def throttle_next(self, count: int = 1, *, retry_after: str = "1") -> None:
        self.fake.throttle_next(count, retry_after=retry_after, status=429)

    def requests(self) -> list[RecordedRequest]:
        return list(self.fake.requests)


@contextmanager
def make_harness(settings: Any) -> Iterator[GoogleHarness]:
    with FakeGoogle() as fake:
        for name, value in fake.settings().items():
            setattr(settings, name, value)
        settings.KB_PUBLIC_URL = "http://kb.test"
        yield GoogleHarness(fake)
