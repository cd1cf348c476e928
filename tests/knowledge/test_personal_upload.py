"""Personal uploads (DESIGN §6): ``scope=personal`` from a member's own session, owned by them,
visible only to them; never with an API key; tenant-scope uploads stay an admin's."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from knowledge import models

URL = "/api/v1/kb/files"


@pytest.fixture
def member(make_user: Callable[..., Any], tenant: models.Tenant) -> Any:
    return make_user("mia", tenant=tenant, role="member")


@pytest.fixture
def member_client(member: Any, login: Callable[..., Client]) -> Client:
    return login(member)


@pytest.fixture
def admin_client(admin_member: Any, login: Callable[..., Client]) -> Client:
    return login(admin_member)


def _post(client: Client, *, scope: str, name: str = "my-notes.txt", data: bytes = b"My own notes about parking.",
          headers: dict[str, str] | None = None) -> Any:
    fh = io.BytesIO(data)
    fh.name = name
    return client.post(URL, {"file": fh, "kind": "knowledge", "scope": scope}, headers=headers or {})


def test_a_member_uploads_a_personal_document_that_only_they_see(
    member_client: Client, admin_client: Client, member: Any
) -> None:
    response = _post(member_client, scope="personal")
    assert response.status_code == 201, response.content
    doc = models.Document.objects.get(pk=response.json()["id"])
    assert (doc.scope, doc.owner_id) == ("personal", member.pk)
    assert [d["id"] for d in member_client.get(URL).json()["items"]] == [doc.pk]
    assert admin_client.get(f"{URL}/{doc.pk}").status_code == 404


def test_a_member_may_not_upload_for_the_whole_tenant(member_client: Client) -> None:
    assert _post(member_client, scope="tenant").status_code == 403
    assert not models.Document.objects.exists()


def test_an_api_key_cannot_upload_a_personal_document(manage_key: str) -> None:
    response = _post(Client(), scope="personal", headers={"Authorization": f"Bearer {manage_key}"})
    assert response.status_code == 403
    assert not models.Document.objects.exists()


def test_the_same_bytes_personal_and_shared_are_two_documents(admin_client: Client) -> None:
    shared = _post(admin_client, scope="tenant")
    personal = _post(admin_client, scope="personal")
    assert (shared.status_code, personal.status_code) == (201, 201)
    assert shared.json()["id"] != personal.json()["id"]
    assert _post(admin_client, scope="personal").json()["duplicate"] is True
