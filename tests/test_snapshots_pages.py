"""The business profile page (admins), a member's own profile page (directory entry), and
snapshots read-only in the KB files pages — each with its cross-tenant test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from knowledge import models
from knowledge.snapshots import services as snapshots
from tests.knowledge.test_pages_security import _inline_code

pytestmark = pytest.mark.django_db

FORM = {
    "name": "BrightSmile Family Dental", "description": "Family dentistry.", "address": "12 Harbour Road",
    "phone": "+1 415 555 0134", "email": "info@brightsmile.example", "timezone": "America/Los_Angeles",
    "locale": "en-US", "service_area": "Springfield",
    "hours_monday": "08:00-12:00, 13:00-17:00", "hours_tuesday": "08:00-17:00", "hours_wednesday": "",
    "hours_thursday": "closed", "hours_friday": "08:00-14:00", "hours_saturday": "", "hours_sunday": "",
    "exceptions": "2099-12-24 | closed | Christmas Eve\n2099-12-31 | 09:00-12:00 | New Year's Eve",
}


@pytest.fixture
def admin_client(admin_member: Any, login: Callable[..., Client]) -> Client:
    return login(admin_member)


def test_an_admin_fills_the_business_profile_in_the_browser(
    admin_client: Client, tenant: models.Tenant, run_jobs: Callable[[], list[str]],
) -> None:
    page = admin_client.get(reverse("kb:profile"))
    assert page.status_code == 200 and b'id="kb-profile-form"' in page.content

    response = admin_client.post(reverse("kb:profile"), FORM)

    assert response.status_code == 302
    data = snapshots.profile_json(tenant=tenant)
    assert data["opening_hours"]["monday"] == ["08:00-12:00", "13:00-17:00"]
    assert data["opening_hours"]["thursday"] == [] and data["exceptions"] == [
        {"date": "2099-12-24", "hours": [], "note": "Christmas Eve"},
        {"date": "2099-12-31", "hours": ["09:00-12:00"], "note": "New Year's Eve"},
    ]
    run_jobs()
    doc = models.Document.objects.get(tenant=tenant, source_kind="snapshot", external_id="snapshot:profile")
    assert doc.status == "ready" and "Saturday: closed" in doc.inline_text
    again = admin_client.get(reverse("kb:profile")).content.decode()
    assert 'value="08:00-12:00, 13:00-17:00"' in again and 'id="snapshot-profile"' in again


def test_the_htmx_form_answers_with_itself_and_its_errors(admin_client: Client, tenant: models.Tenant) -> None:
    bad = {**FORM, "description": "Ask our nurse: jane.doe@gmail.com"}
    response = admin_client.post(reverse("kb:profile"), bad, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200 and 'id="kb-profile-form-wrap"' in html and "<html" not in html
    assert "description contains an e-mail address" in html
    assert not models.TenantProfile.objects.filter(tenant=tenant).exists()

    ok = admin_client.post(reverse("kb:profile"), FORM, headers={"HX-Request": "true"}).content.decode()
    assert 'id="kb-profile-saved"' in ok and models.TenantProfile.objects.filter(tenant=tenant).exists()


def test_a_malformed_opening_time_is_shown_not_saved(admin_client: Client, tenant: models.Tenant) -> None:
    html = admin_client.post(reverse("kb:profile"), {**FORM, "hours_friday": "8 till late"}).content.decode()
    assert "opening_hours.friday: &#x27;8 till late&#x27; is not a time interval" in html
    assert not models.TenantProfile.objects.filter(tenant=tenant).exists()


def test_another_tenants_admin_cannot_open_or_post_the_profile_page(
    make_user: Callable[..., Any], login: Callable[..., Client], tenant: models.Tenant,
    other_tenant: models.Tenant, admin_client: Client,
) -> None:
    admin_client.post(reverse("kb:profile"), FORM)
    intruder = login(make_user("mallory", tenant=other_tenant, role="admin"))
    url = reverse("kb:profile") + f"?tenant={tenant.slug}"

    assert intruder.get(url).status_code == 403
    assert intruder.post(url, {**FORM, "name": "Hacked"}).status_code == 403
    assert models.TenantProfile.objects.get(tenant=tenant).name == FORM["name"]
    own = intruder.get(reverse("kb:profile")).content.decode()
    assert other_tenant.name in own and FORM["address"] not in own


def test_members_cannot_open_the_business_profile_and_see_their_own_profile_in_the_nav(
    make_user: Callable[..., Any], login: Callable[..., Client], tenant: models.Tenant, admin_client: Client,
) -> None:
    member = login(make_user("bob", tenant=tenant, role="member"))

    assert member.get(reverse("kb:profile")).status_code == 403
    nav = member.get(reverse("kb:me")).content.decode()
    assert reverse("kb:me") in nav and reverse("kb:profile") not in nav
    admin_nav = admin_client.get(reverse("kb:files")).content.decode()
    assert reverse("kb:profile") in admin_nav and reverse("kb:me") in admin_nav


def test_a_member_opts_into_the_directory_on_their_own_profile_page(
    make_user: Callable[..., Any], login: Callable[..., Client], tenant: models.Tenant,
    run_jobs: Callable[[], list[str]],
) -> None:
    anna = make_user("anna", tenant=tenant, role="member", email="anna.berg@gmail.com")
    client = login(anna)

    response = client.post(reverse("kb:me"), {"listed": "on", "display_name": "Dr. Anna Berg", "title": "Dentist"})

    assert response.status_code == 302
    entry = models.MemberDirectoryEntry.objects.get(membership__user=anna)
    assert (entry.listed, entry.display_name, entry.title, entry.tenant_id) == (True, "Dr. Anna Berg", "Dentist", tenant.pk)
    run_jobs()
    doc = models.Document.objects.get(tenant=tenant, external_id="snapshot:directory")
    assert "Dr. Anna Berg, Dentist" in doc.inline_text and "anna.berg" not in doc.inline_text
    page = client.get(reverse("kb:me")).content.decode()
    assert 'value="Dr. Anna Berg"' in page

    client.post(reverse("kb:me"), {"display_name": "Dr. Anna Berg", "title": "Dentist"})  # opts out
    assert not models.Document.objects.filter(tenant=tenant, external_id="snapshot:directory").exists()


def test_a_phone_number_in_the_title_is_refused_on_the_profile_page(
    make_user: Callable[..., Any], login: Callable[..., Client], tenant: models.Tenant,
) -> None:
    client = login(make_user("anna", tenant=tenant, role="member"))
    html = client.post(reverse("kb:me"), {"listed": "on", "display_name": "Anna",
                                         "title": "call me on +33 6 12 34 56 78"}).content.decode()
    assert "title contains a phone number" in html
    assert not models.MemberDirectoryEntry.objects.exists()


def test_a_member_of_another_tenant_cannot_reach_this_tenants_profile_page(
    make_user: Callable[..., Any], login: Callable[..., Client], tenant: models.Tenant, other_tenant: models.Tenant,
) -> None:
    outsider = login(make_user("olga", tenant=other_tenant, role="member"))
    url = reverse("kb:me") + f"?tenant={tenant.slug}"

    assert outsider.get(url).status_code == 403
    assert outsider.post(url, {"listed": "on", "display_name": "Olga", "title": ""}).status_code == 403
    assert not models.MemberDirectoryEntry.objects.filter(tenant=tenant).exists()
    outsider.post(reverse("kb:me"), {"listed": "on", "display_name": "Olga", "title": ""})
    assert models.MemberDirectoryEntry.objects.get().tenant_id == other_tenant.pk


def test_snapshots_are_read_only_in_the_kb_files_pages(
    admin_client: Client, tenant: models.Tenant, run_jobs: Callable[[], list[str]],
) -> None:
    admin_client.post(reverse("kb:profile"), FORM)
    run_jobs()
    doc = models.Document.objects.get(tenant=tenant, external_id="snapshot:profile")

    files = admin_client.get(reverse("kb:files")).content.decode()
    assert f'id="doc-{doc.pk}"' in files and "Read-only snapshot" in files
    assert f'id="delete-{doc.pk}"' not in files
    detail = admin_client.get(reverse("kb:document", args=[doc.pk])).content.decode()
    assert 'id="kb-snapshot-readonly"' in detail and reverse("kb:document_delete", args=[doc.pk]) not in detail

    response = admin_client.post(reverse("kb:document_delete", args=[doc.pk]))
    assert response.status_code == 302 and models.Document.objects.filter(pk=doc.pk).exists()
    assert admin_client.get(reverse("kb:document_delete", args=[doc.pk])).status_code == 302


def test_the_profile_pages_carry_no_inline_code(
    admin_client: Client, make_user: Callable[..., Any], login: Callable[..., Client], tenant: models.Tenant,
) -> None:
    admin_client.post(reverse("kb:profile"), FORM)
    for url in (reverse("kb:profile"), reverse("kb:me")):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert _inline_code(response.content.decode()) == [], url
