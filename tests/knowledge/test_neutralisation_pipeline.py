"""PII neutralisation wired into ingestion (DESIGN §10): the step between extraction and
chunking, its per-tenant / per-source-kind settings, counts on the job, failure semantics."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core import checks as django_checks
from django.db import connection
from django.test import Client
from django.urls import reverse

from kbsite.errors import InvalidInput
from knowledge import checks as kb_checks
from knowledge import chunking, documents, embeddings, ingestion, models, services

pytestmark = pytest.mark.django_db

SUBJECT = "Re: refund for jane.doe@example.com"
MAIL = (
    "# Refund for jane.doe@example.com\n\n"
    "Please call Jane back on (415) 555-2671 or +44 20 7946 0958, or write to jane.doe@example.com.\n"
    "Her card is 5555 5555 5555 4444 and the refund goes to IBAN DE89 3704 0044 0532 0130 00.\n"
    "Order 4471-2203 ships Friday.\n"
)
VALUES = (
    "jane.doe@example.com", "jane.doe", "555-2671", "7946 0958", "5555 5555 5555 4444", "5555555555554444",
    "DE89 3704", "DE89370400440532013000",
)
PUBLISHED_PHONE = "(212) 555-0100"
JOBS_URL = "/api/v1/kb/ingest-jobs"


def _virtual(tenant: models.Tenant, text: str, *, source_kind: str = "outlook", name: str = SUBJECT,
             external_id: str = "msg-1", file_type: str = "md") -> models.Document:
    """A document as a connector stores it (inline text, its real hash), through the one way in."""
    return documents.document_put(
        tenant=tenant, source_kind=source_kind, external_id=external_id, title=name, text=text,
        text_format=file_type,
    ).document


def _upload(tenant: models.Tenant, text: str, name: str = "notes.md") -> models.Document:
    return services.document_upload(tenant=tenant, fileobj=io.BytesIO(text.encode()), filename=name).document


def _stored_text(doc: models.Document) -> str:
    """Everything stored for the document's chunks as text: text, heading, metadata, search vector."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT string_agg(text || ' ' || heading || ' ' || metadata::text || ' ' || search_vector::text, ' ')"
            " FROM knowledge_chunk WHERE document_id = %s", [doc.pk],
        )
        row = cur.fetchone()
    return str(row[0] or "") if row else ""


def _assert_no_values(text: str) -> None:
    lowered = text.lower()
    for value in VALUES:
        assert value.lower() not in lowered, value
    for token in ("jane.doe", "example.com", "4444", "0958", "2671", "de89"):
        assert token not in lowered, token


def test_a_mail_documents_chunks_hold_placeholders_and_none_of_the_values(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]]
) -> None:
    doc = _virtual(tenant, MAIL)
    assert run_jobs() == ["ready"]
    doc.refresh_from_db()
    chunks = list(models.Chunk.objects.filter(document=doc))
    assert doc.status == "ready" and chunks
    stored = _stored_text(doc)
    _assert_no_values(stored)
    joined = " ".join(c.text for c in chunks)
    for placeholder in ("<EMAIL>", "<PHONE>", "<CARD>", "<IBAN>"):
        assert placeholder in joined, placeholder
    assert "Order 4471-2203 ships Friday." in joined  # not PII: kept
    # The document's own stored text is neutralised too: its name (the subject) and inline text.
    _assert_no_values(doc.name + " " + doc.inline_text)
    assert doc.name == "Re: refund for <EMAIL>" and "\\<CARD\\>" in doc.inline_text  # escaped for Markdown
    # What was embedded is the neutralised text (the hash provider is deterministic).
    provider = embeddings.get_provider()
    for chunk in chunks:
        draft = chunking.ChunkDraft(index=chunk.chunk_index, text=chunk.text, heading=chunk.heading, page=chunk.page)
        expected = provider.embed_documents([chunking.contextualize(draft, chunk.metadata["title"])]).vectors[0]
        assert chunk.embedding is not None and list(chunk.embedding) == pytest.approx(expected, abs=1e-6)
    job = doc.jobs.get()
    assert job.pipeline_version == ingestion.PIPELINE_VERSION == "p3"
    assert job.stats["pii"] == {"CARD": 1, "EMAIL": 3, "IBAN": 1, "PHONE": 2}
    assert "neutralise" in job.stats["timings_ms"]


def test_the_download_of_a_neutralised_mail_serves_the_neutralised_text(
    tenant: models.Tenant, api: Any, run_jobs: Callable[[], list[str]]
) -> None:
    doc = _virtual(tenant, MAIL)
    run_jobs()
    download = api.get(f"/api/v1/kb/files/{doc.pk}/download")
    assert download.status_code == 200
    _assert_no_values(download.content.decode())


def test_an_upload_keeps_its_text(tenant: models.Tenant, run_jobs: Callable[[], list[str]]) -> None:
    doc = _upload(tenant, MAIL)
    assert run_jobs() == ["ready"]
    joined = " ".join(models.Chunk.objects.filter(document=doc).values_list("text", flat=True))
    assert "jane.doe@example.com" in joined and "5555 5555 5555 4444" in joined
    assert "pii" not in doc.jobs.get().stats


@pytest.mark.parametrize("source_kind", ["snapshot", "sharepoint", "onedrive", "gdrive"])
def test_snapshots_and_drive_files_are_not_neutralised_by_default(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]], source_kind: str
) -> None:
    doc = _virtual(tenant, MAIL, source_kind=source_kind)
    run_jobs()
    assert "jane.doe@example.com" in " ".join(models.Chunk.objects.filter(document=doc).values_list("text", flat=True))


@pytest.mark.parametrize("source_kind", ["gmail", "teams", "clickup"])
def test_gmail_teams_and_clickup_sources_are_neutralised_by_default(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]], source_kind: str
) -> None:
    doc = _virtual(tenant, MAIL, source_kind=source_kind)
    assert run_jobs() == ["ready"]
    _assert_no_values(_stored_text(doc))


def test_a_tenant_setting_turns_neutralisation_on_for_uploads_and_off_for_mail(
    tenant: models.Tenant, other_tenant: models.Tenant, run_jobs: Callable[[], list[str]]
) -> None:
    services.neutralisation_settings_update(tenant=tenant, source_kinds={"upload": True, "outlook": False})
    upload = _upload(tenant, MAIL)
    mail = _virtual(tenant, MAIL)
    theirs = _upload(other_tenant, MAIL)  # another tenant's defaults are untouched
    assert run_jobs() == ["ready"] * 3
    _assert_no_values(_stored_text(upload))
    assert upload.jobs.get().stats["pii"]["CARD"] == 1
    assert "5555 5555 5555 4444" in _stored_text(mail)
    assert "5555 5555 5555 4444" in _stored_text(theirs)


def test_the_tenants_published_phone_and_email_are_never_neutralised(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]]
) -> None:
    services.neutralisation_settings_update(
        tenant=tenant, published_contacts=["+1 212-555-0100", "hello@brightsmile.com"]
    )
    text = MAIL + f"\nOur own line is {PUBLISHED_PHONE}; write to hello@brightsmile.com or Hello@BrightSmile.com.\n"
    doc = _virtual(tenant, text)
    run_jobs()
    stored = _stored_text(doc)
    assert PUBLISHED_PHONE in stored and "hello@brightsmile.com" in stored and "Hello@BrightSmile.com" in stored
    _assert_no_values(stored)
    assert doc.jobs.get().stats["pii"]["PHONE"] == 2


def test_the_locale_decides_which_national_numbers_are_phone_numbers(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]]
) -> None:
    text = "Ruf mich an: 030 12345678. Call me on (415) 555-2671.\n"
    services.neutralisation_settings_update(tenant=tenant, locale="de-DE")
    doc = _virtual(tenant, text)
    run_jobs()
    stored = " ".join(models.Chunk.objects.filter(document=doc).values_list("text", flat=True))
    assert "030 12345678" not in stored and "<PHONE>" in stored
    assert "(415) 555-2671" in stored  # a US number written nationally is not German


def test_person_names_are_off_by_default_and_a_setting_turns_them_on(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]]
) -> None:
    text = "Dear Anna Weber,\n\nthe parcel arrives Monday.\n\nKind regards,\nTom Baker\n"
    first = _virtual(tenant, text, external_id="m1", name="Parcel")
    run_jobs()
    assert "Anna Weber" in _stored_text(first)
    services.neutralisation_settings_update(tenant=tenant, person_names=True)
    second = _virtual(tenant, text, external_id="m2", name="Parcel")
    run_jobs()
    stored = _stored_text(second)
    assert "Anna Weber" not in stored and "Tom Baker" not in stored and "<PERSON>" in stored
    assert second.jobs.get().stats["pii"] == {"PERSON": 2}


def test_an_invalid_locale_fails_the_document_with_a_reason_and_stores_no_chunks(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]], settings: Any
) -> None:
    settings.KB_DEFAULT_LOCALE = "xx-ZZ"
    doc = _virtual(tenant, MAIL)
    assert run_jobs() == ["failed"]
    doc.refresh_from_db()
    job = doc.jobs.get()
    assert doc.status == "failed" and doc.chunk_count == 0
    assert doc.ingest_error == job.error
    assert "PII neutralisation failed" in job.error and "xx-ZZ" in job.error
    assert job.attempts == 1  # a configuration error is not retried
    assert not models.Chunk.objects.filter(document=doc).exists()


def test_a_crash_inside_the_engine_fails_the_document_and_stores_no_chunks(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from presidio_anonymizer import AnonymizerEngine

    def broken(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(AnonymizerEngine, "anonymize", broken)  # the third-party engine, not our code
    doc = _virtual(tenant, MAIL)
    assert run_jobs() == ["failed"]
    doc.refresh_from_db()
    assert doc.status == "failed" and "PII neutralisation failed" in doc.ingest_error
    assert not models.Chunk.objects.filter(document=doc).exists()


def test_a_failed_re_ingest_keeps_serving_the_neutralised_version(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]], settings: Any
) -> None:
    doc = _virtual(tenant, MAIL)
    run_jobs()
    settings.KB_DEFAULT_LOCALE = "xx-ZZ"
    ingestion.request_ingestion(document=doc, force=True)
    assert run_jobs() == ["failed"]
    doc.refresh_from_db()
    assert doc.status == "ready" and "PII neutralisation failed" in doc.ingest_error
    _assert_no_values(_stored_text(doc))


@pytest.mark.parametrize("file_type", ["md", "html", "txt"])
def test_re_ingesting_a_neutralised_mail_keeps_its_placeholders(
    tenant: models.Tenant, run_jobs: Callable[[], list[str]], file_type: str
) -> None:
    text = f"<p>{MAIL}</p>" if file_type == "html" else MAIL
    doc = _virtual(tenant, text, file_type=file_type)
    run_jobs()
    before = sorted(models.Chunk.objects.filter(document=doc).values_list("text", flat=True))
    assert "<CARD>" in " ".join(before)
    ingestion.request_ingestion(document=doc, force=True)
    assert run_jobs() == ["ready"]
    assert sorted(models.Chunk.objects.filter(document=doc).values_list("text", flat=True)) == before
    assert doc.jobs.order_by("-id").first().stats["pii"] == {}  # type: ignore[union-attr]


# --- Counts on the job (API) and the document page -----------------------------------------


def test_counts_appear_on_the_job_in_the_api_never_values(
    tenant: models.Tenant, api: Any, other_api: Any, run_jobs: Callable[[], list[str]]
) -> None:
    doc = _virtual(tenant, MAIL)
    run_jobs()
    job = doc.jobs.get()
    body = api.get(f"{JOBS_URL}/{job.pk}").json()
    assert body["pii"] == {"CARD": 1, "EMAIL": 3, "IBAN": 1, "PHONE": 2}
    assert body["stats"]["pii"] == body["pii"]
    _assert_no_values(str(body))
    listed = api.get(JOBS_URL).json()["items"]
    assert [item["pii"] for item in listed if item["id"] == job.pk] == [body["pii"]]
    # Another tenant's key: 404, and their list does not hold it.
    assert other_api.get(f"{JOBS_URL}/{job.pk}").status_code == 404
    assert all(item["id"] != job.pk for item in other_api.get(JOBS_URL).json()["items"])


def test_an_uploads_job_has_no_pii_counts_in_the_api(tenant: models.Tenant, api: Any,
                                                     run_jobs: Callable[[], list[str]]) -> None:
    doc = _upload(tenant, MAIL)
    run_jobs()
    assert api.get(f"{JOBS_URL}/{doc.jobs.get().pk}").json()["pii"] is None


def test_counts_appear_on_the_document_page_and_another_tenants_admin_gets_404(
    tenant: models.Tenant, other_tenant: models.Tenant, admin_member: Any, make_user: Callable[..., Any],
    login: Callable[..., Client], run_jobs: Callable[[], list[str]],
) -> None:
    doc = _virtual(tenant, MAIL)
    run_jobs()
    page = login(admin_member).get(reverse("kb:document", args=[doc.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    _assert_no_values(html)
    assert 'id="kb-doc-pii">on for this source' in html
    for pill in ("CARD 1", "EMAIL 3", "IBAN 1", "PHONE 2"):
        assert html.count(pill) == 2, pill  # the served version, and the job in the history
    upload = _upload(tenant, "Plain notes, nothing personal here.\n")
    run_jobs()
    plain = login(admin_member).get(reverse("kb:document", args=[upload.pk])).content.decode()
    assert 'id="kb-doc-pii">off for this source</td>' in plain
    stranger = make_user("otto", tenant=other_tenant, role="admin", is_staff=True)
    assert login(stranger).get(reverse("kb:document", args=[doc.pk])).status_code == 404


# --- Settings: service, admin, system check ------------------------------------------------

SETTINGS_ADMIN = "/admin/knowledge/neutralisationsettings/"


def test_the_settings_service_refuses_a_locale_without_phone_regions_and_unknown_source_kinds(
    tenant: models.Tenant,
) -> None:
    with pytest.raises(InvalidInput):
        services.neutralisation_settings_update(tenant=tenant, locale="xx-ZZ")
    with pytest.raises(InvalidInput):
        services.neutralisation_settings_update(tenant=tenant, source_kinds={"fax": True})
    assert not models.NeutralisationSettings.objects.exists()


def test_a_superuser_sets_per_source_kind_settings_in_the_admin(
    tenant: models.Tenant, make_user: Callable[..., Any], login: Callable[..., Client]
) -> None:
    root = make_user("root", is_staff=True, is_superuser=True)
    client = login(root)
    assert client.get(f"{SETTINGS_ADMIN}add/").status_code == 200
    form = {"tenant": tenant.pk, "locale": "en-GB", "person_names": "on",
            "published_contacts_text": "+44 20 7946 0000\nhello@brightsmile.com\n"}
    form |= {f"neutralise_{kind}": "" for kind in models.SourceKind.values}
    form |= {"neutralise_upload": "on", "neutralise_teams": "off"}
    response = client.post(f"{SETTINGS_ADMIN}add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    row = models.NeutralisationSettings.objects.get(tenant=tenant)
    assert row.source_kinds == {"upload": True, "teams": False}
    assert row.locale == "en-GB" and row.person_names
    assert row.published_contacts == ["+44 20 7946 0000", "hello@brightsmile.com"]
    bad = client.post(f"{SETTINGS_ADMIN}{row.pk}/change/", form | {"locale": "xx-ZZ"})
    assert bad.status_code == 200 and "names no known phone region" in bad.content.decode()
    change = client.get(f"{SETTINGS_ADMIN}{row.pk}/change/").content.decode()
    assert 'value="on" selected' in change


def test_a_tenant_admin_sees_only_their_tenants_settings_in_the_admin(
    tenant: models.Tenant, other_tenant: models.Tenant, admin_member: Any, login: Callable[..., Client]
) -> None:
    mine = services.neutralisation_settings_update(tenant=tenant, locale="en-US")
    theirs = services.neutralisation_settings_update(tenant=other_tenant, published_contacts=["+1 212-555-0199"])
    client = login(admin_member)
    listed = client.get(SETTINGS_ADMIN)
    assert listed.status_code == 200
    assert list(listed.context["cl"].queryset) == [mine]
    assert client.get(f"{SETTINGS_ADMIN}{mine.pk}/change/").status_code == 200
    assert client.get(f"{SETTINGS_ADMIN}{theirs.pk}/change/").status_code == 302  # "does not exist"
    # View only for a tenant admin: a post changes nothing.
    client.post(f"{SETTINGS_ADMIN}{mine.pk}/change/", {"tenant": tenant.pk, "locale": "de-DE"})
    mine.refresh_from_db()
    assert mine.locale == "en-US"


def test_the_system_check_refuses_a_default_locale_without_phone_regions(settings: Any) -> None:
    settings.KB_DEFAULT_LOCALE = "xx-ZZ"
    errors = kb_checks.check_default_locale()
    assert [e.id for e in errors] == ["knowledge.E004"]
    assert all(isinstance(e, django_checks.Error) for e in errors)
    settings.KB_DEFAULT_LOCALE = "en-US"
    assert kb_checks.check_default_locale() == []
