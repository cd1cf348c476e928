"""Personal uploads (DESIGN §6): ``scope=personal`` from a member's own session, owned by them,
visible only to them; never with an API key; tenant-scope uploads stay an admin's."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

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


# --- the same through the KB files page ---------------------------------------------------------


def _page_upload(client: Client, **data: str) -> Any:
    return client.post(reverse("kb:upload"), {
        "uploads": [SimpleUploadedFile("mine.txt", b"My own notes about the loading bay.")], "kind": "knowledge", **data,
    })


def test_a_member_uploads_a_personal_file_from_the_files_page(
    member_client: Client, admin_client: Client, member: Any
) -> None:
    assert _page_upload(member_client, scope="personal").status_code == 302
    doc = models.Document.objects.get()
    assert (doc.scope, doc.owner_id, doc.name) == ("personal", member.pk, "mine.txt")
    assert "mine.txt" in member_client.get(reverse("kb:files")).content.decode()
    assert "mine.txt" not in admin_client.get(reverse("kb:files")).content.decode()


def test_a_member_cannot_upload_a_shared_file_from_the_page(member_client: Client) -> None:
    response = _page_upload(member_client, scope="tenant")
    assert response.status_code == 302
    assert not models.Document.objects.exists()
    assert "only a tenant admin" in member_client.get(reverse("kb:files")).content.decode()


def test_an_admin_chooses_shared_or_personal_on_the_page(admin_client: Client, admin_member: Any) -> None:
    page = admin_client.get(reverse("kb:files")).content.decode()
    assert 'name="scope"' in page and "Personal (only me)" in page
    _page_upload(admin_client)  # no choice sent: shared, as the API's default
    doc = models.Document.objects.get()
    assert (doc.scope, doc.owner_id) == ("tenant", None)


def test_support_staff_upload_personal_files_only(support_client: Client, support_member: Any) -> None:
    assert _page_upload(support_client, scope="tenant").status_code == 302
    assert not models.Document.objects.exists()
    assert _page_upload(support_client, scope="personal").status_code == 302
    assert models.Document.objects.get().owner_id == support_member.pk
