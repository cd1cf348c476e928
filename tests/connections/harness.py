"""The connector test harness (shared by the three providers' test suites; /work/harness-contract.md).

A provider's harness drives its local wire-format server (the same one the sandbox uses) so
that one contract suite (tests/connections/test_connector_contract.py) runs against every
provider. Each provider module ``tests/connections/harness_<provider>.py`` exports::

    def make_harness(settings) -> ContextManager[ProviderHarness]

which starts its local server, points the ``KB_*`` settings at it (``KB_PUBLIC_URL`` too, so
the OAuth redirect URI is the one the fake sends the browser back to) and yields the harness.

``RecordedRequest`` is the type every fake records its requests as: method, path (without the
query), query (last value per name), headers (names lower-case), the answer's status, and the
form of a POST (token endpoint) where there is one.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

from django.contrib.auth.models import User
from django.test import Client

from connections import models
from connections.sandbox.server import RecordedRequest
from knowledge import models as kb

__all__ = ["HARNESSES", "HarnessFactory", "ProviderHarness", "RecordedRequest"]

HARNESSES = ["microsoft", "google", "clickup"]


class ProviderHarness(Protocol):
    provider: str  # "microsoft" | "google" | "clickup"

    def connect(self, *, client: Client, tenant: kb.Tenant, user: User) -> models.Connection:
        """Run the real browser OAuth flow (our connect view -> fake authorize -> our callback)."""
        ...

    def share(self, connection: models.Connection, *, scope: str = "tenant") -> models.ConnectionSource:
        """Select (through our services, as the pages do) one root that holds the harness's items."""
        ...

    def add_item(self, *, title: str, text: str) -> str:  # at the source; returns its external id
        ...

    def change_item(self, external_id: str, *, text: str) -> None: ...

    def rename_item(self, external_id: str, *, title: str) -> None: ...

    def delete_item(self, external_id: str) -> None:  # at the source (for ClickUp: gone from listings only)
        ...

    def break_item(self, external_id: str) -> None:  # next fetch of this item answers 500/garbage
        ...

    def revoke(self) -> None:  # next token use -> invalid_grant / 401
        ...

    def throttle_next(self, count: int = 1, *, retry_after: str = "1") -> None:  # next calls answer 429 + Retry-After
        ...

    def requests(self) -> list[RecordedRequest]:  # what our client sent (method, path, query, headers)
        ...


class HarnessFactory(Protocol):
    def __call__(self, settings: Any) -> AbstractContextManager[ProviderHarness]: ...
