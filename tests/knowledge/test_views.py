"""Browser pages (/kb/…): access by tenant and role, every page and action, escaping, CSRF, polling."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import RecallAudit
from knowledge import ingestion, models, services
from tests import factories

pytestmark = pytest.mark.django_db

HOURS = "# Opening hours\n\nWe are open Monday to Friday 8 to 5 and Saturday 9 to 12.\n"
PARKING = "# Parking\n\nFree parking is behind the building, entrance on Elm Street.\n"
HOSTILE_NAME = '"><img src=x onerror=alert(1)>.md'
EMPTY_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def _upload(tenant: models.Tenant, text: str | bytes, name: str = "doc.md", *, kind: str = "knowledge",
            auto_ingest: bool = True) -> models.Document:
    data = text.encode() if isinstance(text, str) else text
    result = services.document_upload(
        tenant=tenant, fileobj=io.BytesIO(data), filename=name, kind=kind, auto_ingest=auto_ingest
    )
    return result.document


def _page_urls(doc_id: int) -> list[str]:
    return [
        reverse("kb:files"),
        reverse("kb:document", args=[doc_id]),
        reverse("kb:document_delete", args=[doc_id]),
        reverse("kb:document_download", args=[doc_id]),
        reverse("kb:jobs"),
        reverse("kb:retrieval_test"),
        reverse("kb:audit_list"),
        reverse("kb:keys"),
    ]


def _action_urls(doc_id: int, job_id: int, key_id: int) -> list[str]:
    return [
        reverse("kb:upload"),
        reverse("kb:document_ingest", args=[doc_id]),
        reverse("kb:document_retry", args=[doc_id]),
        reverse("kb:document_delete", args=[doc_id]),
        reverse("kb:job_retry", args=[job_id]),
        reverse("kb:keys"),
        reverse("kb:key_revoke", args=[key_id]),
        reverse("kb:tenant_switch"),
        reverse("kb:retrieval_switch"),
    ]


def _messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def admin_client(admin_member: Any, login: Callable[..., Client]) -> Client:
    # Shadows pytest-django's superuser `admin_client`: here it is a tenant admin.
    return login(admin_member)


@pytest.fixture
def support_client(support_member: Any, login: Callable[..., Client]) -> Client:
    return login(support_member)


@pytest.fixture
def member_client(make_user: Callable[..., Any], tenant: models.Tenant, login: Callable[..., Client]) -> Client:
    return login(make_user("mia", tenant=tenant, role="member", is_staff=True))


# --- Access ---------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page_on_every_page(tenant: models.Tenant) -> None:
    doc = _upload(tenant, HOURS, auto_ingest=False)
    client = Client()
    for url in _page_urls(doc.pk):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login") + "?next="), url


def test_anonymous_actions_are_sent_to_login_and_change_nothing(tenant: models.Tenant) -> None:
    doc = _upload(tenant, HOURS)
    job = models.IngestJob.objects.get(document=doc)
    key = services.apikey_create(tenant=tenant, scopes=["retrieve"]).key
    client = Client()
    for url in _action_urls(doc.pk, job.pk, key.pk):
        response = client.post(url, {"tenant": tenant.pk, "scopes": ["retrieve"]})
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    assert models.Document.objects.filter(pk=doc.pk).exists()
    assert models.IngestJob.objects.count() == 1
    assert models.ApiKey.objects.filter(revoked_at__isnull=True).count() == 1


def test_a_user_without_membership_is_refused(make_user: Callable[..., Any], login: Callable[..., Client],
                                              tenant: models.Tenant) -> None:
    client = login(make_user("stranger", is_staff=True))
    response = client.get(reverse("kb:files"))
    assert response.status_code == 403
    assert b"not a member of any tenant" in response.content


def test_the_root_and_kb_home_lead_to_the_files_page(admin_client: Client) -> None:
    assert admin_client.get("/")["Location"] == reverse("kb:files")
    assert admin_client.get("/kb/")["Location"] == reverse("kb:files")


def test_a_member_reads_files_only(member_client: Client, tenant: models.Tenant) -> None:
    doc = _upload(tenant, HOURS, auto_ingest=False)
    assert member_client.get(reverse("kb:files")).status_code == 200
    assert member_client.get(reverse("kb:document", args=[doc.pk])).status_code == 200
    assert member_client.get(reverse("kb:document_download", args=[doc.pk])).status_code == 200
    for name in ("kb:jobs", "kb:retrieval_test", "kb:audit_list", "kb:keys"):
        assert member_client.get(reverse(name)).status_code == 403, name
    page = member_client.get(reverse("kb:files")).content.decode()
    assert 'id="kb-nav-files"' in page
    for hidden in ("kb-nav-jobs", "kb-nav-audit", "kb-nav-keys", "Delete</a>", '<select name="scope"'):
        assert hidden not in page
    assert "Upload personal files" in page and '<input type="hidden" name="scope" value="personal">' in page


def test_support_reads_files_jobs_and_audits_but_sees_no_write_controls(
    support_client: Client, tenant: models.Tenant
) -> None:
    doc = _upload(tenant, HOURS, auto_ingest=False)
    for url in (reverse("kb:files"), reverse("kb:document", args=[doc.pk]), reverse("kb:jobs"),
                reverse("kb:audit_list"), reverse("kb:retrieval_test")):
        assert support_client.get(url).status_code == 200, url
    assert support_client.get(reverse("kb:keys")).status_code == 403
    page = support_client.get(reverse("kb:files")).content.decode()
    assert "Upload personal files" in page and '<select name="scope"' not in page
    assert reverse("kb:document_delete", args=[doc.pk]) not in page
    assert 'id="kb-nav-keys"' not in page


def test_support_cannot_change_anything(support_client: Client, tenant: models.Tenant, run_jobs: Any) -> None:
    doc = _upload(tenant, HOURS)
    run_jobs()
    job = models.IngestJob.objects.get(document=doc)
    key = services.apikey_create(tenant=tenant, scopes=["retrieve"]).key
    upload = support_client.post(  # for the tenant: refused (a personal upload is their own business)
        reverse("kb:upload"), {"uploads": [SimpleUploadedFile("x.txt", b"Some new fact.")], "kind": "knowledge"}
    )
    assert upload.status_code == 302
    for url in (reverse("kb:document_ingest", args=[doc.pk]), reverse("kb:document_retry", args=[doc.pk]),
                reverse("kb:document_delete", args=[doc.pk]), reverse("kb:job_retry", args=[job.pk]),
                reverse("kb:key_revoke", args=[key.pk])):
        assert support_client.post(url).status_code == 403, url
    assert support_client.post(reverse("kb:keys"), {"name": "x", "scopes": ["retrieve"]}).status_code == 403
    assert support_client.get(reverse("kb:document_delete", args=[doc.pk])).status_code == 403
    assert models.Document.objects.count() == 1
    assert models.IngestJob.objects.count() == 1
    assert models.ApiKey.objects.count() == 1
    key.refresh_from_db()
    assert key.revoked_at is None


def test_other_tenants_ids_are_404_on_every_page_and_action_and_nothing_changes(
    admin_client: Client, other_tenant: models.Tenant, run_jobs: Any
) -> None:
    doc = _upload(other_tenant, EMPTY_PDF, name="theirs.pdf")
    run_jobs()
    job = models.IngestJob.objects.get(document=doc)
    key = services.apikey_create(tenant=other_tenant, scopes=["retrieve"]).key
    recall = RecallAudit.objects.create(tenant=other_tenant, query="their secret question")
    for url in (reverse("kb:document", args=[doc.pk]), reverse("kb:document_delete", args=[doc.pk]),
                reverse("kb:document_download", args=[doc.pk]), reverse("kb:audit_detail", args=[recall.pk])):
        assert admin_client.get(url).status_code == 404, url
    for url in (reverse("kb:document_ingest", args=[doc.pk]), reverse("kb:document_retry", args=[doc.pk]),
                reverse("kb:document_delete", args=[doc.pk]), reverse("kb:job_retry", args=[job.pk]),
                reverse("kb:key_revoke", args=[key.pk])):
        assert admin_client.post(url).status_code == 404, url
    assert admin_client.post(reverse("kb:tenant_switch"), {"tenant": other_tenant.pk}).status_code == 404
    doc.refresh_from_db()
    key.refresh_from_db()
    assert doc.status == models.DocStatus.FAILED
    assert models.IngestJob.objects.filter(document=doc).count() == 1
    assert key.revoked_at is None
    assert admin_client.get(reverse("kb:files")).content.decode().count("theirs.pdf") == 0


def test_a_tenant_query_parameter_for_a_foreign_tenant_is_refused(
    admin_client: Client, other_tenant: models.Tenant
) -> None:
    response = admin_client.get(reverse("kb:files"), {"tenant": other_tenant.slug})
    assert response.status_code == 403


def test_every_form_needs_the_csrf_token(admin_member: Any, login: Callable[..., Client],
                                         tenant: models.Tenant) -> None:
    doc = _upload(tenant, HOURS, auto_ingest=False)
    client = login(admin_member, enforce_csrf=True)
    assert client.post(reverse("kb:document_delete", args=[doc.pk])).status_code == 403
    assert client.post(reverse("kb:keys"), {"name": "x", "scopes": ["retrieve"]}).status_code == 403
    assert models.Document.objects.filter(pk=doc.pk).exists()
    assert not models.ApiKey.objects.exists()
    page = client.get(reverse("kb:files")).content.decode()
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page)
    assert token, "the <body> carries the CSRF header for htmx"
    assert page.count('name="csrfmiddlewaretoken"') >= 2  # upload form, row actions, logout
    # htmx sends the token as a header: that is accepted.
    ok = client.post(reverse("kb:document_delete", args=[doc.pk]), headers={"X-CSRFToken": token.group(1)})
    assert ok.status_code == 302
    assert not models.Document.objects.filter(pk=doc.pk).exists()


# --- Tenant switcher -----------------------------------------------------------------------------


def test_the_switcher_lists_the_users_tenants_and_remembers_the_choice(
    make_user: Callable[..., Any], login: Callable[..., Client], tenant: models.Tenant,
    other_tenant: models.Tenant,
) -> None:
    user = make_user("bea", tenant=tenant, role="admin", is_staff=True)
    services.membership_set(tenant=other_tenant, user=user, role="support")
    _upload(tenant, HOURS, name="ours.md", auto_ingest=False)
    _upload(other_tenant, PARKING, name="theirs.md", auto_ingest=False)
    services.tenant_select(user=user, tenant=tenant)
    client = login(user)
    page = client.get(reverse("kb:files")).content.decode()
    assert 'id="kb-tenant-select"' in page
    assert "Other Co (otherco)" in page and "ours.md" in page and "theirs.md" not in page

    response = client.post(reverse("kb:tenant_switch"), {"tenant": other_tenant.pk, "next": "https://evil.example/"})
    assert response.status_code == 302
    assert response["Location"] == reverse("kb:files")  # never an off-site redirect
    page = client.get(reverse("kb:files")).content.decode()
    assert "theirs.md" in page and "ours.md" not in page
    assert '<select name="scope"' not in page  # support there: personal uploads only

    fresh = login(user)  # a new session: the choice is remembered per user
    assert "theirs.md" in fresh.get(reverse("kb:files")).content.decode()


def test_the_switcher_is_hidden_with_a_single_tenant(admin_client: Client) -> None:
    assert 'id="kb-tenant-select"' not in admin_client.get(reverse("kb:files")).content.decode()


def test_a_superuser_sees_every_tenant_and_acts_as_admin(
    make_user: Callable[..., Any], login: Callable[..., Client], tenant: models.Tenant,
    other_tenant: models.Tenant,
) -> None:
    root = make_user("root", is_staff=True, is_superuser=True)
    _upload(other_tenant, PARKING, name="theirs.md", auto_ingest=False)
    client = login(root)
    page = client.get(reverse("kb:files")).content.decode()
    assert "Other Co (otherco)" in page and "Bright Smile Dental (brightsmile)" in page
    client.post(reverse("kb:tenant_switch"), {"tenant": other_tenant.pk})
    page = client.get(reverse("kb:files")).content.decode()
    assert "theirs.md" in page
    assert "kb-upload-form" in page
    assert client.get(reverse("kb:keys")).status_code == 200


def test_a_superusers_switched_tenant_is_the_same_in_the_pages_and_the_api(
    make_user: Callable[..., Any], login: Callable[..., Client], tenant: models.Tenant,
    other_tenant: models.Tenant,
) -> None:
    root = make_user("root", tenant=tenant, role="member", is_staff=True, is_superuser=True)
    ours = _upload(tenant, HOURS, name="ours.md", auto_ingest=False)
    theirs = _upload(other_tenant, PARKING, name="theirs.md", auto_ingest=False)
    client = login(root)

    def acting_on() -> tuple[set[str], list[int]]:
        page = client.get(reverse("kb:files")).content.decode()
        shown = {name for name in ("ours.md", "theirs.md") if name in page}
        return shown, [d["id"] for d in client.get("/api/v1/kb/files").json()["items"]]

    assert acting_on() == ({"ours.md"}, [ours.pk])
    client.post(reverse("kb:tenant_switch"), {"tenant": other_tenant.pk})  # not a member there
    assert acting_on() == ({"theirs.md"}, [theirs.pk])
    client.post(reverse("kb:tenant_switch"), {"tenant": tenant.pk})
    assert acting_on() == ({"ours.md"}, [ours.pk])


def test_the_switcher_follows_a_safe_next(admin_client: Client, tenant: models.Tenant) -> None:
    response = admin_client.post(reverse("kb:tenant_switch"), {"tenant": tenant.pk, "next": reverse("kb:keys")})
    assert response.status_code == 302 and response["Location"] == reverse("kb:keys")


# --- KB files page -----------------------------------------------------------------------------


def test_the_files_page_lists_documents_with_kind_size_status_chunks_and_ingested_at(
    admin_client: Client, ingest_text: Callable[..., models.Document], other_tenant: models.Tenant
) -> None:
    ready = ingest_text(HOURS, name="hours.md")
    ingest_text(PARKING, name="theirs-parking.md", to=other_tenant)
    response = admin_client.get(reverse("kb:files"))
    assert response.status_code == 200
    page = response.content.decode()
    row = re.search(rf'<tr id="doc-{ready.pk}".*?</tr>', page, re.S)
    assert row
    row_html = row.group(0)
    assert "hours.md" in row_html and "Knowledge" in row_html
    assert 'data-kb-status="ready"' in row_html
    assert f'<td class="kb-num" data-label="Chunks">{ready.chunk_count}</td>' in row_html
    assert ready.ingested_at is not None and ready.ingested_at.strftime("%Y-%m-%d") in row_html
    assert "Download" in row_html and "Re-ingest" in row_html
    assert "theirs-parking.md" not in page


def test_upload_takes_several_files_at_once_and_queues_their_ingestion(
    admin_client: Client, tenant: models.Tenant
) -> None:
    response = admin_client.post(reverse("kb:upload"), {
        "uploads": [SimpleUploadedFile("hours.md", HOURS.encode()), SimpleUploadedFile("parking.md", PARKING.encode())],
        "kind": "policy", "auto_ingest": "on",
    }, follow=True)
    assert response.status_code == 200
    assert "Uploaded 2 files." in _messages(response)
    docs = models.Document.objects.filter(tenant=tenant)
    assert sorted(d.name for d in docs) == ["hours.md", "parking.md"]
    assert {d.kind for d in docs} == {"policy"}
    assert {d.status for d in docs} == {models.DocStatus.QUEUED}
    jobs = models.IngestJob.objects.filter(tenant=tenant)
    assert jobs.count() == 2 and {j.trigger for j in jobs} == {models.Trigger.UI}
    assert {d.created_by for d in docs} == {response.wsgi_request.user}


def test_upload_without_ingesting_leaves_the_file_uploaded(admin_client: Client, tenant: models.Tenant) -> None:
    admin_client.post(reverse("kb:upload"), {"uploads": [SimpleUploadedFile("hours.md", HOURS.encode())],
                                             "kind": "knowledge"})
    doc = models.Document.objects.get(tenant=tenant)
    assert doc.status == models.DocStatus.UPLOADED
    assert not models.IngestJob.objects.exists()


def test_upload_reports_bad_and_duplicate_files_and_keeps_the_good_ones(
    admin_client: Client, tenant: models.Tenant
) -> None:
    _upload(tenant, HOURS, name="hours.md", auto_ingest=False)
    response = admin_client.post(reverse("kb:upload"), {
        "uploads": [
            SimpleUploadedFile("copy-of-hours.md", HOURS.encode()),
            SimpleUploadedFile("program.txt", b"\x7fELF\x02\x01\x01" + b"\x00" * 50),
            SimpleUploadedFile("parking.md", PARKING.encode()),
        ],
        "kind": "knowledge", "auto_ingest": "on",
    }, follow=True)
    messages = " | ".join(_messages(response))
    assert "copy-of-hours.md: the same content is already here as “hours.md”" in messages
    assert "program.txt:" in messages
    assert "Uploaded 1 file." in messages
    assert sorted(models.Document.objects.values_list("name", flat=True)) == ["hours.md", "parking.md"]


def test_upload_without_files_says_so(admin_client: Client) -> None:
    response = admin_client.post(reverse("kb:upload"), {"kind": "knowledge"}, follow=True)
    assert any("Upload failed" in m for m in _messages(response))
    assert not models.Document.objects.exists()


def test_hostile_file_names_render_as_text(admin_client: Client, tenant: models.Tenant, run_jobs: Any) -> None:
    admin_client.post(reverse("kb:upload"), {"uploads": [SimpleUploadedFile(HOSTILE_NAME, HOURS.encode())],
                                             "kind": "knowledge", "auto_ingest": "on"})
    run_jobs()
    doc = models.Document.objects.get()
    assert "<img" in doc.name
    for url in (reverse("kb:files"), reverse("kb:document", args=[doc.pk]),
                reverse("kb:document_delete", args=[doc.pk]), reverse("kb:jobs")):
        page = admin_client.get(url).content.decode()
        assert "<img src=x" not in page, url
        assert "&lt;img src=x onerror=alert(1)&gt;" in page, url
    download = admin_client.get(reverse("kb:document_download", args=[doc.pk]))
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")


def test_the_table_polls_while_work_is_in_flight_and_stops_when_none_is(
    admin_client: Client, tenant: models.Tenant, run_jobs: Any
) -> None:
    _upload(tenant, HOURS)
    page = admin_client.get(reverse("kb:files")).content.decode()
    assert 'hx-trigger="every 2s"' in page and 'data-kb-polling="1"' in page

    partial = admin_client.get(reverse("kb:files"), headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert body.lstrip().startswith('<div id="kb-files-table"')
    assert "<html" not in body and 'hx-trigger="every 2s"' in body

    run_jobs()
    settled = admin_client.get(reverse("kb:files"), headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 2s"' not in settled and 'data-kb-polling="0"' in settled
    assert 'data-kb-status="ready"' in settled
    # A history restore needs the whole page.
    restore = admin_client.get(reverse("kb:files"), headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.content.decode()


def test_a_failed_file_shows_its_reason_on_hover_and_in_its_detail(
    admin_client: Client, tenant: models.Tenant, run_jobs: Any
) -> None:
    doc = _upload(tenant, EMPTY_PDF, name="scan.pdf")
    run_jobs()
    doc.refresh_from_db()
    assert doc.status == models.DocStatus.FAILED and doc.ingest_error
    page = admin_client.get(reverse("kb:files")).content.decode()
    assert f'title="{doc.ingest_error}"' in page
    assert reverse("kb:document_retry", args=[doc.pk]) in page
    detail = admin_client.get(reverse("kb:document", args=[doc.pk])).content.decode()
    assert 'id="kb-doc-error"' in detail and doc.ingest_error in detail


def test_filters_and_search_narrow_the_table(admin_client: Client, tenant: models.Tenant, run_jobs: Any) -> None:
    _upload(tenant, HOURS, name="hours.md", kind="policy", auto_ingest=False)
    _upload(tenant, PARKING, name="parking.md")
    run_jobs()
    _upload(tenant, "Late fees are 20 dollars.", name="fees.txt", auto_ingest=False)

    def names(**params: str) -> set[str]:
        page = admin_client.get(reverse("kb:files"), params).content.decode()
        return set(re.findall(r'class="kb-doc-link">([^<]+)</a>', page))

    assert names() == {"hours.md", "parking.md", "fees.txt"}
    assert names(kind="policy") == {"hours.md"}
    assert names(status="ready") == {"parking.md"}
    assert names(q="FEES") == {"fees.txt"}
    assert names(kind="knowledge", status="uploaded") == {"fees.txt"}
    assert names(status="bogus") == {"hours.md", "parking.md", "fees.txt"}  # invalid filters are ignored
    assert "No KB files match" in admin_client.get(reverse("kb:files"), {"q": "nothing-like-this"}).content.decode()


# --- Document detail and actions --------------------------------------------------------------------


def test_the_detail_shows_metadata_ingest_history_with_timings_and_chunks(
    admin_client: Client, ingest_text: Callable[..., models.Document]
) -> None:
    doc = ingest_text(HOURS + "\n## Holidays\n\nClosed on public holidays.\n", name="hours.md")
    chunks = list(models.Chunk.objects.filter(document=doc).order_by("chunk_index"))
    assert chunks
    page = admin_client.get(reverse("kb:document", args=[doc.pk])).content.decode()
    assert doc.content_sha256 in page
    job = models.IngestJob.objects.get(document=doc)
    history = re.search(rf'<tr id="job-{job.pk}">.*?</tr>', page, re.S)
    assert history
    for stage in ("read", "extract", "chunk", "embed", "store"):
        assert f'title="{stage}"' in history.group(0)
    assert history.group(0).index('title="read"') < history.group(0).index('title="store"')
    for chunk in chunks:
        assert f'id="chunk-{chunk.pk}"' in page
        assert f"#{chunk.chunk_index}" in page
        if chunk.heading:
            assert chunk.heading in page


def test_the_detail_reads_the_document_once_and_never_loads_embeddings(
    admin_client: Client, ingest_text: Callable[..., models.Document]
) -> None:
    doc = ingest_text(HOURS, name="hours.md")
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get(reverse("kb:document", args=[doc.pk])).status_code == 200
    sql = [q["sql"] for q in queries.captured_queries]
    assert len([q for q in sql if 'FROM "knowledge_document"' in q]) == 1
    assert any('FROM "knowledge_chunk"' in q for q in sql)
    assert not any('"knowledge_chunk"."embedding"' in q or '"knowledge_chunk"."search_vector"' in q for q in sql)


def test_the_detail_polls_while_ingesting(admin_client: Client, tenant: models.Tenant, run_jobs: Any) -> None:
    doc = _upload(tenant, HOURS)
    page = admin_client.get(reverse("kb:document", args=[doc.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in page and 'hx-select="#content-main"' in page
    run_jobs()
    page = admin_client.get(reverse("kb:document", args=[doc.pk])).content.decode()
    assert 'hx-trigger="every 2s"' not in page


def test_ingest_queues_a_new_ingestion_and_reingest_forces_it(
    admin_client: Client, tenant: models.Tenant, run_jobs: Any
) -> None:
    doc = _upload(tenant, HOURS, auto_ingest=False)
    response = admin_client.post(reverse("kb:document_ingest", args=[doc.pk]), follow=True)
    assert any("queued for ingestion" in m for m in _messages(response))
    assert models.IngestJob.objects.filter(document=doc, trigger=models.Trigger.UI).count() == 1
    run_jobs()
    doc.refresh_from_db()
    assert doc.status == models.DocStatus.READY
    response = admin_client.post(reverse("kb:document_ingest", args=[doc.pk]), {"next": reverse("kb:files")})
    assert response["Location"] == reverse("kb:files")
    assert models.IngestJob.objects.filter(document=doc, force=True, status=models.JobStatus.QUEUED).exists()


def test_ingest_while_in_flight_is_a_harmless_duplicate(admin_client: Client, tenant: models.Tenant) -> None:
    doc = _upload(tenant, HOURS)
    response = admin_client.post(reverse("kb:document_ingest", args=[doc.pk]), follow=True)
    assert any("nothing to do" in m for m in _messages(response))
    assert models.IngestJob.objects.filter(document=doc).count() == 1


def test_retry_requeues_a_failed_document(admin_client: Client, tenant: models.Tenant, run_jobs: Any) -> None:
    doc = _upload(tenant, EMPTY_PDF, name="scan.pdf")
    run_jobs()
    response = admin_client.post(reverse("kb:document_retry", args=[doc.pk]), follow=True)
    assert any("queued for ingestion" in m for m in _messages(response))
    jobs = list(models.IngestJob.objects.filter(document=doc).order_by("pk"))
    assert [j.status for j in jobs] == [models.JobStatus.FAILED, models.JobStatus.QUEUED]
    assert jobs[1].trigger == models.Trigger.RETRY
    # Nothing failed any more: a second retry is refused politely.
    response = admin_client.post(reverse("kb:document_retry", args=[doc.pk]), follow=True)
    assert any("no failed ingestion" in m for m in _messages(response))
    assert models.IngestJob.objects.filter(document=doc).count() == 2


def test_delete_asks_for_confirmation_then_removes_the_file_and_its_chunks(
    admin_client: Client, ingest_text: Callable[..., models.Document]
) -> None:
    doc = ingest_text(HOURS, name="hours.md")
    assert models.Chunk.objects.filter(document=doc).exists()
    confirm = admin_client.get(reverse("kb:document_delete", args=[doc.pk]))
    assert confirm.status_code == 200
    assert b"Are you sure" in confirm.content and b"hours.md" in confirm.content
    assert models.Document.objects.filter(pk=doc.pk).exists()
    response = admin_client.post(reverse("kb:document_delete", args=[doc.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("kb:files")
    assert any("Deleted “hours.md”" in m for m in _messages(response))
    assert not models.Document.objects.filter(pk=doc.pk).exists()
    assert not models.Chunk.objects.filter(document_id=doc.pk).exists()


def test_download_returns_the_original_bytes_as_an_attachment(member_client: Client, tenant: models.Tenant) -> None:
    doc = _upload(tenant, HOURS, name="hours.md", auto_ingest=False)
    response = member_client.get(reverse("kb:document_download", args=[doc.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == HOURS.encode()  # type: ignore[attr-defined]
    assert response["Content-Disposition"].startswith("attachment")
    assert "hours.md" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_download_serves_a_document_without_a_file_as_its_inline_text(
    member_client: Client, tenant: models.Tenant
) -> None:
    doc = factories.virtual_document(
        tenant=tenant, title="Teams thread", source_kind="teams", external_id="t1", text="Lunch is at noon.",
        auto_ingest=False,
    )
    response = member_client.get(reverse("kb:document_download", args=[doc.pk]))
    assert response.status_code == 200 and response.content == b"Lunch is at noon."
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_unknown_ids_are_404(admin_client: Client) -> None:
    assert admin_client.get(reverse("kb:document", args=[999999])).status_code == 404
    assert admin_client.post(reverse("kb:job_retry", args=[999999])).status_code == 404


# --- Ingest jobs page ------------------------------------------------------------------------------


def test_the_jobs_page_shows_queue_depth_running_jobs_and_failures_with_reasons(
    support_client: Client, tenant: models.Tenant, other_tenant: models.Tenant, run_jobs: Any
) -> None:
    failed = _upload(tenant, EMPTY_PDF, name="scan.pdf")
    run_jobs()
    _upload(tenant, HOURS, name="hours.md")
    _upload(tenant, PARKING, name="parking.md")
    _upload(other_tenant, "Their queue item.", name="theirs.txt")
    running = _upload(tenant, "A file being ingested right now.", name="running.txt")
    running_job = models.IngestJob.objects.get(document=running)
    assert ingestion.claim(job_id=running_job.pk) is not None

    page = support_client.get(reverse("kb:jobs")).content.decode()
    depth = re.search(r'id="kb-queue-depth"><span class="kb-card-num">(\d+)<', page)
    assert depth and depth.group(1) == "2"
    assert re.search(r'id="kb-running-count"><span class="kb-card-num">1<', page)
    assert "running.txt" in page
    failed.refresh_from_db()
    failures = page[page.index('id="kb-failures"'):]
    assert "scan.pdf" in failures and failed.ingest_error in failures
    assert "theirs.txt" not in page
    assert 'hx-trigger="every 2s"' in page
    failed_job = models.IngestJob.objects.get(document=failed)
    assert f'id="failed-job-{failed_job.pk}"' in failures
    assert reverse("kb:job_retry", args=[failed_job.pk]) not in page  # support sees no retry buttons


def test_the_jobs_page_filters_by_status(admin_client: Client, tenant: models.Tenant, run_jobs: Any) -> None:
    _upload(tenant, EMPTY_PDF, name="scan.pdf")
    run_jobs()
    _upload(tenant, HOURS, name="hours.md")
    page = admin_client.get(reverse("kb:jobs"), {"status": "queued"}).content.decode()
    table = page[page.index('id="kb-all-jobs"'):]
    assert "hours.md" in table and "scan.pdf" not in table


def test_retrying_a_failed_job_from_the_jobs_page(admin_client: Client, tenant: models.Tenant, run_jobs: Any) -> None:
    doc = _upload(tenant, EMPTY_PDF, name="scan.pdf")
    run_jobs()
    job = models.IngestJob.objects.get(document=doc)
    page = admin_client.get(reverse("kb:jobs")).content.decode()
    assert reverse("kb:job_retry", args=[job.pk]) in page
    response = admin_client.post(reverse("kb:job_retry", args=[job.pk]))
    assert response["Location"] == reverse("kb:jobs")
    assert models.IngestJob.objects.filter(document=doc, status=models.JobStatus.QUEUED).count() == 1
    # Retrying a job that is still queued is a conflict, reported, not a crash.
    queued = models.IngestJob.objects.get(document=doc, status=models.JobStatus.QUEUED)
    response = admin_client.post(reverse("kb:job_retry", args=[queued.pk]), follow=True)
    assert any("still queued or running" in m for m in _messages(response))


# --- Retrieval test ---------------------------------------------------------------------------------


def test_the_retrieval_test_shows_policy_ranked_chunks_legs_and_timings_and_is_audited_as_a_test(
    admin_client: Client, admin_member: Any, ingest_text: Callable[..., models.Document], retrieval_on: Any
) -> None:
    policy = ingest_text("Never give medical diagnoses over the phone.", name="policy.md", kind="policy")
    hours = ingest_text(HOURS, name="hours.md")
    ingest_text(PARKING, name="parking.md")
    response = admin_client.post(reverse("kb:retrieval_test"), {"query": "are you open on saturday", "top_k": 3})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Never give medical diagnoses" in page
    hits = re.findall(r'<tr class="kb-hit" data-chunk-id="(\d+)">', page)
    assert hits
    first = models.Chunk.objects.get(pk=int(hits[0]))
    assert first.document_id == hours.pk
    assert "Saturday 9 to 12" in page
    assert "kb-leg-lexical" in page or "kb-leg-vector" in page
    assert "ms total" in page
    audit = RecallAudit.objects.get()
    assert audit.is_test is True and audit.source == "ui_test" and audit.user_id == admin_member.pk
    assert audit.query == "are you open on saturday"
    assert reverse("kb:audit_detail", args=[audit.pk]) in page
    policy_chunks = sorted(models.Chunk.objects.filter(document=policy).values_list("pk", flat=True))
    assert policy_chunks and sorted(audit.policy_chunk_ids) == policy_chunks


def test_the_retrieval_test_answers_htmx_with_the_result_only(
    support_client: Client, ingest_text: Callable[..., models.Document], retrieval_on: Any
) -> None:
    ingest_text(PARKING, name="parking.md")
    response = support_client.post(reverse("kb:retrieval_test"), {"query": "where do I park", "top_k": 5},
                                   headers={"HX-Request": "true"})
    body = response.content.decode()
    assert "<html" not in body and body.lstrip().startswith('<div id="kb-retrieval-result">')
    assert "Elm Street" in body


def test_the_retrieval_test_escapes_the_query_and_chunk_text(
    admin_client: Client, ingest_text: Callable[..., models.Document], retrieval_on: Any
) -> None:
    ingest_text("Parking <script>alert('x')</script> is free.", name="parking.txt")
    response = admin_client.post(reverse("kb:retrieval_test"), {"query": "<b>parking</b> free", "top_k": 5})
    page = response.content.decode()
    assert "<script>alert" not in page and "<b>parking</b>" not in page
    assert "&lt;script&gt;" in page


def test_the_retrieval_test_says_when_retrieval_is_disabled(admin_client: Client, settings: Any,
                                                           ingest_text: Callable[..., models.Document]) -> None:
    settings.KB_RETRIEVAL_ENABLED = False
    ingest_text(HOURS, name="hours.md")
    page = admin_client.post(reverse("kb:retrieval_test"), {"query": "hours", "top_k": 5}).content.decode()
    assert 'id="kb-retrieval-disabled"' in page
    assert RecallAudit.objects.get().retrieval_enabled is False


def test_the_retrieval_test_rejects_an_empty_question(admin_client: Client, retrieval_on: Any) -> None:
    response = admin_client.post(reverse("kb:retrieval_test"), {"query": "", "top_k": 5})
    assert response.status_code == 200
    assert b"errornote" in response.content
    assert not RecallAudit.objects.exists()


# --- API keys --------------------------------------------------------------------------------------


def test_creating_a_key_shows_it_once(admin_client: Client, tenant: models.Tenant) -> None:
    response = admin_client.post(reverse("kb:keys"), {"name": "voice router", "scopes": ["retrieve"]})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    secret = re.search(r'value="(kb_[0-9a-f]{10}_[^"]+)" id="kb-new-key-value"', page)
    assert secret
    key = models.ApiKey.objects.get(tenant=tenant)
    assert key.name == "voice router" and key.scopes == ["retrieve"]
    assert secret.group(1).startswith(f"kb_{key.prefix}_")
    listing = admin_client.get(reverse("kb:keys")).content.decode()
    assert secret.group(1) not in listing
    assert f"kb_{key.prefix}_…" in listing and "never" in listing


def test_a_key_needs_a_scope(admin_client: Client) -> None:
    response = admin_client.post(reverse("kb:keys"), {"name": "nothing"})
    assert response.status_code == 200
    assert b"errorlist" in response.content
    assert not models.ApiKey.objects.exists()


def test_revoking_a_key(admin_client: Client, tenant: models.Tenant) -> None:
    key = services.apikey_create(tenant=tenant, scopes=["retrieve"], name="old").key
    response = admin_client.post(reverse("kb:key_revoke", args=[key.pk]), follow=True)
    assert any("Revoked key" in m for m in _messages(response))
    key.refresh_from_db()
    assert key.revoked_at is not None
    row = re.search(rf'<tr id="key-{key.pk}">.*?</tr>', response.content.decode(), re.S)
    assert row and "revoked" in row.group(0) and "Revoke</button>" not in row.group(0)


def test_the_keys_page_shows_each_creator_without_a_query_per_key(
    admin_client: Client, admin_member: Any, tenant: models.Tenant, django_user_model: Any
) -> None:
    for i in range(3):
        services.apikey_create(tenant=tenant, scopes=["retrieve"], name=f"key {i}", created_by=admin_member)
    users = f'FROM "{django_user_model._meta.db_table}"'
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(reverse("kb:keys")).content.decode()
    assert page.count(f"by {admin_member.get_username()}") == 3
    assert len([q for q in queries.captured_queries if users in q["sql"]]) == 1  # the session's user


def test_the_keys_page_lists_only_this_tenants_keys(admin_client: Client, other_tenant: models.Tenant) -> None:
    theirs = services.apikey_create(tenant=other_tenant, scopes=["retrieve"], name="their-router").key
    page = admin_client.get(reverse("kb:keys")).content.decode()
    assert theirs.prefix not in page and "their-router" not in page


def test_pages_are_read_only_where_they_should_be(admin_client: Client) -> None:
    for name in ("kb:files", "kb:jobs", "kb:audit_list"):
        assert admin_client.post(reverse(name)).status_code == 405, name
    assert admin_client.get(reverse("kb:upload")).status_code == 405


def test_a_member_who_is_not_staff_can_log_in_and_see_the_files(client: Any, make_user: Any, tenant: Any) -> None:
    make_user("mia", tenant=tenant, role="member")
    page = client.get("/kb/files/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    response = client.post("/accounts/login/?next=/kb/files/", {"username": "mia", "password": "pw-mia"})
    assert response.status_code == 302 and response["Location"] == "/kb/files/"
    assert client.get("/kb/files/").status_code == 200


def test_the_api_uses_the_tenant_the_user_switched_to(client: Any, make_user: Any, tenant: Any, other_tenant: Any) -> None:
    user = make_user("multi", tenant=tenant, role="admin")
    services.membership_set(tenant=other_tenant, user=user, role="admin")
    _upload(tenant, HOURS, "first-tenant-hours.md", auto_ingest=False)
    theirs = _upload(other_tenant, "Other tenant's parking notes.", "second-tenant-parking.md", auto_ingest=False)
    client.force_login(user)
    services.tenant_select(user=user, tenant=other_tenant)
    listing = client.get("/api/v1/kb/files").json()
    assert [d["id"] for d in listing["items"]] == [theirs.pk]
    page = client.get(reverse("kb:files"))
    assert b"second-tenant-parking.md" in page.content
    assert b"first-tenant-hours.md" not in page.content


def test_jobs_page_shows_failed_audit_writes(admin_client: Client) -> None:
    from django.core.cache import caches

    from knowledge.retrieval import recording

    caches[recording.COUNTER_CACHE].delete(recording.FAILURES_KEY)
    recording.note_failure(RuntimeError("disk full"))
    recording.note_failure(RuntimeError("disk full"))
    page = admin_client.get(reverse("kb:jobs")).content.decode()
    card = page[page.index('id="kb-audit-failures"'):]
    assert '<span class="kb-card-num">2</span>' in card[:400]
    caches[recording.COUNTER_CACHE].delete(recording.FAILURES_KEY)
