"""Recall audit browser (/kb/audit/…): support and admins only, tenant-scoped, filtered, read-only."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import RecallAudit
from knowledge import models, retrieval
from tests import factories

pytestmark = pytest.mark.django_db


def _recall(tenant: models.Tenant, query: str, *, days_ago: int = 0, session_id: str = "", caller: str = "",
            results: list[dict[str, Any]] | None = None, **extra: Any) -> RecallAudit:
    row = RecallAudit.objects.create(tenant=tenant, query=query, session_id=session_id, caller=caller,
                                     results=results or [], **extra)
    if days_ago:
        RecallAudit.objects.filter(pk=row.pk).update(created_at=timezone.now() - dt.timedelta(days=days_ago))
        row.refresh_from_db()
    return row


def _listed(client: Client, **params: Any) -> list[int]:
    page = client.get(reverse("kb:audit_list"), params).content.decode()
    return [int(pk) for pk in re.findall(r'<tr id="recall-(\d+)">', page)]


def test_anonymous_visitors_are_sent_to_login(tenant: models.Tenant) -> None:
    row = _recall(tenant, "hours")
    for url in (reverse("kb:audit_list"), reverse("kb:audit_detail", args=[row.pk])):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_members_cannot_read_audits(make_user: Callable[..., Any], login: Callable[..., Client],
                                    tenant: models.Tenant) -> None:
    row = _recall(tenant, "hours")
    client = login(make_user("mia", tenant=tenant, role="member", is_staff=True))
    assert client.get(reverse("kb:audit_list")).status_code == 403
    assert client.get(reverse("kb:audit_detail", args=[row.pk])).status_code == 403


def test_admins_can_read_audits(admin_member: Any, login: Callable[..., Client], tenant: models.Tenant) -> None:
    row = _recall(tenant, "hours")
    client = login(admin_member)
    assert _listed(client) == [row.pk]
    assert client.get(reverse("kb:audit_detail", args=[row.pk])).status_code == 200


def test_the_list_is_newest_first_and_only_this_tenants(support_client: Client, tenant: models.Tenant,
                                                        other_tenant: models.Tenant) -> None:
    old = _recall(tenant, "old question", days_ago=3)
    new = _recall(tenant, "new question")
    mid = _recall(tenant, "middle question", days_ago=1)
    _recall(other_tenant, "their question")
    assert _listed(support_client) == [new.pk, mid.pk, old.pk]
    assert "their question" not in support_client.get(reverse("kb:audit_list")).content.decode()


def test_the_list_filters_by_date_range_text_and_session(support_client: Client, tenant: models.Tenant) -> None:
    old = _recall(tenant, "Are you open Saturday?", days_ago=10, session_id="call-1")
    recent = _recall(tenant, "Where do I park?", days_ago=1, session_id="call-2", caller="+15550100")
    today = _recall(tenant, "Saturday parking?", session_id="call-2")
    day = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    assert _listed(support_client, date_from=day) == [today.pk, recent.pk]
    assert _listed(support_client, date_to=day) == [recent.pk, old.pk]
    assert _listed(support_client, date_from=day, date_to=day) == [recent.pk]
    assert _listed(support_client, q="saturday") == [today.pk, old.pk]
    assert _listed(support_client, q="+1555") == [recent.pk]
    assert _listed(support_client, session="call-2") == [today.pk, recent.pk]
    assert _listed(support_client, session="call-2", q="park", date_to=day) == [recent.pk]
    page = support_client.get(reverse("kb:audit_list"), {"date_from": "not-a-date"}).content.decode()
    assert "Some filters are invalid" in page


def test_the_list_is_paginated_and_keeps_the_filters(support_client: Client, tenant: models.Tenant) -> None:
    rows = [_recall(tenant, f"question {i}", session_id="s") for i in range(30)]
    _recall(tenant, "other session", session_id="t")
    first = _listed(support_client, session="s")
    second = _listed(support_client, session="s", page=2)
    assert len(first) == 25 and len(second) == 5
    assert set(first) | set(second) == {r.pk for r in rows}
    page = support_client.get(reverse("kb:audit_list"), {"session": "s"}).content.decode()
    assert "?session=s&amp;page=2" in page


def test_the_detail_shows_the_call_the_chunks_as_they_were_and_links_to_documents(
    support_client: Client, tenant: models.Tenant, ingest_text: Callable[..., models.Document]
) -> None:
    doc = ingest_text("We are open Saturday 9 to 12.", name="hours.md")
    chunk = models.Chunk.objects.get(document=doc)
    row = _recall(
        tenant, "are you open saturday", session_id="call-9", caller="+15550199",
        flags={"retrieval_enabled": True, "pii": "off"}, embedding_model="hash:hash-384",
        legs=["vector", "lexical"], timings_ms={"embed": 1.5, "search": 2.25, "total": 4.0},
        policy_text="Never take card numbers.", policy_chunk_ids=[7],
        results=[
            {"chunk_id": chunk.pk, "document_id": doc.pk, "document_name": "hours.md", "chunk_index": 0,
             "score": 0.8123, "vector_rank": 2, "lexical_rank": 1, "text": "Open Saturday 9 to 12 (as it was)."},
            {"chunk_id": 999, "document_id": 98765, "document_name": "gone.md", "chunk_index": 3,
             "score": 0.4, "vector_rank": 1, "lexical_rank": None, "text": "Deleted since."},
        ],
    )
    page = support_client.get(reverse("kb:audit_detail", args=[row.pk])).content.decode()
    assert "are you open saturday" in page and "call-9" in page and "+15550199" in page
    assert "pii=off" in page and "hash:hash-384" in page
    assert "search 2.25" in page and "total 4.00" in page
    assert "Never take card numbers." in page
    assert "Open Saturday 9 to 12 (as it was)." in page
    assert "0.8123" in page and "vector #2" in page and "full-text #1" in page
    assert f'href="{reverse("kb:document", args=[doc.pk])}"' in page
    assert "gone.md" in page and "(deleted)" in page
    assert reverse("kb:document", args=[98765]) not in page


def test_the_detail_escapes_what_callers_said_and_what_was_returned(support_client: Client,
                                                                     tenant: models.Tenant) -> None:
    row = _recall(tenant, "<script>alert(1)</script>", session_id='"><b>x</b>',
                  results=[{"chunk_id": 1, "document_id": 1, "document_name": "<img src=x onerror=alert(2)>",
                            "chunk_index": 0, "score": 0.5, "text": "<iframe src=evil>"}])
    for url in (reverse("kb:audit_list"), reverse("kb:audit_detail", args=[row.pk])):
        page = support_client.get(url).content.decode()
        assert "<script>alert(1)" not in page and "<b>x</b>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    detail = support_client.get(reverse("kb:audit_detail", args=[row.pk])).content.decode()
    assert "<img src=x" not in detail and "<iframe" not in detail


def test_another_tenants_audit_row_is_404(support_client: Client, other_tenant: models.Tenant) -> None:
    theirs = _recall(other_tenant, "their secret question")
    response = support_client.get(reverse("kb:audit_detail", args=[theirs.pk]))
    assert response.status_code == 404
    assert b"their secret question" not in response.content
    assert support_client.get(reverse("kb:audit_detail", args=[999999])).status_code == 404


def test_the_audit_pages_are_read_only(support_client: Client, tenant: models.Tenant) -> None:
    row = _recall(tenant, "hours")
    assert support_client.post(reverse("kb:audit_list")).status_code == 405
    assert support_client.post(reverse("kb:audit_detail", args=[row.pk])).status_code == 405
    assert RecallAudit.objects.get().query == "hours"


def test_a_retrieval_test_is_listed_and_marked_as_a_test(
    admin_member: Any, login: Callable[..., Client], tenant: models.Tenant, retrieval_on: Any,
    ingest_text: Callable[..., models.Document],
) -> None:
    ingest_text("Free parking behind the building.", name="parking.md")
    client = login(admin_member)
    client.post(reverse("kb:retrieval_test"), {"query": "parking", "top_k": 5})
    api_call = retrieval.retrieve(tenant=tenant, query="parking please", session_id="router-1")
    listing = client.get(reverse("kb:audit_list")).content.decode()
    test_row = RecallAudit.objects.get(is_test=True)
    assert re.search(rf'<tr id="recall-{test_row.pk}">.*?kb-badge-test.*?</tr>', listing, re.S)
    api_row = re.search(rf'<tr id="recall-{api_call.audit_id}">.*?</tr>', listing, re.S)
    assert api_row and "kb-badge-test" not in api_row.group(0)
    detail = client.get(reverse("kb:audit_detail", args=[test_row.pk])).content.decode()
    assert 'id="kb-recall-test"' in detail and "Retrieval test page" in detail
    assert "parking.md" in detail


def test_the_detail_neither_names_nor_links_another_users_personal_document(
    support_client: Client, tenant: models.Tenant, make_user: Callable[..., Any], login: Callable[..., Client],
) -> None:
    owner = make_user("olga", tenant=tenant, role="support", is_staff=True)
    doc = factories.virtual_document(
        tenant=tenant, title="olga-notes.md", external_id="m1", scope="personal", owner=owner, text="Private.",
        auto_ingest=False,
    )
    row = _recall(tenant, "notes", results=[
        {"chunk_id": 1, "document_id": doc.pk, "document_name": "olga-notes.md", "chunk_index": 0,
         "score": 0.5, "text": "Private."},
    ])
    link = f'href="{reverse("kb:document", args=[doc.pk])}"'
    page = support_client.get(reverse("kb:audit_detail", args=[row.pk])).content.decode()
    assert "olga-notes.md" not in page and "Private." not in page
    assert "A personal document of another user" in page
    assert link not in page and "(deleted)" not in page
    own = login(owner).get(reverse("kb:audit_detail", args=[row.pk])).content.decode()
    assert link in own and "olga-notes.md" in own and "Private." in own


def test_the_audit_pages_keep_their_urls_and_names_under_kb() -> None:
    assert reverse("kb:audit_list") == "/kb/audit/"
    assert reverse("kb:audit_detail", args=[7]) == "/kb/audit/7/"
    assert reverse("kb:files") == "/kb/files/"
