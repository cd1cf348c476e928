"""What a newcomer meets first: the demo tenant answers on the retrieval test page, tenant
admins switch retrieval on and off themselves, the README's examples work as written, and
the files list says why a file failed."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from knowledge import flags, models, retrieval, services

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


# --- the demo tenant --------------------------------------------------------------------


def test_the_demo_tenant_has_retrieval_on_while_the_global_default_stays_off(
    settings: Any, tmp_path: Path, run_jobs: Any
) -> None:
    settings.KB_RETRIEVAL_ENABLED = False
    settings.KB_DATA_DIR = tmp_path
    call_command("kb_demo", stdout=io.StringIO())
    demo = models.Tenant.objects.get(slug="demo")
    assert demo.retrieval_enabled is True
    assert flags.retrieval_enabled(demo)
    other = services.tenant_create(slug="fresh", name="Fresh")
    assert not flags.retrieval_enabled(other)
    run_jobs()
    result = retrieval.retrieve(tenant=demo, query="are you open on saturdays")
    assert result.retrieval_enabled and result.knowledge


def test_running_the_demo_again_keeps_an_admins_choice(settings: Any, tmp_path: Path) -> None:
    settings.KB_DATA_DIR = tmp_path
    call_command("kb_demo", stdout=io.StringIO())
    demo = models.Tenant.objects.get(slug="demo")
    services.tenant_set_retrieval(tenant=demo, enabled=False)
    call_command("kb_demo", stdout=io.StringIO())
    demo.refresh_from_db()
    assert demo.retrieval_enabled is False


# --- the retrieval switch ---------------------------------------------------------------


def test_a_tenant_admin_turns_retrieval_on_off_and_back_to_the_default(
    admin_member: Any, tenant: models.Tenant, login: Callable[..., Client], settings: Any
) -> None:
    settings.KB_RETRIEVAL_ENABLED = False
    client = login(admin_member)
    page = client.get(reverse("kb:retrieval_test")).content.decode()
    assert 'id="kb-retrieval-switch-form"' in page
    assert "KB_RETRIEVAL_ENABLED=0" in page
    for choice, stored in (("on", True), ("off", False), ("default", None)):
        response = client.post(reverse("kb:retrieval_switch"), {"retrieval": choice})
        assert response.status_code == 302 and response["Location"] == reverse("kb:retrieval_test")
        tenant.refresh_from_db()
        assert tenant.retrieval_enabled is stored
    client.post(reverse("kb:retrieval_switch"), {"retrieval": "on"})
    page = client.get(reverse("kb:retrieval_test")).content.decode()
    assert re.search(r"Retrieval is <strong[^>]*>on</strong>", page)
    assert "(set for this tenant)" in page
    answer = client.post(reverse("kb:retrieval_test"), {"query": "hello", "top_k": 5})
    assert 'id="kb-retrieval-disabled"' not in answer.content.decode()


def test_a_bad_choice_changes_nothing(admin_member: Any, tenant: models.Tenant, login: Callable[..., Client]) -> None:
    response = login(admin_member).post(reverse("kb:retrieval_switch"), {"retrieval": "maybe"}, follow=True)
    assert "Choose on, off or the global default." in response.content.decode()
    tenant.refresh_from_db()
    assert tenant.retrieval_enabled is None


def test_support_and_members_see_the_state_but_cannot_switch(
    support_member: Any, make_user: Callable[..., Any], tenant: models.Tenant, login: Callable[..., Client]
) -> None:
    support = login(support_member)
    page = support.get(reverse("kb:retrieval_test")).content.decode()
    assert 'id="kb-retrieval-state"' in page and 'id="kb-retrieval-switch-form"' not in page
    member = login(make_user("mia", tenant=tenant, role="member"))
    for client in (support, member):
        assert client.post(reverse("kb:retrieval_switch"), {"retrieval": "on"}).status_code == 403
    tenant.refresh_from_db()
    assert tenant.retrieval_enabled is None


def test_the_switch_acts_on_the_admins_own_tenant_only(
    admin_member: Any, tenant: models.Tenant, other_tenant: models.Tenant, login: Callable[..., Client]
) -> None:
    client = login(admin_member)
    # A tenant named in the form is not how the tenant is chosen: the session's tenant is.
    client.post(reverse("kb:retrieval_switch"), {"retrieval": "on", "tenant": other_tenant.pk})
    tenant.refresh_from_db()
    other_tenant.refresh_from_db()
    assert tenant.retrieval_enabled is True and other_tenant.retrieval_enabled is None
    # Support in the other tenant: switched there, the admin's role there applies.
    services.membership_set(tenant=other_tenant, user=admin_member, role=models.Role.SUPPORT)
    client.post(reverse("kb:tenant_switch"), {"tenant": other_tenant.pk})
    assert client.post(reverse("kb:retrieval_switch"), {"retrieval": "on"}).status_code == 403
    other_tenant.refresh_from_db()
    assert other_tenant.retrieval_enabled is None


# --- README -------------------------------------------------------------------------------


def test_the_readme_upload_example_names_a_file_that_exists() -> None:
    uploads = re.findall(r"-F file=@(\S+)", README)
    assert uploads
    for name in uploads:
        assert (ROOT / name).is_file(), f"README uploads {name}, which does not exist"


def test_the_readme_says_how_to_change_the_port_and_documents_the_extraction_limits() -> None:
    assert "make run PORT=" in README
    for variable in ("KB_MAX_PDF_PAGES", "KB_MAX_EXTRACTED_CHARS", "KB_HTTPS"):
        assert re.search(rf"^\| `{variable}` \|", README, re.M), f"{variable} missing from the configuration table"


# --- the files list ---------------------------------------------------------------------


def test_a_failed_files_reason_is_shown_in_the_list_not_only_on_hover(
    admin_member: Any, tenant: models.Tenant, login: Callable[..., Client], run_jobs: Any
) -> None:
    services.document_upload(tenant=tenant, fileobj=io.BytesIO(b"%PDF-1.4\n%%EOF\n"), filename="scan.pdf")
    run_jobs()
    doc = models.Document.objects.get(tenant=tenant)
    assert doc.status == models.DocStatus.FAILED and doc.ingest_error
    html = login(admin_member).get(reverse("kb:files")).content.decode()
    row = html[html.index(f'id="doc-{doc.pk}"'):]
    row = row[: row.index("</tr>")]
    reason = re.search(r'<p class="kb-row-error"[^>]*>([^<]+)</p>', row)
    assert reason and reason.group(1).strip() == doc.ingest_error
