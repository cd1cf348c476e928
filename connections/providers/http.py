"""A bearer-token JSON transport over httpx, for every provider's wire client alike (pure: no
ORM, no settings). It asks the caller's token source for the access token, retries once with
a refreshed token on a 401, counts requests, turns network failures into ``ProviderError``
and leaves the classification of an error answer to the provider's ``raise_for_status``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import httpx

from connections.providers import errors

# Called with None for the current access token, or with a token the provider just refused
# (401) to get a refreshed one.
TokenSource = Callable[[str | None], str]
RaiseForStatus = Callable[[httpx.Response], None]

def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time as the providers write it (``…Z``), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


Params = dict[str, str] | list[tuple[str, str]] | None


class BearerTransport:
    def __init__(
        self, *, name: str, token: TokenSource, raise_for_status: RaiseForStatus,
        http: httpx.Client | None = None, timeout: float = 30,
    ) -> None:
        self.name = name
        self._token = token
        self._raise = raise_for_status
        self._access: str | None = None
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None
        self.request_count = 0

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def _send(self, method: str, url: str, *, params: Params, headers: dict[str, str]) -> httpx.Response:
        self.request_count += 1
        try:
            return self._http.request(method, url, params=cast(Any, params), headers=headers)
        except httpx.TimeoutException as exc:
            raise errors.ProviderError(f"{self.name} timed out: {type(exc).__name__}", code="timeout") from None
        except httpx.HTTPError as exc:
            raise errors.ProviderError(f"{self.name} unreachable: {type(exc).__name__}", code="network") from None

    def request(
        self, method: str, url: str, *, params: Params = None, headers: dict[str, str] | None = None,
        check: bool = True,
    ) -> httpx.Response:
        """The call with the bearer token; one refresh and retry on 401. ``check``: classify an
        error answer (else the caller reads it)."""
        if self._access is None:
            self._access = self._token(None)
        response = self._send(method, url, params=params, headers={**(headers or {}), "Authorization": f"Bearer {self._access}"})
        if response.status_code == 401:
            refused, self._access = self._access, None
            self._access = self._token(refused)
            response = self._send(method, url, params=params, headers={**(headers or {}), "Authorization": f"Bearer {self._access}"})
        if check:
            self._raise(response)
        return response

    def get_json(self, url: str, *, params: Params = None) -> dict[str, Any]:
        response = self.request("GET", url, params=params)
        try:
            data = response.json()
        except ValueError:
            raise errors.ProviderError(f"{self.name} answered with something not JSON", status=response.status_code) from None
        if not isinstance(data, dict):
            raise errors.ProviderError(f"{self.name} answered with something not an object", status=response.status_code)
        return data
