"""POST /api/v1/dify/retrieval: Dify's External Knowledge API contract."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from audit.models import RecallAudit
from knowledge import dify, models, services
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


def test_it_is_audited_like_any_retrieval(retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient) -> None:
    body = retrieve_api.post(URL, dify_body()).json()
    audit = RecallAudit.objects.get(tenant=kb)
    assert audit.source == "dify" and audit.query == "where can i park"
    assert [str(r["chunk_id"]) for r in audit.results] == [r["metadata"]["chunk_id"] for r in body["records"]]


def test_score_threshold_filters_records(retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient) -> None:
    question = "is there free parking behind the building"
    everything = retrieve_api.post(URL, dify_body(question, top_k=10)).json()["records"]
    assert len(everything) >= 2
    cut = max(r["score"] for r in everything)
    assert cut > 0
    kept = retrieve_api.post(URL, dify_body(question, top_k=10, score_threshold=cut)).json()["records"]
    assert kept and all(r["score"] >= cut for r in kept) and len(kept) < len(everything)
    top = retrieve_api.post(URL, dify_body(question, top_k=10, score_threshold=1.0)).json()["records"]
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
    assert audit is not None and audit.results == [] and "metadata_condition" in audit.flags["dify"]


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
        ("≠", "not a number", 2, True),
        ("<", 3, 1e300, True),
        (">", "7", -1e300, True),
        ("=", 3, "1e99999", False),
        ("≤", "1e999", 5, False),
        ("before", "2026-01-01T00:00:00Z", "2026-06-01", False),  # no field of ours holds a time
        ("before", 3, 1e300, False),
        ("after", None, -1e300, False),
    ],
)
@pytest.mark.django_db
def test_metadata_operators_compile_to_sql_that_matches_as_dify_means(
    op: str, field: Any, value: Any, expected: bool
) -> None:
    from django.db import connection

    from knowledge import dify

    name = "heading" if field is None or isinstance(field, str) else "page"
    condition = dify.MetadataCondition.model_validate(
        {"conditions": [{"name": name, "comparison_operator": op, "value": value}]})
    compiled = dify.to_sql(condition)
    assert compiled is not None
    where, params = compiled
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT {where} FROM (SELECT %(h)s::text AS heading, %(p)s::int AS page, 1 AS document_id) c",  # noqa: S608
            {**params, "h": field if name == "heading" else None, "p": field if name == "page" else None},
        )
        assert cur.fetchone()[0] is expected


# --- Dify compatibility (issue 10, items 11–15) ---------------------------------------------


class DifyCitation(BaseModel):
    """The fields of Dify's citation record (``RetrievalSourceMetadata``) with their types,
    as Dify's own source declares them; Dify fills it from each external record."""

    position: int | None = None
    dataset_id: str | None = None
    dataset_name: str | None = None
    document_id: str | None = None
    document_name: str | None = None
    data_source_type: str | None = None
    segment_id: str | None = None
    retriever_from: str | None = None
    score: float | None = None
    content: str | None = None
    page: int | None = None
    doc_metadata: dict[str, Any] | None = None
    title: str | None = None


def as_dify_citations(records: list[dict[str, Any]]) -> list[DifyCitation]:
    """What Dify does with external records: the record's metadata gets ``score`` and
    ``title`` added and feeds the citation; ``document_id`` falls back to the title."""
    citations = []
    for position, record in enumerate(records, start=1):
        metadata = dict(record["metadata"])
        metadata["score"] = record["score"]
        metadata["title"] = record["title"]
        citations.append(DifyCitation.model_validate({
            "position": position, "dataset_id": "ds-1", "dataset_name": "KB",
            "document_id": metadata.get("document_id") or metadata.get("title"),
            "document_name": metadata.get("title"), "data_source_type": "external", "retriever_from": "dev",
            "score": metadata.get("score"), "title": metadata.get("title"), "content": record["content"],
            "doc_metadata": metadata,
        }))
    return citations


def test_records_validate_as_difys_citations_with_string_ids(
    retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient
) -> None:
    records = retrieve_api.post(URL, dify_body("where can i park", top_k=5)).json()["records"]
    assert records
    citations = as_dify_citations(records)
    chunk = models.Chunk.objects.get(pk=int(records[0]["metadata"]["chunk_id"]))
    assert citations[0].document_id == str(chunk.document_id)
    for record in records:
        metadata = record["metadata"]
        assert isinstance(metadata["document_id"], str) and isinstance(metadata["chunk_id"], str)
        assert isinstance(metadata["audit_id"], str)
        assert isinstance(record["title"], str) and isinstance(record["content"], str)
        assert isinstance(record["score"], float)


def test_a_nonsense_query_returns_nothing_above_difys_default_threshold(
    retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient
) -> None:
    for query in ("purple elephant quantum banana", "what is the capital of mongolia", "asdf qwerty zxcv"):
        body = dify_body(query, top_k=10, score_threshold=0.5)
        assert retrieve_api.post(URL, body).json()["records"] == [], query
    # while a real question keeps its answer at that threshold
    answer = retrieve_api.post(URL, dify_body("free parking behind the building", top_k=3, score_threshold=0.5))
    assert answer.json()["records"] and "Free parking" in answer.json()["records"][0]["content"]


def test_score_is_relevance_not_rank(retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient) -> None:
    nonsense = retrieve_api.post(URL, dify_body("purple elephant quantum banana", top_k=1)).json()["records"]
    # the best chunk for a nonsense query is first in its leg, yet not relevant
    assert nonsense and nonsense[0]["metadata"]["fused_score"] >= 0.5 and nonsense[0]["score"] < 0.5


@pytest.mark.parametrize(
    "changes",
    [
        {"metadata_condition": {"logical_operator": "and", "conditions": None}},
        {"metadata_condition": {"logical_operator": None, "conditions": None}},
        {"metadata_condition": {"logical_operator": None,
                                "conditions": [{"name": "title", "comparison_operator": "contains", "value": "faq"}]}},
        {"metadata_condition": None},
        {"retrieval_setting": {"top_k": None, "score_threshold": None}},
        {"retrieval_setting": {"top_k": 100, "score_threshold": 0.0}},
        {"retrieval_setting": None},
        {"query": "where can i park " + "please " * 700},
    ],
)
def test_requests_dify_sends_are_accepted(
    retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient, changes: dict[str, Any]
) -> None:
    response = retrieve_api.post(URL, dify_body(top_k=3) | changes)
    assert response.status_code == 200, response.content
    assert response.json()["records"]
    assert len(response.json()["records"]) <= dify.MAX_TOP_K


def test_top_k_above_50_is_capped_and_a_long_query_is_cut(
    retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient
) -> None:
    retrieve_api.post(URL, dify_body(top_k=3) | {"retrieval_setting": {"top_k": 500}})
    audit = RecallAudit.objects.filter(tenant=kb).latest("id")
    assert audit.top_k == 50 and audit.flags["dify"]["top_k"] == 50
    retrieve_api.post(URL, dify_body("parking " * 1000))
    audit = RecallAudit.objects.filter(tenant=kb).latest("id")
    assert 3990 < len(audit.query) <= 4000 and audit.flags["dify"]["query_truncated"] is True


@pytest.mark.parametrize("op", ["before", "after", "=", ">", "≤", "contains", "in"])
def test_metadata_condition_with_a_huge_number_is_answered_not_a_500(
    retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient, op: str
) -> None:
    for name in ("title", "page", "document_id"):
        body = dify_body() | condition({"name": name, "comparison_operator": op, "value": 1e300})
        response = retrieve_api.post(URL, body)
        assert response.status_code == 200, (name, op, response.content)


@pytest.mark.parametrize(
    "changes",
    [
        {"query": "where can i\x00 park"},
        {"knowledge_id": "bright\x00smile"},
        {"metadata_condition": {"conditions": [{"name": "title", "comparison_operator": "is", "value": "a\x00"}]}},
        {"metadata_condition": {"conditions": [{"name": ["ti\x00tle"], "comparison_operator": "empty"}]}},
    ],
)
def test_a_nul_character_anywhere_in_the_body_is_422_and_nothing_is_audited(
    retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient, changes: dict[str, Any]
) -> None:
    response = retrieve_api.post(URL, dify_body() | changes)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"
    assert not RecallAudit.objects.exists()


def test_metadata_filter_runs_inside_the_search_so_a_large_tenant_loses_no_match(
    retrieval_on: Any, tenant: models.Tenant, ingest_text: Callable[..., models.Document], retrieve_api: ApiClient,
) -> None:
    # 60+ chunks that answer "parking" better than the one chunk of the document we filter on.
    big = "\n\n".join(
        f"# Parking lot {i}\n\nParking lot {i}: free parking, parking permits and parking hours for lot {i}. "
        + "Parking is close to the entrance and parking is free on weekends. " * 12
        for i in range(70)
    )
    ingest_text(big, "parking-lots.md")
    ingest_text("# Misc\n\nOur office has a small bike rack; car parking is described elsewhere.", "misc.md")
    assert models.Chunk.objects.filter(tenant=tenant, document__name="parking-lots.md").count() > 50
    unfiltered = retrieve_api.post(URL, dify_body("parking", top_k=50)).json()["records"]
    assert "misc.md" not in [r["title"] for r in unfiltered]  # not in the best 50 without the filter

    response = retrieve_api.post(URL, dify_body("parking", top_k=3) | condition(
        {"name": "document_name", "comparison_operator": "is", "value": "misc.md"}))

    assert titles(response) == ["misc.md"]


def test_a_metadata_filter_naming_another_tenants_document_finds_nothing(
    retrieval_on: Any, kb: models.Tenant, other_tenant: models.Tenant,
    ingest_text: Callable[..., models.Document], retrieve_api: ApiClient,
) -> None:
    theirs = ingest_text("# Parking\n\nOther Co parking is free behind the building.", "faq.md", to=other_tenant)
    for cond in (
        {"name": "document_id", "comparison_operator": "is", "value": str(theirs.pk)},
        {"name": "document_id", "comparison_operator": "=", "value": theirs.pk},
        {"name": "title", "comparison_operator": "contains", "value": "faq"},
    ):
        records = retrieve_api.post(URL, dify_body("parking behind the building", top_k=10) | condition(cond)).json()
        assert all("Other Co" not in r["content"] for r in records["records"])
        assert {r["metadata"]["document_id"] for r in records["records"]} <= {
            str(pk) for pk in models.Document.objects.filter(tenant=kb).values_list("pk", flat=True)
        }
