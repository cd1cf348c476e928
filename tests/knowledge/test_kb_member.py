"""``kb_member add SLUG USERNAME --role admin|support|member [--email E]`` (DESIGN §7): the
password is the first line of standard input, never an argument."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from knowledge import models as kb

pytestmark = pytest.mark.django_db


def run(*args: str, stdin: str | None = None) -> str:
    out = io.StringIO()
    extra: dict[str, Any] = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command(*args, stdout=out, **extra)
    return out.getvalue()


def test_kb_member_add_creates_the_user_with_the_password_from_stdin(tenant: kb.Tenant) -> None:
    out = run("kb_member", "add", "brightsmile", "rita", "--role", "member", "--email", "rita@example.com",
              stdin="correct horse battery staple\nignored\n")
    assert "created user rita" in out
    user = get_user_model().objects.get(username="rita")
    assert user.email == "rita@example.com" and user.check_password("correct horse battery staple")
    assert kb.Membership.objects.get(user=user, tenant=tenant).role == "member"
    assert Client().login(username="rita", password="correct horse battery staple")


def test_kb_member_add_updates_an_existing_member_and_keeps_the_password_on_empty_input(
    tenant: kb.Tenant, other_tenant: kb.Tenant
) -> None:
    run("kb_member", "add", "brightsmile", "rita", "--role", "member", stdin="correct horse battery staple\n")
    assert "updated user rita" in run("kb_member", "add", "otherco", "rita", "--role", "admin", stdin="")
    user = get_user_model().objects.get(username="rita")
    assert user.check_password("correct horse battery staple")
    assert dict(kb.Membership.objects.filter(user=user).values_list("tenant__slug", "role")) == {
        "brightsmile": "member", "otherco": "admin"}


def test_kb_member_refuses_a_new_user_without_a_password_a_weak_one_or_a_password_argument(
    tenant: kb.Tenant, make_user: Callable[..., Any]
) -> None:
    with pytest.raises(CommandError, match="needs a password"):
        run("kb_member", "add", "brightsmile", "rita", "--role", "member", stdin="")
    with pytest.raises(CommandError, match="too short|too common"):
        run("kb_member", "add", "brightsmile", "rita", "--role", "member", stdin="abc\n")
    with pytest.raises(CommandError):
        run("kb_member", "add", "brightsmile", "rita", "--role", "member", "--password", "x", stdin="")
    with pytest.raises(CommandError, match="not found"):
        run("kb_member", "add", "nosuch", "rita", "--role", "member", stdin="correct horse battery staple\n")
    assert not get_user_model().objects.filter(username="rita").exists()
