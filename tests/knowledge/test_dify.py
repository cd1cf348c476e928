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
    # Two documents: the sections of one short document are packed into one chunk.
    ingest_text("# Parking\n\nFree parking behind the building.", "faq.md")
    ingest_text("# Hours\n\nOpen Saturday 9 to 12.\n\n# Prices\n\nA cleaning costs $115.", "hours.md")
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


def test_empty_metadata_condition_changes_nothing(retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient) -> None:
    plain = retrieve_api.post(URL, dify_body()).json()
    body = dify_body() | {"metadata_condition": {"logical_operator": "and", "conditions": []}}
    response = retrieve_api.post(URL, body)
    assert response.status_code == 200
    assert [r["metadata"]["chunk_id"] for r in response.json()["records"]] == [
        r["metadata"]["chunk_id"] for r in plain["records"]
    ]


@pytest.fixture
def two_docs(tenant: models.Tenant, ingest_text: Callable[..., models.Document]) -> models.Tenant:
    ingest_text("# Parking\n\nFree parking behind the building, entrance on Elm Street.", "parking.md")
    ingest_text("# Hours\n\nOpen Saturday 9 to 12; parking is free on Saturdays.", "hours.md")
    ingest_text("# Prices\n\nA cleaning costs $115. Parking validation at the desk.", "prices.md")
    return tenant


def condition(*conds: dict[str, Any], op: str = "and") -> dict[str, Any]:
    return {"metadata_condition": {"logical_operator": op, "conditions": list(conds)}}


def titles(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [r["title"] for r in response.json()["records"]]


def test_metadata_condition_filters_records_and_keeps_top_k(
    retrieval_on: Any, two_docs: models.Tenant, retrieve_api: ApiClient
) -> None:
    everything = titles(retrieve_api.post(URL, dify_body("parking", top_k=10)))
    assert sorted(everything) == ["hours.md", "parking.md", "prices.md"]
    only = retrieve_api.post(URL, dify_body("parking", top_k=1) | condition(
        {"name": "title", "comparison_operator": "is", "value": "PRICES.md"}))
    assert titles(only) == ["prices.md"]  # not the best match overall, but the best that passes
    either = retrieve_api.post(URL, dify_body("parking", top_k=10) | condition(
        {"name": ["title"], "comparison_operator": "start with", "value": "hours"},
        {"name": "document_name", "comparison_operator": "contains", "value": "RICE"}, op="or"))
    assert sorted(titles(either)) == ["hours.md", "prices.md"]
    none = retrieve_api.post(URL, dify_body("parking", top_k=10) | condition(
        {"name": "title", "comparison_operator": "not in", "value": ["hours.md", "prices.md", "parking.md"]}))
    assert titles(none) == []
    # What Dify was given is what the audit shows.
    audit = RecallAudit.objects.filter(tenant=two_docs, source="dify").order_by("-id").first()
    assert audit is not None and audit.results == [] and "dify_metadata_condition" in audit.flags


def test_metadata_condition_with_an_unknown_operator_is_422(
    retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient
) -> None:
    body = dify_body() | condition({"name": "title", "comparison_operator": "sounds like", "value": "x"})
    assert retrieve_api.post(URL, body).status_code == 422


@pytest.mark.parametrize(
    ("op", "field", "value", "expected"),
    [
        ("contains", "Parking Rules", "rules", True),
        ("not contains", "Parking Rules", "hours", True),
        ("start with", "Parking", "park", True),
        ("end with", "Parking", "ing", True),
        ("is", "faq.md", "FAQ.md", True),
        ("is", None, "", False),
        ("is not", None, "x", True),
        ("in", "b", ["a", "b"], True),
        ("not in", "c", ["a", "b"], True),
        ("empty", "", None, True),
        ("empty", None, None, True),
        ("not empty", "x", None, True),
        ("=", 3, "3", True),
        ("≠", 3, 4, True),
        (">", 3, 2, True),
        ("<", "2", 3, True),
        ("≥", 3, 3, True),
        ("≤", 4, 3, False),
        (">", "not a number", 2, False),
        ("before", "2026-01-01T00:00:00Z", "2026-06-01", True),
        ("after", "2026-01-01", "2026-06-01T00:00:00+00:00", False),
        ("before", None, "2026-06-01", False),
    ],
)
def test_metadata_operators(op: str, field: Any, value: Any, expected: bool) -> None:
    from knowledge import dify

    test = dify.predicate(dify.MetadataCondition.model_validate(
        {"conditions": [{"name": "f", "comparison_operator": op, "value": value}]}))
    assert test({"f": field}) is expected
