"""Who sees what in a recall audit (DESIGN §5): another user's personal document is never
shown in a row — not its text, not its name — through the API or the pages; the reader sees
that a personal document of another user was returned. Its owner still sees their own."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audit import selectors
from audit.models import RecallAudit
from knowledge import models, services
from tests import factories
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

PRIVATE = "Olga's private note: the boat trip is on Saturday with the parking pass."
SHARED = "# Parking\n\nFree parking is behind the building on Saturday.\n"
DOC_NAME = "Olga boat trip mail"
LIST = "/api/v1/audit/recalls"


@pytest.fixture
def owner(make_user: Callable[..., Any], tenant: models.Tenant) -> Any:
    # Support role, so that the owner can open the audit too.
    return make_user("olga", tenant=tenant, role="support", is_staff=True)


@pytest.fixture
def personal(tenant: models.Tenant, owner: Any, run_jobs: Callable[[], list[str]]) -> models.Document:
    doc = factories.virtual_document(
        tenant=tenant, title=DOC_NAME, external_id="m1", scope="personal", owner=owner, text=PRIVATE,
    )
    run_jobs()
    doc.refresh_from_db()
    assert doc.status == models.DocStatus.READY
    return doc


@pytest.fixture
def recall_id(retrieval_on: Any, owner: Any, personal: models.Document, login: Callable[..., Client],
              ingest_text: Callable[..., models.Document]) -> int:
    """The owner asks through the retrieval API with their session: their personal document
    and a shared one are returned, and the call is audited under their name."""
    ingest_text(SHARED, name="parking.md")
    response = ApiClient(client=login(owner)).post("/api/v1/retrieve", {"query": "saturday parking boat trip"})
    assert response.status_code == 200
    returned = {hit["document_name"] for hit in response.json()["knowledge"]}
    assert returned == {DOC_NAME, "parking.md"}
    audit_id = response.json()["audit_id"]
    assert RecallAudit.objects.get(pk=audit_id).user_id == owner.pk
    return int(audit_id)


def _page(client: Client, recall_id: int) -> str:
    response = client.get(reverse("kb:audit_detail", args=[recall_id]))
    assert response.status_code == 200
    return response.content.decode()


def _hit_rows(page: str) -> str:
    found = re.search(r'<div class="module" id="kb-recall-hits">.*?</table>', page, re.S)
    assert found
    return found.group(0)


def test_support_staff_see_that_a_personal_document_was_returned_but_not_its_name_or_text(
    recall_id: int, support_client: Client, personal: models.Document,
) -> None:
    page = _page(support_client, recall_id)
    assert DOC_NAME not in page and "Olga's private note" not in page and "boat trip is on" not in page
    assert "A personal document of another user" in _hit_rows(page)
    assert reverse("kb:document", args=[personal.pk]) not in page
    # The shared document of the same call is shown as usual.
    assert "parking.md" in page and "Free parking is behind the building" in page


def test_a_tenant_admin_does_not_see_a_members_personal_document_in_the_audit_either(
    recall_id: int, admin_member: Any, login: Callable[..., Client],
) -> None:
    page = _page(login(admin_member), recall_id)
    assert DOC_NAME not in page and "Olga's private note" not in page
    assert "A personal document of another user" in page


def test_the_owner_sees_their_own_personal_document_in_the_audit(
    recall_id: int, owner: Any, login: Callable[..., Client], personal: models.Document,
) -> None:
    page = _page(login(owner), recall_id)
    assert DOC_NAME in page and "Olga&#x27;s private note" in page
    assert f'href="{reverse("kb:document", args=[personal.pk])}"' in page
    assert "personal document of another user" not in page


def test_the_api_withholds_another_users_personal_document_for_keys_and_sessions(
    recall_id: int, api: ApiClient, support_member: Any, login: Callable[..., Client],
    personal: models.Document,
) -> None:
    for client in (api, ApiClient(client=login(support_member))):
        detail = client.get(f"{LIST}/{recall_id}")
        assert detail.status_code == 200
        assert DOC_NAME not in detail.content.decode() and "private note" not in detail.content.decode()
        hits = {hit["document_id"]: hit for hit in detail.json()["results"]}
        withheld = hits[personal.pk]
        assert withheld["withheld"] == selectors.WITHHELD_PERSONAL
        assert withheld["document_name"] == "" and withheld["text"] == "" and withheld["heading"] == ""
        shared = next(hit for pk, hit in hits.items() if pk != personal.pk)
        assert shared["document_name"] == "parking.md" and shared["withheld"] is None
        listing = client.get(LIST)
        assert DOC_NAME not in listing.content.decode()
        (item,) = listing.json()["items"]
        assert sorted(item["top_documents"]) == ["a personal document of another user", "parking.md"]


def test_the_api_shows_the_owner_their_own_personal_document(
    recall_id: int, owner: Any, login: Callable[..., Client],
) -> None:
    client = ApiClient(client=login(owner))
    hits = client.get(f"{LIST}/{recall_id}").json()["results"]
    assert {hit["document_name"] for hit in hits} == {DOC_NAME, "parking.md"}
    assert any(PRIVATE in hit["text"] for hit in hits)
    assert all(hit["withheld"] is None for hit in hits)
    assert DOC_NAME in client.get(LIST).json()["items"][0]["top_documents"]


def test_a_deleted_personal_document_stays_withheld_from_other_readers(
    recall_id: int, personal: models.Document, support_client: Client, api: ApiClient,
    owner: Any, login: Callable[..., Client],
) -> None:
    services.document_delete(document=personal)
    page = _page(support_client, recall_id)
    assert DOC_NAME not in page and "Olga's private note" not in page
    assert "A deleted document (it may have been personal" in page
    body = api.get(f"{LIST}/{recall_id}").content.decode()
    assert DOC_NAME not in body and "private note" not in body
    # Its owner still reads what was returned to them, marked deleted.
    own = _page(login(owner), recall_id)
    assert DOC_NAME in own and "(deleted)" in own


def test_a_deleted_shared_document_of_a_keys_call_is_still_named(
    retrieval_on: Any, ingest_text: Callable[..., models.Document], retrieve_api: ApiClient,
    support_client: Client,
) -> None:
    doc = ingest_text(SHARED, name="parking.md")
    audit_id = retrieve_api.post("/api/v1/retrieve", {"query": "parking"}).json()["audit_id"]
    services.document_delete(document=doc)
    page = _page(support_client, audit_id)
    assert "parking.md" in page and "(deleted)" in page and "withheld" not in _hit_rows(page)


def test_the_django_admin_does_not_show_returned_chunks(
    recall_id: int, make_user: Callable[..., Any], login: Callable[..., Client],
) -> None:
    root = make_user("root", is_staff=True, is_superuser=True)
    page = login(root).get(reverse("admin:audit_recallaudit_change", args=[recall_id]))
    assert page.status_code == 200
    assert "saturday parking boat trip" in page.content.decode()
    assert DOC_NAME not in page.content.decode() and "private note" not in page.content.decode()


def test_serialising_a_raw_row_is_refused_rather_than_leaking(recall_id: int) -> None:
    from audit import schemas

    with pytest.raises(TypeError):
        schemas.reader_results(RecallAudit.objects.get(pk=recall_id))
