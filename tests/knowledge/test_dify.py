"""POST /api/v1/dify/retrieval: Dify's External Knowledge API contract."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from audit.models import RecallAudit
from knowledge import models, services
from tests.conftest import ApiClient

URL = "/api/v1/dify/retrieval"


def dify_body(query: str = "where can i park", *, knowledge_id: str = "brightsmile", top_k: int = 3,
              score_threshold: float = 0.0) -> dict[str, Any]:
    return {"knowledge_id": knowledge_id, "query": query,
            "retrieval_setting": {"top_k": top_k, "score_threshold": score_threshold}}


@pytest.fixture
def kb(tenant: models.Tenant, ingest_text: Callable[..., models.Document]) -> models.Tenant:
    ingest_text(
        "# Parking\n\nFree parking behind the building.\n\n# Hours\n\nOpen Saturday 9 to 12.\n\n"
        "# Prices\n\nA cleaning costs $115.", "faq.md",
    )
    return tenant


def test_it_returns_records_in_difys_format(retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient) -> None:
    response = retrieve_api.post(URL, dify_body(top_k=2))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"records"}
    assert 1 <= len(body["records"]) <= 2
    record = body["records"][0]
    assert set(record) == {"content", "score", "title", "metadata"}
    assert "Free parking" in record["content"]
    assert record["title"] == "faq.md"
    assert isinstance(record["metadata"], dict)  # Dify breaks on a null metadata
    assert 0 <= record["score"] <= 1
    assert [r["score"] for r in body["records"]] == sorted((r["score"] for r in body["records"]), reverse=True)


def test_it_is_audited_like_any_retrieval(retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient) -> None:
    body = retrieve_api.post(URL, dify_body()).json()
    audit = RecallAudit.objects.get(tenant=kb)
    assert audit.source == "dify" and audit.query == "where can i park"
    assert [r["chunk_id"] for r in audit.results][: len(body["records"])] == [
        r["metadata"]["chunk_id"] for r in body["records"]
    ]


def test_score_threshold_filters_records(retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient) -> None:
    everything = retrieve_api.post(URL, dify_body(top_k=10)).json()["records"]
    assert len(everything) >= 2
    cut = everything[0]["score"]
    kept = retrieve_api.post(URL, dify_body(top_k=10, score_threshold=cut)).json()["records"]
    assert kept and all(r["score"] >= cut for r in kept) and len(kept) < len(everything)
    top = retrieve_api.post(URL, dify_body(top_k=10, score_threshold=1.0)).json()["records"]
    assert [r["content"] for r in top] == [r["content"] for r in everything if r["score"] >= 1.0]


def test_top_k_limits_records(retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient) -> None:
    assert len(retrieve_api.post(URL, dify_body(top_k=1)).json()["records"]) == 1


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "Token kb_x", "Bearer a b"])
def test_bad_authorization_header_is_error_1001(
    retrieval_on: Any, kb: models.Tenant, anon_api: ApiClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = anon_api.post(URL, dify_body(), headers=headers)
    assert response.status_code == 403
    assert response.json()["error_code"] == 1001
    assert response.json()["error_msg"]


def test_unknown_or_revoked_key_is_error_1002(retrieval_on: Any, kb: models.Tenant) -> None:
    response = ApiClient("kb_0123456789_not-a-real-secret").post(URL, dify_body())
    assert (response.status_code, response.json()["error_code"]) == (403, 1002)

    created = services.apikey_create(tenant=kb, scopes=["retrieve"])
    services.apikey_revoke(key=created.key)
    response = ApiClient(created.plaintext).post(URL, dify_body())
    assert (response.status_code, response.json()["error_code"]) == (403, 1002)


def test_a_key_without_the_retrieve_scope_is_error_1002(retrieval_on: Any, kb: models.Tenant) -> None:
    key = services.apikey_create(tenant=kb, scopes=["manage"]).plaintext
    response = ApiClient(key).post(URL, dify_body())
    assert (response.status_code, response.json()["error_code"]) == (403, 1002)
    assert not RecallAudit.objects.exists()


def test_another_tenants_knowledge_id_is_error_2001_and_leaks_nothing(
    retrieval_on: Any, kb: models.Tenant, other_tenant: models.Tenant, retrieve_api: ApiClient,
) -> None:
    for knowledge_id in ("otherco", "no-such-tenant"):
        response = retrieve_api.post(URL, dify_body(knowledge_id=knowledge_id))
        assert response.status_code == 404
        assert response.json() == {"error_code": 2001, "error_msg": "The knowledge does not exist"}
    assert not RecallAudit.objects.exists()


def test_disabled_retrieval_gives_no_records(settings: Any, kb: models.Tenant, retrieve_api: ApiClient) -> None:
    settings.KB_RETRIEVAL_ENABLED = False
    response = retrieve_api.post(URL, dify_body())
    assert response.status_code == 200 and response.json() == {"records": []}


def test_invalid_body_is_422(retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient) -> None:
    assert retrieve_api.post(URL, {"knowledge_id": "brightsmile"}).status_code == 422
    assert retrieve_api.post(URL, dify_body(top_k=0)).status_code == 422
    response = retrieve_api.client.post(
        URL, "not json", content_type="application/json", headers={"Authorization": f"Bearer {retrieve_api.key}"}
    )
    assert response.status_code == 422


def test_metadata_condition_is_accepted(retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient) -> None:
    body = dify_body() | {"metadata_condition": {"logical_operator": "and", "conditions": []}}
    assert retrieve_api.post(URL, body).status_code == 200
