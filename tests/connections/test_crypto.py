"""Tokens at rest: encrypted, bound to their row, never shown, and rotatable by command."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection as db

from connections import crypto, models, tokens
from tests.fakes.msgraph_server import FakeMicrosoft

OLD_KEY = crypto.generate_key()
NEW_KEY = crypto.generate_key()


def test_encrypted_text_opens_only_under_its_own_context(settings: Any) -> None:
    settings.KB_TOKEN_KEYS = [OLD_KEY]
    blob = crypto.encrypt("secret-token", context="connection:1:access")
    assert b"secret-token" not in blob
    assert crypto.decrypt(blob, context="connection:1:access") == "secret-token"
    with pytest.raises(crypto.TokenDecryptError):
        crypto.decrypt(blob, context="connection:2:access")


def test_a_key_that_is_not_a_fernet_key_is_a_configuration_error(settings: Any) -> None:
    settings.KB_TOKEN_KEYS = ["not-a-key"]
    with pytest.raises(ImproperlyConfigured):
        crypto.encrypt("x", context="c")


def test_text_encrypted_under_a_dropped_key_no_longer_opens(settings: Any) -> None:
    settings.KB_TOKEN_KEYS = [OLD_KEY]
    blob = crypto.encrypt("secret-token", context="c")
    settings.KB_TOKEN_KEYS = [NEW_KEY]
    with pytest.raises(crypto.TokenDecryptError):
        crypto.decrypt(blob, context="c")


def _raw_token_row(connection_id: int) -> str:
    with db.cursor() as cur:
        cur.execute(
            "SELECT t.*::text FROM connections_connectiontoken t WHERE connection_id = %s", [connection_id]
        )
        row = cur.fetchone()
    assert row is not None
    return str(row[0])


def test_token_plaintext_is_in_no_column_and_no_repr(ms: FakeMicrosoft, connection: models.Connection) -> None:
    row = models.ConnectionToken.objects.get(connection=connection)
    access = tokens.access_token_get(connection=connection)
    refresh = tokens.refresh_token_get(connection_id=connection.pk)
    assert access.startswith("at-") and refresh and refresh.startswith("rt-")
    raw = _raw_token_row(connection.pk)
    assert access not in raw and refresh not in raw
    with db.cursor() as cur:
        cur.execute("SELECT c.*::text FROM connections_connection c WHERE id = %s", [connection.pk])
        assert access not in str(cur.fetchone())
    assert access not in repr(row) and access not in str(row)


def test_kb_tokens_rotate_re_encrypts_every_row_with_the_newest_key(
    settings: Any, ms: FakeMicrosoft, connect: Any, make_user: Any, tenant: Any
) -> None:
    settings.KB_TOKEN_KEYS = [OLD_KEY]
    first = connect()
    second = connect(owner=make_user("bob", tenant=tenant, role="member"), account_id="user-9")
    before = {c.pk: tokens.access_token_get(connection=c) for c in (first, second)}
    refresh_before = tokens.refresh_token_get(connection_id=first.pk)

    settings.KB_TOKEN_KEYS = [NEW_KEY, OLD_KEY]
    out = io.StringIO()
    call_command("kb_tokens", "rotate", stdout=out)
    assert f"rotated=2 already_current=0 key={crypto.key_id(NEW_KEY)}" in out.getvalue()
    assert set(models.ConnectionToken.objects.values_list("key_id", flat=True)) == {crypto.key_id(NEW_KEY)}

    settings.KB_TOKEN_KEYS = [NEW_KEY]  # the old key is gone: every row still opens
    for c in (first, second):
        assert tokens.access_token_get(connection=c) == before[c.pk]
    assert tokens.refresh_token_get(connection_id=first.pk) == refresh_before

    out = io.StringIO()
    call_command("kb_tokens", "rotate", stdout=out)
    assert "rotated=0 already_current=2" in out.getvalue()


def test_token_row_is_not_registered_in_the_admin() -> None:
    from django.contrib import admin

    assert models.ConnectionToken not in admin.site._registry


def test_system_check_reports_a_bad_token_key_and_a_bad_public_url(settings: Any) -> None:
    from connections import checks

    settings.KB_TOKEN_KEYS = [NEW_KEY, "nope"]
    settings.KB_PUBLIC_URL = "kb.example"
    ids = {m.id for m in checks.check_connection_settings()}
    assert ids == {"connections.E001", "connections.E002"}
    settings.KB_TOKEN_KEYS = [NEW_KEY]
    settings.KB_PUBLIC_URL = "https://kb.example"
    assert checks.check_connection_settings() == []
