"""The browser flow of connecting an account, driven with the Django test client against the
local Microsoft identity server (tests/fakes/msgraph_server.py): our connect view → the
provider's authorize endpoint (a real HTTP call) → our callback."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
from django.test import Client

from tests.fakes.msgraph_server import FakeMicrosoft


def authorize(client: Client, ms: FakeMicrosoft) -> str:
    """Press Connect and consent at the provider: the callback URL (path and query) it sends back."""
    start = client.post("/kb/connections/connect/microsoft")
    assert start.status_code == 302, start.content[:500]
    assert start["Location"].startswith(f"{ms.authority}/oauth2/v2.0/authorize?")
    at_provider = httpx.get(start["Location"])
    assert at_provider.status_code == 302
    back = urlsplit(at_provider.headers["Location"])
    assert f"{back.scheme}://{back.netloc}" == "http://kb.test"
    return f"{back.path}?{back.query}"


def connect(client: Client, ms: FakeMicrosoft) -> Any:
    """The whole flow; returns the callback's response (302 to the connection's page)."""
    return client.get(authorize(client, ms))
