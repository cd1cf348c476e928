"""Personal documents (scope "personal") belong to their owner: in the KB files pages and API,
like in retrieval, every other member gets 404 (as for another tenant's id) and an API key,
which acts for the whole tenant, sees tenant-scope documents only. Their ingest jobs follow
them: hidden from the jobs page and lists, 404 to read or retry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from knowledge import models, services
from tests import factories
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

PRIVATE = "Olga's private note: the boat trip is on Saturday."
SHARED = "# Parking\n\nFree parking is behind the building.\n"


@pytest.fixture
def owner(make_user: Callable[..., Any], tenant: models.Tenant) -> Any:
    return make_user("olga", tenant=tenant, role="member")


@pytest.fixture
def colleague(make_user: Callable[..., Any], tenant: models.Tenant) -> Any:
    return make_user("sid", tenant=tenant, role="member")


@pytest.fixture
def personal(tenant: models.Tenant, owner: Any, run_jobs: Callable[[], list[str]]) -> models.Document:
    doc = factories.virtual_document(
        tenant=tenant, title="My mail", external_id="m1", scope="personal", owner=owner, text=PRIVATE,
    )
    run_jobs()
    doc.refresh_from_db()
    assert doc.status == models.DocStatus.READY and doc.chunk_count >= 1
    return doc


@pytest.fixture
def shared(ingest_text: Callable[..., models.Document]) -> models.Document:
    return ingest_text(SHARED, name="parking.md")


def _session_api(client: Client) -> ApiClient:
    return ApiClient(None, client=client)


def _ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content
    return {d["id"] for d in response.json()["items"]}


# --- Browser pages ---------------------------------------------------------------------------


def test_another_members_personal_document_is_hidden_and_404_in_the_pages(
    login: Callable[..., Client], colleague: Any, personal: models.Document, shared: models.Document
) -> None:
    client = login(colleague)
    page = client.get(reverse("kb:files")).content.decode()
    assert "parking.md" in page and "My mail" not in page
    for url in (reverse("kb:document", args=[personal.pk]), reverse("kb:document_download", args=[personal.pk])):
        assert client.get(url).status_code == 404, url
    assert client.get(reverse("kb:document", args=[shared.pk])).status_code == 200


def test_a_tenant_admin_cannot_open_change_or_delete_a_members_personal_document(
    admin_member: Any, login: Callable[..., Client], personal: models.Document
) -> None:
    client = login(admin_member)
    assert "My mail" not in client.get(reverse("kb:files")).content.decode()
    for url in (reverse("kb:document", args=[personal.pk]), reverse("kb:document_download", args=[personal.pk]),
                reverse("kb:document_delete", args=[personal.pk])):
        assert client.get(url).status_code == 404, url
    for url in (reverse("kb:document_ingest", args=[personal.pk]), reverse("kb:document_retry", args=[personal.pk]),
                reverse("kb:document_delete", args=[personal.pk])):
        assert client.post(url).status_code == 404, url
    personal.refresh_from_db()
    assert personal.status == models.DocStatus.READY
    assert models.IngestJob.objects.filter(document=personal).count() == 1


def test_a_superuser_does_not_see_other_peoples_personal_documents_either(
    make_user: Callable[..., Any], login: Callable[..., Client], personal: models.Document
) -> None:
    client = login(make_user("root", is_staff=True, is_superuser=True))
    assert "My mail" not in client.get(reverse("kb:files")).content.decode()
    assert client.get(reverse("kb:document", args=[personal.pk])).status_code == 404
    assert client.get(f"/api/v1/kb/files/{personal.pk}").status_code == 404


def test_the_owner_sees_their_personal_document_its_chunks_and_downloads_it(
    login: Callable[..., Client], owner: Any, personal: models.Document, shared: models.Document
) -> None:
    client = login(owner)
    page = client.get(reverse("kb:files")).content.decode()
    assert "My mail" in page and "parking.md" in page
    detail = client.get(reverse("kb:document", args=[personal.pk])).content.decode()
    for chunk in models.Chunk.objects.filter(document=personal):
        assert f'id="chunk-{chunk.pk}"' in detail
    download = client.get(reverse("kb:document_download", args=[personal.pk]))
    assert download.status_code == 200 and download.content == PRIVATE.encode()
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"


# --- API -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/chunks", "/download"])
def test_another_members_personal_document_is_404_in_the_api_like_a_missing_one(
    login: Callable[..., Client], colleague: Any, personal: models.Document, shared: models.Document,
    suffix: str,
) -> None:
    api = _session_api(login(colleague))
    assert _ids(api.get("/api/v1/kb/files")) == {shared.pk}
    response = api.get(f"/api/v1/kb/files/{personal.pk}{suffix}")
    assert response.status_code == 404
    missing = api.get(f"/api/v1/kb/files/999999{suffix}")
    assert missing.status_code == 404 and missing.json() == response.json()
    assert api.get(f"/api/v1/kb/files/{shared.pk}{suffix}").status_code == 200


def test_the_owner_reads_their_personal_document_through_the_api(
    login: Callable[..., Client], owner: Any, personal: models.Document, shared: models.Document
) -> None:
    api = _session_api(login(owner))
    assert _ids(api.get("/api/v1/kb/files")) == {personal.pk, shared.pk}
    got = api.get(f"/api/v1/kb/files/{personal.pk}").json()
    assert got["id"] == personal.pk and got["scope"] == "personal"
    chunks = api.get(f"/api/v1/kb/files/{personal.pk}/chunks").json()
    assert chunks["count"] == personal.chunk_count and "boat trip" in chunks["items"][0]["text"]
    download = api.get(f"/api/v1/kb/files/{personal.pk}/download")
    assert download.status_code == 200 and download.content == PRIVATE.encode()


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("get", "/download"), ("get", "/chunks"), ("delete", ""), ("post", "/ingest")],
)
def test_an_api_key_sees_tenant_documents_only_and_personal_ones_are_404_and_untouched(
    api: ApiClient, personal: models.Document, shared: models.Document, method: str, suffix: str
) -> None:
    assert _ids(api.get("/api/v1/kb/files")) == {shared.pk}
    response = getattr(api, method)(f"/api/v1/kb/files/{personal.pk}{suffix}")
    assert response.status_code == 404
    assert response.json()["detail"] == "document not found"
    personal.refresh_from_db()
    assert personal.status == models.DocStatus.READY
    assert models.IngestJob.objects.filter(document=personal).count() == 1
    assert models.Chunk.objects.filter(document=personal).count() == personal.chunk_count


# --- Ingest jobs follow their document ------------------------------------------------------


def _fail_jobs_of(doc: models.Document) -> models.IngestJob:
    """Mark the document's job failed, so a retry would otherwise queue a new one."""
    models.IngestJob.objects.filter(document=doc).update(status=models.JobStatus.FAILED, error="boom")
    return models.IngestJob.objects.get(document=doc)


def test_the_jobs_page_hides_another_members_personal_document_jobs(
    admin_member: Any, login: Callable[..., Client], personal: models.Document, shared: models.Document
) -> None:
    job = _fail_jobs_of(personal)
    shared_job = models.IngestJob.objects.get(document=shared)
    client = login(admin_member)
    page = client.get(reverse("kb:jobs")).content.decode()
    assert f'id="job-{shared_job.pk}"' in page and "parking.md" in page
    assert f'id="job-{job.pk}"' not in page and f'id="failed-job-{job.pk}"' not in page
    assert "My mail" not in page and "No failures." in page
    failed = client.get(reverse("kb:jobs"), {"status": "failed"}).content.decode()
    assert "My mail" not in failed and f'id="job-{job.pk}"' not in failed


def test_a_tenant_admin_cannot_retry_a_members_personal_document_job_in_the_pages(
    admin_member: Any, login: Callable[..., Client], personal: models.Document
) -> None:
    job = _fail_jobs_of(personal)
    client = login(admin_member)
    assert client.post(reverse("kb:job_retry", args=[job.pk])).status_code == 404
    assert client.post(reverse("kb:job_retry", args=[999999])).status_code == 404
    assert models.IngestJob.objects.filter(document=personal).count() == 1


def test_another_members_personal_document_jobs_are_404_in_the_api_like_a_missing_one(
    login: Callable[..., Client], colleague: Any, personal: models.Document, shared: models.Document,
    tenant: models.Tenant,
) -> None:
    services.membership_set(tenant=tenant, user=colleague, role="support")  # jobs: support and admins
    job = models.IngestJob.objects.get(document=personal)
    shared_job = models.IngestJob.objects.get(document=shared)
    api = _session_api(login(colleague))
    assert _ids(api.get("/api/v1/kb/ingest-jobs")) == {shared_job.pk}
    assert _ids(api.get(f"/api/v1/kb/ingest-jobs?document={personal.pk}")) == set()
    response = api.get(f"/api/v1/kb/ingest-jobs/{job.pk}")
    missing = api.get("/api/v1/kb/ingest-jobs/999999")
    assert response.status_code == 404 and missing.status_code == 404
    assert response.json() == missing.json() and response.json()["detail"] == "ingest job not found"
    assert api.get(f"/api/v1/kb/ingest-jobs/{shared_job.pk}").status_code == 200


def test_a_tenant_admin_cannot_retry_a_members_personal_document_job_through_the_api(
    admin_member: Any, login: Callable[..., Client], personal: models.Document
) -> None:
    job = _fail_jobs_of(personal)
    api = _session_api(login(admin_member))
    assert job.pk not in _ids(api.get("/api/v1/kb/ingest-jobs"))
    response = api.post(f"/api/v1/kb/ingest-jobs/{job.pk}/retry")
    assert response.status_code == 404 and response.json()["detail"] == "ingest job not found"
    assert models.IngestJob.objects.filter(document=personal).count() == 1


def test_the_owner_sees_their_personal_document_jobs_through_the_api(
    login: Callable[..., Client], owner: Any, personal: models.Document, shared: models.Document,
    tenant: models.Tenant,
) -> None:
    services.membership_set(tenant=tenant, user=owner, role="support")  # jobs: support and admins
    job = models.IngestJob.objects.get(document=personal)
    shared_job = models.IngestJob.objects.get(document=shared)
    api = _session_api(login(owner))
    assert _ids(api.get("/api/v1/kb/ingest-jobs")) == {job.pk, shared_job.pk}
    assert _ids(api.get(f"/api/v1/kb/ingest-jobs?document={personal.pk}")) == {job.pk}
    got = api.get(f"/api/v1/kb/ingest-jobs/{job.pk}")
    assert got.status_code == 200 and got.json()["id"] == job.pk


@pytest.mark.parametrize(("method", "suffix"), [("get", ""), ("post", "/retry")])
def test_an_api_key_sees_tenant_document_jobs_only_and_personal_ones_are_404_and_untouched(
    api: ApiClient, personal: models.Document, shared: models.Document, method: str, suffix: str
) -> None:
    job = _fail_jobs_of(personal)
    shared_job = models.IngestJob.objects.get(document=shared)
    assert _ids(api.get("/api/v1/kb/ingest-jobs")) == {shared_job.pk}
    assert _ids(api.get("/api/v1/kb/ingest-jobs?status=failed")) == set()
    response = getattr(api, method)(f"/api/v1/kb/ingest-jobs/{job.pk}{suffix}")
    assert response.status_code == 404
    assert response.json()["detail"] == "ingest job not found"
    assert models.IngestJob.objects.filter(document=personal).count() == 1
    personal.refresh_from_db()
    assert personal.status == models.DocStatus.READY
