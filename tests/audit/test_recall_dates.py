"""The recall audit page with dates at the ends of the calendar: filtered, never a server error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from knowledge import models, retrieval

pytestmark = pytest.mark.django_db


def test_the_audit_page_takes_date_to_9999_12_31(
    retrieval_on: Any, tenant: models.Tenant, support_member: Any, login: Callable[..., Client],
    other_tenant: models.Tenant,
) -> None:
    retrieval.retrieve(tenant=tenant, query="are you open saturday", session_id="call-1")
    retrieval.retrieve(tenant=other_tenant, query="other tenant's question", session_id="call-9")
    response = login(support_member).get(reverse("kb:audit_list"), {"date_to": "9999-12-31"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "are you open saturday" in page
    assert "other tenant&#x27;s question" not in page and "other tenant's question" not in page
