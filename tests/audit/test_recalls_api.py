"""GET /api/v1/audit/recalls[/{id}]: support staff read what was retrieved and why."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from audit import selectors
from audit.models import RecallAudit
from kbsite.errors import NotFound
from knowledge import models, retrieval, services
from tests.conftest import ApiClient

LIST = "/api/v1/audit/recalls"


@pytest.fixture
def recalls(retrieval_on: Any, tenant: models.Tenant, ingest_text: Callable[..., models.Document]) -> list[int]:
    ingest_text("# Parking\n\nFree parking behind the building.\n\n# Hours\n\nOpen Saturday 9 to 12.", "faq.md")
    tenant.refresh_from_db()
    ids: list[int] = []
    for query, session in [("where can i park", "call-1"), ("are you open saturday", "call-1"), ("um prices", "call-2")]:
        audit_id = retrieval.retrieve(tenant=tenant, query=query, session_id=session, caller="+1555").audit_id
        assert audit_id is not None
        ids.append(audit_id)
    return ids


def test_manage_key_lists_recalls_newest_first(recalls: list[int], api: ApiClient) -> None:
    response = api.get(LIST)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [item["id"] for item in body["items"]] == list(reversed(recalls))
    first = body["items"][-1]
    assert first["query"] == "where can i park" and first["session_id"] == "call-1"
    assert first["result_count"] >= 1 and first["top_documents"][0] == "faq.md"
    assert first["legs"] == ["vector", "lexical"]


def test_filters_by_text_session_and_dates(recalls: list[int], api: ApiClient) -> None:
    assert [i["id"] for i in api.get(LIST, {"q": "PARK"}).json()["items"]] == [recalls[0]]
    assert api.get(LIST, {"session_id": "call-1"}).json()["count"] == 2
    assert api.get(LIST, {"q": "+1555"}).json()["count"] == 3
    today = timezone.now().date()
    assert api.get(LIST, {"date_from": today.isoformat(), "date_to": today.isoformat()}).json()["count"] == 3
    tomorrow = today + dt.timedelta(days=1)
    assert api.get(LIST, {"date_from": tomorrow.isoformat()}).json()["count"] == 0
    yesterday = today - dt.timedelta(days=1)
    assert api.get(LIST, {"date_to": yesterday.isoformat()}).json()["count"] == 0


def test_list_is_paginated(recalls: list[int], api: ApiClient) -> None:
    body = api.get(LIST, {"limit": 2, "offset": 1}).json()
    assert body["count"] == 3 and [i["id"] for i in body["items"]] == [recalls[1], recalls[0]]


def test_detail_shows_ranks_scores_text_and_policy(recalls: list[int], api: ApiClient) -> None:
    response = api.get(f"{LIST}/{recalls[0]}")
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "where can i park"
    hit = body["results"][0]
    assert "Free parking" in hit["text"]
    assert {"vector_rank", "lexical_rank", "score", "chunk_id", "document_id", "document_name"} <= set(hit)
    assert body["flags"]["retrieval_enabled"] is True
    assert {"embed", "search", "total"} <= set(body["timings_ms"])


def test_another_tenants_recall_is_404_like_a_missing_one(
    recalls: list[int], other_api: ApiClient, api: ApiClient
) -> None:
    assert other_api.get(f"{LIST}/{recalls[0]}").status_code == 404
    assert api.get(f"{LIST}/999999999").status_code == 404
    assert other_api.get(LIST).json() == {"items": [], "count": 0}


@pytest.mark.parametrize(("role", "status"), [("member", 403), ("support", 200), ("admin", 200)])
def test_members_need_the_support_or_admin_role(
    recalls: list[int], tenant: models.Tenant, make_user: Callable[..., Any], login: Callable[..., Any],
    role: str, status: int,
) -> None:
    user = make_user(f"u-{role}", tenant=tenant, role=role)
    client = ApiClient(client=login(user))
    assert client.get(LIST).status_code == status
    assert client.get(f"{LIST}/{recalls[0]}").status_code == status


def test_support_member_of_another_tenant_cannot_read_this_tenants_recalls(
    recalls: list[int], other_tenant: models.Tenant, make_user: Callable[..., Any], login: Callable[..., Any]
) -> None:
    outsider = make_user("sue", tenant=other_tenant, role="support")
    client = ApiClient(client=login(outsider))
    assert client.get(f"{LIST}/{recalls[0]}").status_code == 404
    assert client.get(LIST, headers={"X-KB-Tenant": "brightsmile"}).status_code == 403


def test_retrieve_only_key_and_anonymous_are_refused(
    recalls: list[int], retrieve_api: ApiClient, anon_api: ApiClient
) -> None:
    assert retrieve_api.get(LIST).status_code == 403
    assert anon_api.get(LIST).status_code == 401
    assert anon_api.get(f"{LIST}/{recalls[0]}").status_code == 401


def test_selectors_are_tenant_scoped(recalls: list[int], tenant: models.Tenant, other_tenant: models.Tenant) -> None:
    assert selectors.recall_get(tenant=tenant, recall_id=recalls[0]).pk == recalls[0]
    with pytest.raises(NotFound):
        selectors.recall_get(tenant=other_tenant, recall_id=recalls[0])
    assert selectors.recall_list(tenant=other_tenant).count() == 0
    assert selectors.recall_list(tenant=tenant, session="call-2").count() == 1
    assert selectors.recall_list(tenant=tenant, text="saturday").count() == 1
    now = timezone.now()
    assert selectors.recall_list(tenant=tenant, date_from=now - dt.timedelta(minutes=5), date_to=now + dt.timedelta(minutes=5)).count() == 3
    assert [r.pk for r in selectors.recall_session(tenant=tenant, session_id="call-1")] == recalls[:2]


def test_recalls_of_a_deleted_key_stay_readable(recalls: list[int], tenant: models.Tenant, api: ApiClient) -> None:
    key = services.apikey_create(tenant=tenant, scopes=["retrieve"]).key
    RecallAudit.objects.filter(pk=recalls[0]).update(api_key=key)
    key.delete()
    assert api.get(f"{LIST}/{recalls[0]}").json()["api_key_id"] is None


@pytest.mark.parametrize(
    ("params", "count"),
    [
        ({"date_to": "9999-12-31"}, 3),
        ({"date_from": "0001-01-01", "date_to": "9999-12-31"}, 3),
        ({"date_to": "9999-12-31T23:59:59"}, 3),
        ({"date_from": "9999-12-31"}, 0),
    ],
)
def test_dates_at_the_ends_of_the_calendar_filter_instead_of_failing(
    recalls: list[int], api: ApiClient, params: dict[str, str], count: int
) -> None:
    response = api.get(LIST, params)
    assert response.status_code == 200, response.content
    assert response.json()["count"] == count
