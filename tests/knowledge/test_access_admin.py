"""Django admin for tenant data: staff see only the tenants, and their rows, where they are admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from knowledge import models, services

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
