"""Fixtures for the connections tests: the local Microsoft identity + Graph server, settings
pointed at it, and a connection made through the services."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connections import models, tokens
from connections.providers import microsoft, oauth2
from knowledge import models as kb
from tests.fakes.msgraph_server import FakeMicrosoft


@pytest.fixture
def ms(settings: Any) -> Iterator[FakeMicrosoft]:
    with FakeMicrosoft() as fake:
        settings.KB_MS_CLIENT_ID = fake.client_id
        settings.KB_MS_CLIENT_SECRET = fake.client_secret
        settings.KB_MS_AUTHORITY = fake.authority
        settings.KB_MS_GRAPH_URL = fake.graph_url
        settings.KB_PUBLIC_URL = "http://kb.test"
        yield fake


def token_set_from(answer: dict[str, Any]) -> oauth2.TokenSet:
    return oauth2.TokenSet(
        access_token=answer["access_token"],
        refresh_token=answer.get("refresh_token"),
        expires_in=answer.get("expires_in"),
        scope=answer.get("scope", ""),
    )


@pytest.fixture
def connect(ms: FakeMicrosoft, tenant: kb.Tenant, admin_member: Any) -> Callable[..., models.Connection]:
    def make(*, owner: Any = None, to: kb.Tenant | None = None, account_id: str = "user-1") -> models.Connection:
        result = tokens.connection_connect(
            tenant=to or tenant,
            owner=owner or admin_member,
            provider=models.Provider.MICROSOFT,
            external_account_id=account_id,
            account_label="dana@brightsmile.example",
            token_set=token_set_from(ms.grant()),
        )
        return result.connection

    return make


@pytest.fixture
def connection(connect: Callable[..., models.Connection]) -> models.Connection:
    return connect()


@pytest.fixture
def graph(ms: FakeMicrosoft, connection: models.Connection) -> Iterator[microsoft.GraphClient]:
    """A Graph client whose token source is the token service of ``connection``."""

    def token(refused: str | None) -> str:
        return tokens.access_token_get(connection=connection, refused_token=refused)

    with microsoft.GraphClient(graph_url=ms.graph_url, token=token) as client:
        yield client
