"""Login throttling (kbsite/login.py) on /accounts/login/ and the admin's login page: after too
many failures per account or per address, even the right password is refused for a while."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from kbsite import login as login_throttle
from knowledge import models

pytestmark = pytest.mark.django_db

MEMBER_LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


def _attempt(client: Client, url: str, username: str, password: str, address: str = "10.0.0.1") -> Any:
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("url", [MEMBER_LOGIN, ADMIN_LOGIN])
def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(
    url: str, admin_member: Any, settings: Any
) -> None:
    client = Client()
    for _ in range(settings.KB_LOGIN_MAX_FAILURES):
        response = _attempt(client, url, "alice", "wrong")
        assert response.status_code == 200 and not _logged_in(client)
        assert b"Too many failed login attempts" not in response.content
    response = _attempt(client, url, "alice", "pw-alice")
    assert not _logged_in(client)
    assert b"Too many failed login attempts" in response.content
    assert b"15 minutes" in response.content


def test_the_lock_is_per_account_whatever_the_address_or_case(admin_member: Any, settings: Any) -> None:
    client = Client()
    for i in range(settings.KB_LOGIN_MAX_FAILURES):
        _attempt(client, MEMBER_LOGIN, "Alice" if i % 2 else "alice", "wrong", address=f"10.0.1.{i}")
    response = _attempt(client, MEMBER_LOGIN, "alice", "pw-alice", address="10.9.9.9")
    assert not _logged_in(client) and b"Too many failed login attempts" in response.content


def test_an_address_is_throttled_across_accounts(
    make_user: Callable[..., Any], tenant: models.Tenant, settings: Any
) -> None:
    settings.KB_LOGIN_MAX_FAILURES_PER_ADDRESS = 6
    make_user("zoe", tenant=tenant, role="member")
    client = Client()
    for i in range(6):
        _attempt(client, MEMBER_LOGIN, f"guess{i}", "wrong", address="10.0.0.66")
    response = _attempt(client, MEMBER_LOGIN, "zoe", "pw-zoe", address="10.0.0.66")
    assert not _logged_in(client) and b"Too many failed login attempts" in response.content
    # Another address is not affected.
    _attempt(client, MEMBER_LOGIN, "zoe", "pw-zoe", address="10.0.0.67")
    assert _logged_in(client)


def test_failures_on_one_login_page_count_on_the_other(admin_member: Any, settings: Any) -> None:
    client = Client()
    for _ in range(settings.KB_LOGIN_MAX_FAILURES):
        _attempt(client, ADMIN_LOGIN, "alice", "wrong")
    _attempt(client, MEMBER_LOGIN, "alice", "pw-alice")
    assert not _logged_in(client)


def test_a_success_below_the_limit_clears_the_accounts_count(admin_member: Any, settings: Any) -> None:
    client = Client()
    for _ in range(settings.KB_LOGIN_MAX_FAILURES - 1):
        _attempt(client, MEMBER_LOGIN, "alice", "wrong")
    _attempt(client, MEMBER_LOGIN, "alice", "pw-alice")
    assert _logged_in(client)
    other = Client()
    for _ in range(settings.KB_LOGIN_MAX_FAILURES - 1):
        _attempt(other, MEMBER_LOGIN, "alice", "wrong", address="10.0.0.2")
    _attempt(other, MEMBER_LOGIN, "alice", "pw-alice", address="10.0.0.2")
    assert _logged_in(other)


def test_the_lock_ends_with_its_window(admin_member: Any, settings: Any) -> None:
    client = Client()
    for _ in range(settings.KB_LOGIN_MAX_FAILURES):
        _attempt(client, MEMBER_LOGIN, "alice", "wrong")
    # The window passing is the counters expiring from the cache.
    from django.core.cache import caches

    caches[login_throttle.CACHE_ALIAS].clear()
    _attempt(client, MEMBER_LOGIN, "alice", "pw-alice")
    assert _logged_in(client)


def test_counters_are_shared_through_the_database_and_hold_no_username_in_clear(admin_member: Any) -> None:
    from django.db import connection

    _attempt(Client(), MEMBER_LOGIN, "alice", "wrong")
    with connection.cursor() as cur:
        cur.execute("SELECT cache_key FROM kb_worker_cache WHERE cache_key LIKE %s", ["%login-fail%"])
        keys = [row[0] for row in cur.fetchall()]
    assert len(keys) == 2  # one per account, one per address
    assert not any("alice" in key or "10.0.0.1" in key for key in keys)


def test_behind_trusted_proxies_the_address_comes_from_x_forwarded_for(settings: Any) -> None:
    from django.test import RequestFactory

    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.2.3.4", REMOTE_ADDR="10.0.0.9")
    assert login_throttle.client_address(request) == "10.0.0.9"
    settings.KB_PROXY_COUNT = 1
    assert login_throttle.client_address(request) == "1.2.3.4"  # the client cannot choose it
