"""Fixtures for the ClickUp tests: the local ClickUp server (tests/fakes/clickup_server.py),
settings pointed at it, a connection made through the token service, and a source selected
through the services as the pages do. Test modules import the fixtures they use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connections import models, services, tokens
from connections.providers import oauth2
from knowledge import models as kb
from tests.fakes.clickup_server import FakeClickUp, seed_demo


@pytest.fixture
def cu(settings: Any) -> Iterator[FakeClickUp]:
    with FakeClickUp() as fake:
        settings.KB_CLICKUP_CLIENT_ID = fake.client_id
        settings.KB_CLICKUP_CLIENT_SECRET = fake.client_secret
        settings.KB_CLICKUP_AUTH_URL = fake.auth_url
        settings.KB_CLICKUP_API_URL = fake.api_url
        settings.KB_PUBLIC_URL = "http://kb.test"
        yield fake


@pytest.fixture
def demo(cu: FakeClickUp) -> dict[str, str]:
    return seed_demo(cu.store)


@pytest.fixture
def cu_connect(cu: FakeClickUp, tenant: kb.Tenant, admin_member: Any) -> Callable[..., models.Connection]:
    def make(*, owner: Any = None, to: kb.Tenant | None = None) -> models.Connection:
        return tokens.connection_connect(
            tenant=to or tenant, owner=owner or admin_member, provider=models.Provider.CLICKUP,
            external_account_id=str(cu.store.user["id"]), account_label=str(cu.store.user["email"]),
            token_set=oauth2.TokenSet(access_token=cu.grant(), refresh_token=None, expires_in=None, scope=""),
        ).connection

    return make


@pytest.fixture
def cu_connection(cu_connect: Callable[..., models.Connection]) -> models.Connection:
    return cu_connect()


def share(connection: models.Connection, label: str, *, share_with: str = "tenant") -> models.ConnectionSource:
    """Select the root whose label ends with ``label`` (through the services, as the pages do);
    the backfill the services queue is left to the test to run in process."""
    listing = services.roots_list(connection=connection)
    root = next(r for r in listing.items if r.label.endswith(label))
    services.connection_sources_set(
        connection=connection, is_admin=True,
        choices=[services.SourceChoice(surface=root.surface, root_id=root.root_id, share=share_with)],
    )
    models.SyncRun.objects.filter(connection=connection, status=models.RunStatus.QUEUED).delete()
    return models.ConnectionSource.objects.get(connection=connection, root_id=root.root_id)
