"""Login throttling, for the members' login page and the Django admin's alike.

Failed logins are counted per account (the username as typed, case-folded) and per client
address, each in a fixed window of ``KB_LOGIN_WINDOW_MINUTES`` that starts at the first
failure. Once an account has ``KB_LOGIN_MAX_FAILURES`` failures, or an address
``KB_LOGIN_MAX_FAILURES_PER_ADDRESS``, every further attempt in the window is refused with a
clear message *before* the password is checked — even the right password — so guessing
gains nothing. A successful login clears its account's count (not its address's).

Counts live in the ``throttle`` cache (a database cache: shared by every web process), under
hashed keys, so neither usernames nor addresses are stored in clear.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.http import HttpRequest

CACHE_ALIAS = "throttle"


def throttled_message() -> str:
    minutes = int(settings.KB_LOGIN_WINDOW_MINUTES)
    return (
        "Too many failed login attempts for this account or from this address. "
        f"Wait {minutes} minutes and try again."
    )


def client_address(request: HttpRequest | None) -> str:
    """The client's address: ``REMOTE_ADDR``, or with ``KB_PROXY_COUNT`` trusted proxies in
    front, the address the outermost of them saw (counted from the right of X-Forwarded-For,
    so a client cannot choose it by sending the header itself)."""
    if request is None:
        return ""
    proxies = int(settings.KB_PROXY_COUNT)
    if proxies:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return str(request.META.get("REMOTE_ADDR", ""))


def _key(kind: str, value: str) -> str:
    return f"login-fail:{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


def _counters(*, username: str, address: str) -> list[tuple[str, int]]:
    counters = [(_key("user", username.strip().casefold()), int(settings.KB_LOGIN_MAX_FAILURES))]
    if address:
        counters.append((_key("addr", address), int(settings.KB_LOGIN_MAX_FAILURES_PER_ADDRESS)))
    return counters


def is_blocked(*, username: str, address: str) -> bool:
    cache = caches[CACHE_ALIAS]
    counters = _counters(username=username, address=address)
    counts = cache.get_many([key for key, _ in counters])
    return any(int(counts.get(key, 0)) >= limit for key, limit in counters)


def record_failure(*, username: str, address: str) -> None:
    cache = caches[CACHE_ALIAS]
    window = int(settings.KB_LOGIN_WINDOW_MINUTES) * 60
    for key, _ in _counters(username=username, address=address):
        # The window starts at the first failure (add only creates a missing key).
        if not cache.add(key, 1, timeout=window):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=window)


def clear_account(*, username: str) -> None:
    caches[CACHE_ALIAS].delete(_key("user", username.strip().casefold()))


class ThrottledLoginMixin:
    """For an AuthenticationForm: refuse while throttled, count failures, clear on success."""

    request: HttpRequest | None
    cleaned_data: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if not username or not password:
            return super().clean()  # type: ignore[misc]
        address = client_address(self.request)
        if is_blocked(username=username, address=address):
            raise ValidationError(throttled_message(), code="throttled")
        try:
            cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]
        except ValidationError:
            record_failure(username=username, address=address)
            raise
        clear_account(username=username)
        return cleaned


class ThrottledAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    """The members' login form (/accounts/login/)."""


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The Django admin's login form (/admin/login/)."""
