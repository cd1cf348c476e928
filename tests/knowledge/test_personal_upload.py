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


def test_a_member_deletes_their_own_personal_file_but_nothing_shared(
    member_client: Client, admin_client: Client, member: Any, tenant: models.Tenant
) -> None:
    _page_upload(member_client, scope="personal")
    mine = models.Document.objects.get()
    _page_upload(admin_client)
    shared = models.Document.objects.exclude(pk=mine.pk).get()
    page = member_client.get(reverse("kb:files")).content.decode()
    assert reverse("kb:document_delete", args=[mine.pk]) in page
    assert reverse("kb:document_delete", args=[shared.pk]) not in page

    assert member_client.post(reverse("kb:document_delete", args=[shared.pk])).status_code == 403
    assert member_client.post(reverse("kb:document_delete", args=[mine.pk])).status_code == 302
    assert list(models.Document.objects.values_list("pk", flat=True)) == [shared.pk]


def test_nobody_deletes_another_members_personal_file(
    member_client: Client, admin_client: Client, make_user: Callable[..., Any], tenant: models.Tenant,
    login: Callable[..., Client],
) -> None:
    _page_upload(member_client, scope="personal")
    mine = models.Document.objects.get()
    other = login(make_user("otto", tenant=tenant, role="member"))
    for client in (other, admin_client):  # an admin does not see members' personal files either
        assert client.post(reverse("kb:document_delete", args=[mine.pk])).status_code == 404
    assert models.Document.objects.filter(pk=mine.pk).exists()


def test_over_the_api_a_member_deletes_only_their_own_personal_upload(
    member_client: Client, admin_client: Client
) -> None:
    mine = _post(member_client, scope="personal").json()["id"]
    shared = _post(admin_client, scope="tenant", name="shared.txt", data=b"Shared parking facts.").json()["id"]
    assert member_client.delete(f"{URL}/{shared}").status_code == 403
    assert admin_client.delete(f"{URL}/{mine}").status_code == 404  # not even visible to an admin
    assert member_client.delete(f"{URL}/{mine}").status_code == 204
    assert list(models.Document.objects.values_list("pk", flat=True)) == [shared]
