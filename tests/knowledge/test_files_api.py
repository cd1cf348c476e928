"""KB file API (DESIGN §6): upload, list, get, download, delete — with auth and tenancy."""

from __future__ import annotations

import io
from typing import Any

import docx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from knowledge import models, services
from tests import factories

pytestmark = pytest.mark.django_db

PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _docx_bytes(text: str = "Parking is free behind the building.") -> bytes:
    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_it_uploads_a_text_file_and_returns_the_document(api: Any, tenant: models.Tenant) -> None:
    response = api.upload(
        b"We are open Monday to Friday, 8 to 5.", name="hours.txt", auto_ingest=False
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "hours.txt"
    assert body["kind"] == "knowledge"
    assert body["content_type"] == "text/plain"
    assert body["size_bytes"] == 37
    assert len(body["sha256"]) == 64
    assert body["status"] == "uploaded"
    assert body["duplicate"] is False
    for field in (
        "id",
        "ingest_error",
        "ingested_at",
        "chunk_count",
        "source_kind",
        "created_at",
        "updated_at",
    ):
        assert field in body
    doc = models.Document.objects.get(pk=body["id"])
    assert doc.tenant == tenant
    assert "hours" not in doc.file.name  # stored under an app-generated name


@pytest.mark.parametrize(
    ("data", "name", "file_type", "content_type"),
    [
        (b"# Parking\n\nFree parking behind the building.", "parking.md", "md", "text/markdown"),
        (b"<!doctype html><html><body><p>Hi</p></body></html>", "page.html", "html", "text/html"),
        (PDF_BYTES, "doc.pdf", "pdf", "application/pdf"),
        (
            _docx_bytes(),
            "doc.docx",
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("Caf\u00e9 ouvert le samedi".encode("cp1252"), "legacy.txt", "txt", "text/plain"),
        ("\ufeffHours: 9-5".encode("utf-16"), "utf16.txt", "txt", "text/plain"),
    ],
)
def test_it_detects_the_type_from_the_content(
    api: Any, data: bytes, name: str, file_type: str, content_type: str
) -> None:
    response = api.upload(data, name=name, auto_ingest=False)
    assert response.status_code == 201, response.content
    assert response.json()["file_type"] == file_type
    assert response.json()["content_type"] == content_type


def test_it_ignores_the_extension_when_the_content_disagrees(api: Any) -> None:
    response = api.upload(PNG_BYTES, name="brochure.pdf")
    assert response.status_code == 415
    assert "PNG image" in response.json()["detail"]
    assert models.Document.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 50, "program"),
        (b"PK\x03\x04garbage-not-a-zip", "damaged"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "Office"),
        (bytes(range(256)) * 4, "not text"),
    ],
)
def test_it_refuses_binary_and_unsupported_files_with_a_reason(
    api: Any, data: bytes, reason: str
) -> None:
    response = api.upload(data, name="x.txt")
    assert response.status_code == 415
    assert reason in response.json()["detail"]


def test_it_refuses_an_empty_file(api: Any) -> None:
    response = api.upload(b"", name="empty.txt")
    assert response.status_code == 400
    assert "empty" in response.json()["detail"]
    assert api.upload(b"   \n\n ", name="blank.txt").status_code == 400


def test_it_refuses_an_oversized_file_with_413(api: Any, settings: Any) -> None:
    settings.KB_MAX_UPLOAD_MB = 1
    response = api.upload(b"a" * (1024 * 1024 + 1), name="big.txt")
    assert response.status_code == 413
    assert "1 MB" in response.json()["detail"]
    assert models.Document.objects.count() == 0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\evil.txt", "evil.txt"),
        ("nul\x00byte.txt", "nulbyte.txt"),
        ("<script>alert(1)<\\script>.txt", "script>.txt"),
        ("<img src=x onerror=alert(1)>.txt", "<img src=x onerror=alert(1)>.txt"),
        ("Préparation – été 😀.txt", "Préparation – été 😀.txt"),
        ("\u202etxt.exe", "txt.exe"),
    ],
)
def test_it_sanitises_hostile_filenames_for_display(api: Any, raw: str, expected: str) -> None:
    response = api.upload(f"content for {raw!r}".encode(), name=raw, auto_ingest=False)
    assert response.status_code == 201, response.content
    assert response.json()["name"] == expected


def test_it_shortens_a_300_character_filename(api: Any) -> None:
    response = api.upload(b"long name", name="a" * 300 + ".txt", auto_ingest=False)
    name = response.json()["name"]
    assert len(name) <= 200
    assert name.endswith(".txt")


def test_the_same_bytes_again_return_the_existing_document(api: Any) -> None:
    first = api.upload(b"Same bytes.", name="a.txt", auto_ingest=False).json()
    second = api.upload(b"Same bytes.", name="b.txt")
    assert second.status_code == 200
    assert second.json()["id"] == first["id"]
    assert second.json()["duplicate"] is True
    assert models.Document.objects.count() == 1
    assert models.IngestJob.objects.count() == 0


def test_another_tenant_uploading_the_same_bytes_gets_its_own_document(
    api: Any, other_api: Any
) -> None:
    mine = api.upload(b"Same bytes.", auto_ingest=False).json()
    theirs = other_api.upload(b"Same bytes.", auto_ingest=False)
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine["id"]
    assert theirs.json()["duplicate"] is False


def test_upload_queues_ingestion_unless_told_not_to(api: Any) -> None:
    queued = api.upload(b"Ingest me.", name="a.txt").json()
    assert queued["status"] == "queued"
    assert queued["ingestion"] == "queued"
    assert models.IngestJob.objects.filter(document_id=queued["id"]).count() == 1
    kept = api.upload(b"Not yet.", name="b.txt", auto_ingest=False).json()
    assert kept["status"] == "uploaded"
    assert not models.IngestJob.objects.filter(document_id=kept["id"]).exists()


def test_it_lists_files_with_filters_and_pagination(api: Any) -> None:
    api.upload(b"policy one", name="rules.txt", kind="policy", auto_ingest=False)
    for i in range(3):
        api.upload(f"fact {i}".encode(), name=f"fact{i}.txt", auto_ingest=False)
    listing = api.get("/api/v1/kb/files").json()
    assert listing["count"] == 4
    assert api.get("/api/v1/kb/files", {"kind": "policy"}).json()["count"] == 1
    assert (
        api.get("/api/v1/kb/files", {"search": "fact1"}).json()["items"][0]["name"] == "fact1.txt"
    )
    assert api.get("/api/v1/kb/files", {"status": "ready"}).json()["count"] == 0
    page = api.get("/api/v1/kb/files", {"limit": 2, "offset": 2}).json()
    assert page["count"] == 4 and len(page["items"]) == 2
    assert api.get("/api/v1/kb/files", {"kind": "bogus"}).status_code == 422


def test_it_gets_and_downloads_a_file_with_its_original_name(api: Any) -> None:
    doc = api.upload(
        "Öffnungszeiten: 9–17".encode(), name='Öffnungs "zeiten".txt', auto_ingest=False
    ).json()
    got = api.get(f"/api/v1/kb/files/{doc['id']}")
    assert got.status_code == 200 and got.json()["id"] == doc["id"]
    download = api.get(f"/api/v1/kb/files/{doc['id']}/download")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == "Öffnungszeiten: 9–17".encode()
    assert download["Content-Type"] == "text/plain"
    disposition = download["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=utf-8''" in disposition
    assert "\n" not in disposition


def test_a_document_without_a_file_downloads_its_inline_text_as_in_the_browser(
    api: Any, admin_member: Any, login: Any, tenant: models.Tenant
) -> None:
    doc = factories.virtual_document(
        tenant=tenant, title="Teams thread", source_kind="teams", external_id="t1", text="Lunch is at noon.",
        auto_ingest=False,
    )
    download = api.get(f"/api/v1/kb/files/{doc.pk}/download")
    assert download.status_code == 200
    assert download.content == b"Lunch is at noon."
    assert download["Content-Type"] == "text/plain; charset=utf-8"
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Security-Policy"] == "default-src 'none'; sandbox"
    page = login(admin_member).get(reverse("kb:document_download", args=[doc.pk]))
    assert page.status_code == 200
    for header in ("Content-Type", "Content-Disposition", "X-Content-Type-Options", "Content-Security-Policy"):
        assert page[header] == download[header], header
    assert page.content == download.content


def test_a_document_with_neither_file_nor_text_is_404_on_download(api: Any, tenant: models.Tenant) -> None:
    doc = factories.virtual_document(
        tenant=tenant, title="Empty", source_kind="teams", external_id="t2", text="", auto_ingest=False,
    )
    response = api.get(f"/api/v1/kb/files/{doc.pk}/download")
    assert response.status_code == 404
    assert response.json()["detail"] == "this document has no stored content"


def test_delete_removes_the_document_its_chunks_and_its_file(
    api: Any, ingest_text: Any, tenant: models.Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    import os

    doc = ingest_text("# Parking\n\nFree parking behind the building.", name="parking.md")
    assert doc.status == "ready" and models.Chunk.objects.filter(document=doc).exists()
    path = doc.file.path
    assert os.path.exists(path)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/v1/kb/files/{doc.pk}")
    assert response.status_code == 204
    assert not os.path.exists(path)
    assert not models.Document.objects.filter(pk=doc.pk).exists()
    assert not models.Chunk.objects.filter(document_id=doc.pk).exists()
    assert api.get(f"/api/v1/kb/files/{doc.pk}").status_code == 404


def test_it_lists_a_documents_chunks(api: Any, ingest_text: Any) -> None:
    doc = ingest_text("# Hours\n\nSaturday 9 to 12.", name="hours.md")
    with CaptureQueriesContext(connection) as queries:
        chunks = api.get(f"/api/v1/kb/files/{doc.pk}/chunks").json()
    assert chunks["count"] == doc.chunk_count >= 1
    assert "Saturday" in chunks["items"][0]["text"]
    assert all(item["has_embedding"] for item in chunks["items"])
    sql = [q["sql"] for q in queries.captured_queries]
    assert not any('"knowledge_chunk"."embedding"' in q or '"knowledge_chunk"."search_vector"' in q for q in sql)


def test_chunks_without_an_embedding_say_so(api: Any, ingest_text: Any) -> None:
    doc = ingest_text("# Hours\n\nSaturday 9 to 12.", name="hours.md")
    models.Chunk.objects.filter(document=doc).update(embedding=None, embedding_dim=None, embedding_model="")
    chunks = api.get(f"/api/v1/kb/files/{doc.pk}/chunks").json()
    assert chunks["items"] and not any(item["has_embedding"] for item in chunks["items"])


# --- Auth and tenancy --------------------------------------------------------------------------


def test_missing_or_invalid_credentials_get_401(anon_api: Any, tenant: models.Tenant) -> None:
    from tests.conftest import ApiClient

    assert anon_api.get("/api/v1/kb/files").status_code == 401
    assert ApiClient("kb_0000000000_wrong").get("/api/v1/kb/files").status_code == 401
    assert ApiClient("not-even-a-key").get("/api/v1/kb/files").status_code == 401
    response = anon_api.client.get("/api/v1/kb/files", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401


def test_a_revoked_key_gets_401(tenant: models.Tenant) -> None:
    from tests.conftest import ApiClient

    created = services.apikey_create(tenant=tenant, scopes=["manage"])
    client = ApiClient(created.plaintext)
    assert client.get("/api/v1/kb/files").status_code == 200
    services.apikey_revoke(key=created.key)
    assert client.get("/api/v1/kb/files").status_code == 401


def test_a_key_without_the_manage_scope_gets_403(retrieve_api: Any) -> None:
    assert retrieve_api.get("/api/v1/kb/files").status_code == 403
    assert retrieve_api.upload(b"x y z").status_code == 403
    assert models.Document.objects.count() == 0


def test_keys_are_stored_hashed_and_record_last_use(tenant: models.Tenant) -> None:
    from tests.conftest import ApiClient

    created = services.apikey_create(tenant=tenant, scopes=["manage"])
    key = models.ApiKey.objects.get(pk=created.key.pk)
    assert created.plaintext not in key.secret_hash and key.prefix in created.plaintext
    assert key.last_used_at is None
    ApiClient(created.plaintext).get("/api/v1/kb/files")
    key.refresh_from_db()
    assert key.last_used_at is not None


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("get", "/download"), ("get", "/chunks"), ("delete", ""), ("post", "/ingest")],
)
def test_another_tenants_document_is_404_and_untouched(
    api: Any, other_api: Any, method: str, suffix: str
) -> None:
    theirs = other_api.upload(b"their secret hours", auto_ingest=False).json()
    response = getattr(api, method)(f"/api/v1/kb/files/{theirs['id']}{suffix}")
    assert response.status_code == 404
    assert response.json()["detail"] == "document not found"
    missing = getattr(api, method)(f"/api/v1/kb/files/999999{suffix}")
    assert missing.status_code == 404 and missing.json() == response.json()
    doc = models.Document.objects.get(pk=theirs["id"])
    assert doc.status == "uploaded"
    assert not models.IngestJob.objects.filter(document=doc).exists()


def test_listing_never_shows_another_tenants_files(api: Any, other_api: Any) -> None:
    theirs = other_api.upload(b"theirs", auto_ingest=False).json()["id"]
    mine = api.upload(b"mine", auto_ingest=False).json()["id"]
    listing = api.get("/api/v1/kb/files").json()
    assert [d["id"] for d in listing["items"]] == [mine] and listing["count"] == 1
    assert [d["id"] for d in other_api.get("/api/v1/kb/files").json()["items"]] == [theirs]


def test_a_logged_in_admin_uses_the_api_with_the_session(
    login: Any, admin_member: Any, tenant: models.Tenant
) -> None:
    from tests.conftest import ApiClient

    api_client = ApiClient(None, client=login(admin_member))
    assert api_client.get("/api/v1/kb/files").status_code == 200
    # Session writes need the CSRF token, like any browser form.
    csrf_client = ApiClient(None, client=login(admin_member, enforce_csrf=True))
    assert csrf_client.upload(b"hello there").status_code == 403
    assert models.Document.objects.count() == 0


def test_a_support_member_can_read_but_not_write(client: Any, support_member: Any) -> None:
    from tests.conftest import ApiClient

    client.force_login(support_member)
    api_client = ApiClient(None, client=client)
    assert api_client.get("/api/v1/kb/files").status_code == 200
    assert api_client.upload(b"should not land").status_code == 403
    assert models.Document.objects.count() == 0


def test_a_user_of_another_tenant_cannot_pick_this_tenant(
    client: Any, make_user: Any, other_tenant: Any, tenant: Any
) -> None:
    from tests.conftest import ApiClient

    outsider = make_user("mallory", tenant=other_tenant, role="admin")
    client.force_login(outsider)
    response = ApiClient(None, client=client).get(
        "/api/v1/kb/files", headers={"X-KB-Tenant": tenant.slug}
    )
    assert response.status_code == 403


def test_health_reports_database_and_pgvector(anon_api: Any) -> None:
    body = anon_api.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["pgvector"].startswith("0.")
    assert "worker" in body


def test_openapi_docs_are_served(anon_api: Any) -> None:
    schema = anon_api.get("/api/v1/openapi.json").json()
    assert "/api/v1/kb/files" in schema["paths"]
