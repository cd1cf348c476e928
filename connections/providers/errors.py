"""What a provider call can end in, for every provider alike."""

from __future__ import annotations

import email.utils
import time


class ProviderError(Exception):
    """The provider answered with an error we do not classify further (5xx, 4xx)."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Throttled(ProviderError):
    """429/503 (or Google 403 rateLimitExceeded): pause for ``retry_after`` seconds, do not fail."""

    def __init__(self, message: str, *, retry_after: float, status: int = 429, code: str = "") -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class CursorExpired(ProviderError):
    """The provider no longer honours a stored cursor (Graph 410, Gmail 404, Drive 400):
    a full re-enumeration follows."""


class AuthRefused(ProviderError):
    """The access token was refused (401): refresh once, then the connection needs reauth."""


class ItemGone(ProviderError):
    """One item can no longer be read (404 on an item): recorded on the run, not fatal."""


DEFAULT_RETRY_AFTER = 30.0
MAX_RETRY_AFTER = 3600.0


def parse_retry_after(value: str | None, *, now: float | None = None) -> float:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date; a default when absent
    or unreadable, never negative, capped at an hour."""
    if value is None or not value.strip():
        return DEFAULT_RETRY_AFTER
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return DEFAULT_RETRY_AFTER
        if when is None:
            return DEFAULT_RETRY_AFTER
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return DEFAULT_RETRY_AFTER
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class AccessDenied(ProviderError):
    """403: the account may not read this (e.g. admin consent missing for Teams messages)."""


class ItemTooLarge(ProviderError):
    """A download exceeded the size limit: recorded on the run for that item, not fatal."""
