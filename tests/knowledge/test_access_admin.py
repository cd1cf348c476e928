"""Django admin for tenant data: staff see only the tenants, and their rows, where they are admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from knowledge import models, services
from tests import factories

pytestmark = pytest.mark.django_db

TENANTS = "/admin/knowledge/tenant/"
KEYS = "/admin/knowledge/apikey/"


def test_a_tenant_admin_sees_their_own_tenant_only(
    admin_member: Any, login: Callable[..., Client], tenant: models.Tenant, other_tenant: models.Tenant
) -> None:
    page = login(admin_member).get(TENANTS)
    assert page.status_code == 200
    assert list(page.context["cl"].queryset) == [tenant]


def test_support_staff_see_no_tenant_like_on_every_other_admin_page(
    support_member: Any, login: Callable[..., Client], tenant: models.Tenant
) -> None:
    services.apikey_create(tenant=tenant, scopes=["retrieve"], name="router")
    client = login(support_member)
    for url in (TENANTS, KEYS):
        page = client.get(url)
        assert page.status_code == 200, url
        assert list(page.context["cl"].queryset) == [], url


def test_an_admin_of_one_tenant_and_support_of_another_sees_only_the_first(
    make_user: Callable[..., Any], login: Callable[..., Client], tenant: models.Tenant, other_tenant: models.Tenant
) -> None:
    user = make_user("bea", tenant=tenant, role="admin", is_staff=True)
    services.membership_set(tenant=other_tenant, user=user, role="support")
    page = login(user).get(TENANTS)
    assert list(page.context["cl"].queryset) == [tenant]


# --- Personal documents: the selectors' owner rule applies in the admin too -----------------

DOCUMENTS = "/admin/knowledge/document/"
JOBS = "/admin/knowledge/ingestjob/"


def _personal(tenant: models.Tenant, owner: Any, run_jobs: Callable[[], list[str]]) -> models.Document:
    doc = factories.virtual_document(
        tenant=tenant, title="Olga's mail", external_id="m1", scope="personal", owner=owner,
        text="The boat trip is on Saturday.",
    )
    run_jobs()
    return doc


def test_a_staff_tenant_admin_does_not_see_a_members_personal_documents_or_their_jobs(
    admin_member: Any, make_user: Callable[..., Any], login: Callable[..., Client], tenant: models.Tenant,
    ingest_text: Callable[..., models.Document], run_jobs: Callable[[], list[str]],
) -> None:
    shared = ingest_text("# Parking\n\nBehind the building.\n", name="parking.md")
    personal = _personal(tenant, make_user("olga", tenant=tenant, role="member"), run_jobs)
    personal_job = models.IngestJob.objects.get(document=personal)
    client = login(admin_member)
    listed = client.get(DOCUMENTS)
    assert listed.status_code == 200
    assert list(listed.context["cl"].queryset) == [shared]
    assert "Olga" not in listed.content.decode()
    # The change page of a hidden row is "does not exist", as for another tenant's.
    assert client.get(f"{DOCUMENTS}{personal.pk}/change/").status_code == 302
    assert client.get(f"{DOCUMENTS}{shared.pk}/change/").status_code == 200
    jobs = client.get(JOBS)
    assert personal_job not in list(jobs.context["cl"].queryset)
    assert len(jobs.context["cl"].queryset) == 1
    assert client.get(f"{JOBS}{personal_job.pk}/change/").status_code == 302


def test_the_owner_and_only_the_owner_sees_a_personal_document_in_the_admin(
    make_user: Callable[..., Any], login: Callable[..., Client], tenant: models.Tenant,
    run_jobs: Callable[[], list[str]],
) -> None:
    owner = make_user("olga", tenant=tenant, role="admin", is_staff=True)
    personal = _personal(tenant, owner, run_jobs)
    assert list(login(owner).get(DOCUMENTS).context["cl"].queryset) == [personal]
    superuser = make_user("root", is_staff=True, is_superuser=True)
    assert list(login(superuser).get(DOCUMENTS).context["cl"].queryset) == []
    assert login(superuser).get(f"{DOCUMENTS}{personal.pk}/change/").status_code == 302
