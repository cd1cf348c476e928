"""Fixtures for the Google connector tests: the local Google OAuth + Drive + Gmail server,
the ``KB_GOOGLE_*`` settings pointed at it, and a Google connection made through the token
service. Test modules import them (``from tests.connections.google_fixtures import *``-style,
by name)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connections import models, tokens
from knowledge import models as kb
from tests.connections.conftest import token_set_from
from tests.fakes.google_server import FakeGoogle


def point_settings_at(settings: Any, fake: FakeGoogle) -> None:
    for name, value in fake.settings().items():
        setattr(settings, name, value)
    settings.KB_PUBLIC_URL = "http://kb.test"


@pytest.fixture
def gfake(settings: Any) -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        point_settings_at(settings, fake)
        yield fake


@pytest.fixture
def gconnect(gfake: FakeGoogle, tenant: kb.Tenant, admin_member: Any) -> Callable[..., models.Connection]:
    def make(*, owner: Any = None, to: kb.Tenant | None = None, account_id: str = "04928375612345678901") -> models.Connection:
        return tokens.connection_connect(
            tenant=to or tenant, owner=owner or admin_member, provider=models.Provider.GOOGLE,
            external_account_id=account_id, account_label="dana@brightsmile.example",
            token_set=token_set_from(gfake.grant()),
        ).connection

    return make


@pytest.fixture
def gconnection(gconnect: Callable[..., models.Connection]) -> models.Connection:
    return gconnect()
