"""One role rule for the API and the pages (knowledge.auth.RULES): a member's session is refused
over the API exactly where the member's pages answer 403."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import RecallAudit
from knowledge import auth, models

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(ingest_text: Callable[..., models.Document]) -> models.Document:
    return ingest_text("# Hours\n\nOpen Saturday 9 to 12.\n", name="hours.md")


@pytest.fixture
def job(document: models.Document) -> models.IngestJob:
    return models.IngestJob.objects.filter(document=document).latest("pk")


def _pairs(document: models.Document, job: models.IngestJob) -> list[tuple[auth.Action, Callable[[Client], Any], Callable[[Client], Any]]]:
    """(action, the page asking it, the API endpoint asking it)."""
    return [
        (auth.Action.READ_FILES, lambda c: c.get(reverse("kb:files")), lambda c: c.get("/api/v1/kb/files")),
        (auth.Action.READ_FILES, lambda c: c.get(reverse("kb:document", args=[document.pk])),
         lambda c: c.get(f"/api/v1/kb/files/{document.pk}")),
        (auth.Action.READ_JOBS, lambda c: c.get(reverse("kb:jobs")), lambda c: c.get("/api/v1/kb/ingest-jobs")),
        (auth.Action.READ_JOBS, lambda c: c.get(reverse("kb:jobs")), lambda c: c.get(f"/api/v1/kb/ingest-jobs/{job.pk}")),
        (auth.Action.RETRIEVE, lambda c: c.get(reverse("kb:retrieval_test")),
         lambda c: c.post("/api/v1/retrieve", {"query": "open saturday"}, content_type="application/json")),
        (auth.Action.READ_AUDIT, lambda c: c.get(reverse("kb:audit_list")), lambda c: c.get("/api/v1/audit/recalls")),
        (auth.Action.MANAGE_FILES, lambda c: c.post(reverse("kb:job_retry", args=[job.pk])),
         lambda c: c.post(f"/api/v1/kb/ingest-jobs/{job.pk}/retry")),
    ]


@pytest.mark.parametrize("role", ["member", "support", "admin"])
def test_a_session_may_call_an_endpoint_exactly_when_it_may_open_the_matching_page(
    role: str, make_user: Callable[..., Any], login: Callable[..., Client], tenant: models.Tenant,
    document: models.Document, job: models.IngestJob, retrieval_on: Any,
) -> None:
    client = login(make_user(f"user-{role}", tenant=tenant, role=role))
    for action, page, endpoint in _pairs(document, job):
        allowed = auth.may(role=role, action=action)
        page_status, api_status = page(client).status_code, endpoint(client).status_code
        assert (page_status != 403) == allowed, (role, action, page_status)
        assert (api_status != 403) == allowed, (role, action, api_status)


def test_a_member_session_gets_403_on_ingest_jobs_and_retrieve_and_writes_no_audit_row(
    make_user: Callable[..., Any], login: Callable[..., Client], tenant: models.Tenant,
    job: models.IngestJob, retrieval_on: Any,
) -> None:
    client = login(make_user("mo", tenant=tenant, role="member"))
    assert client.get("/api/v1/kb/ingest-jobs").status_code == 403
    assert client.get(f"/api/v1/kb/ingest-jobs/{job.pk}").status_code == 403
    response = client.post("/api/v1/retrieve", {"query": "open saturday"}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert RecallAudit.objects.count() == 0
    assert client.get(reverse("kb:jobs")).status_code == 403
    assert client.get(reverse("kb:retrieval_test")).status_code == 403


def test_support_staff_read_jobs_of_their_tenant_only(
    support_member: Any, login: Callable[..., Client], ingest_text: Callable[..., models.Document],
    other_tenant: models.Tenant, job: models.IngestJob,
) -> None:
    theirs = ingest_text("Other tenant's text.", name="other.md", to=other_tenant)
    other_job = models.IngestJob.objects.filter(document=theirs).latest("pk")
    client = login(support_member)
    listed = client.get("/api/v1/kb/ingest-jobs").json()
    assert {j["id"] for j in listed["items"]} == {job.pk}
    assert client.get(f"/api/v1/kb/ingest-jobs/{other_job.pk}").status_code == 404
    assert client.get(f"/api/v1/kb/ingest-jobs/{job.pk}").status_code == 200


def test_keys_act_by_scope_and_every_action_has_a_rule(retrieve_key: str, manage_key: str, tenant: models.Tenant) -> None:
    assert set(auth.RULES) == set(auth.Action)
    retrieve_only = Client(headers={"Authorization": f"Bearer {retrieve_key}"})
    assert retrieve_only.get("/api/v1/kb/ingest-jobs").status_code == 403
    manage = Client(headers={"Authorization": f"Bearer {manage_key}"})
    assert manage.get("/api/v1/kb/ingest-jobs").status_code == 200
    assert auth.may(role="", action=auth.Action.MANAGE_KEYS, is_superuser=True)
    assert not auth.may(role=models.Role.SUPPORT, action=auth.Action.MANAGE_KEYS)
