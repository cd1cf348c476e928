"""POST /api/v1/retrieve (DESIGN §5): auth, contract, tenant from the key, audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from audit.models import RecallAudit
from knowledge import models, services
from tests import factories
from tests.conftest import ApiClient

URL = "/api/v1/retrieve"


@pytest.fixture
def kb(tenant: models.Tenant, ingest_text: Callable[..., models.Document]) -> models.Tenant:
    ingest_text("# Office hours\n\nWe are open on Saturday from 9am to noon.\n\n# Parking\n\nFree parking behind the building.", "hours.md")
    ingest_text("# Rules\n\nNever take card numbers by phone.", "policy.md", kind="policy")
    return tenant


def test_it_answers_the_voice_router_with_the_contract_body(
    retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient
) -> None:
    response = retrieve_api.post(URL, {"query": "are you open saturdays", "top_k": 2, "session_id": "call-1", "caller": "+1555"})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "retrieval_enabled", "tenant", "query", "policy", "knowledge", "prompt", "audit_id",
        "embedding_model", "timings_ms",
    }
    assert body["retrieval_enabled"] is True
    assert body["tenant"] == "brightsmile"
    assert body["query"] == "are you open saturdays"
    assert body["policy"]["text"].endswith("Never take card numbers by phone.")
    assert body["policy"]["truncated"] is False and len(body["policy"]["chunk_ids"]) == 1
    assert 1 <= len(body["knowledge"]) <= 2
    hit = body["knowledge"][0]
    assert set(hit) == {"chunk_id", "document_id", "document_name", "chunk_index", "text", "score"}
    assert "Saturday" in hit["text"] and hit["document_name"] == "hours.md"
    assert body["embedding_model"] == "hash-384"
    assert {"embed", "search", "total"} <= set(body["timings_ms"])
    audit = RecallAudit.objects.get(pk=body["audit_id"])
    assert audit.tenant_id == kb.pk and audit.session_id == "call-1" and audit.caller == "+1555"
    assert audit.source == "api" and audit.api_key is not None
    # Written after the response went out, with the serialisation time known by then.
    assert {"embed", "search", "serialize", "server"} <= set(audit.timings_ms)
    assert [r["chunk_id"] for r in audit.results] == [h["chunk_id"] for h in body["knowledge"]]
    assert "Server-Timing" in response.headers and "search;dur=" in response.headers["Server-Timing"]


def test_it_takes_the_tenant_from_the_key_never_from_the_body(
    retrieval_on: Any, kb: models.Tenant, other_tenant: models.Tenant,
    ingest_text: Callable[..., models.Document], other_manage_key: str,
) -> None:
    ingest_text("# Hours\n\nOther Co is open on Saturday all day.", "hours.md", to=other_tenant)
    body = ApiClient(other_manage_key).post(URL, {"query": "open saturday", "tenant": "brightsmile"}).json()

    assert body["tenant"] == "otherco"
    own = set(models.Chunk.objects.filter(tenant=other_tenant).values_list("pk", flat=True))
    assert body["knowledge"] and {h["chunk_id"] for h in body["knowledge"]} <= own
    assert RecallAudit.objects.get(pk=body["audit_id"]).tenant_id == other_tenant.pk


def test_disabled_retrieval_answers_empty_but_still_audits(
    settings: Any, kb: models.Tenant, retrieve_api: ApiClient
) -> None:
    settings.KB_RETRIEVAL_ENABLED = False
    body = retrieve_api.post(URL, {"query": "are you open saturdays"}).json()

    assert body["retrieval_enabled"] is False
    assert body["knowledge"] == [] and body["policy"]["text"] == ""
    assert RecallAudit.objects.filter(pk=body["audit_id"], retrieval_enabled=False).exists()


def test_it_refuses_a_missing_or_bad_key_with_401(retrieval_on: Any, kb: models.Tenant, anon_api: ApiClient) -> None:
    assert anon_api.post(URL, {"query": "hours"}).status_code == 401
    assert ApiClient("kb_0123456789_not-a-real-secret").post(URL, {"query": "hours"}).status_code == 401
    assert anon_api.post(URL, {"query": "hours"}, headers={"Authorization": "Basic abc"}).status_code == 401
    assert not RecallAudit.objects.exists()


def test_it_refuses_a_revoked_key(retrieval_on: Any, kb: models.Tenant) -> None:
    created = services.apikey_create(tenant=kb, scopes=["retrieve"])
    services.apikey_revoke(key=created.key)
    assert ApiClient(created.plaintext).post(URL, {"query": "hours"}).status_code == 401


def test_a_manage_only_key_is_forbidden(retrieval_on: Any, kb: models.Tenant) -> None:
    key = services.apikey_create(tenant=kb, scopes=["manage"]).plaintext
    response = ApiClient(key).post(URL, {"query": "hours"})
    assert response.status_code == 403
    assert not RecallAudit.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"query": ""}, {"query": "hours", "top_k": 0}, {"query": "hours", "top_k": 51}, {"query": "x" * 4001}],
)
def test_it_validates_the_request(retrieval_on: Any, kb: models.Tenant, retrieve_api: ApiClient, body: dict) -> None:
    assert retrieve_api.post(URL, body).status_code == 422


def _personal_document(tenant: models.Tenant, owner: Any, text: str) -> models.Document:
    """A personal document of ``owner`` (as a connector would store it), queued for ingest."""
    return factories.virtual_document(
        tenant=tenant, title=f"{owner.username} mail", external_id=f"m-{owner.username}", scope="personal",
        owner=owner, text=text,
    )


def test_logged_in_support_staff_can_try_retrieval_and_see_their_personal_documents_only(
    retrieval_on: Any, kb: models.Tenant, make_user: Callable[..., Any], login: Callable[..., Any],
    run_jobs: Callable[[], list[str]],
) -> None:
    # Support staff and admins may retrieve in a session (a member may not: auth.RULES).
    member = make_user("mia", tenant=kb, role="support")
    colleague = make_user("max", tenant=kb, role="support")
    mine = _personal_document(kb, member, "Mia's note: the boat trip and parking are on Saturday.")
    theirs = _personal_document(kb, colleague, "Max's note: the boat trip and parking are on Sunday.")
    run_jobs()
    assert models.Chunk.objects.filter(document__in=[mine, theirs]).count() == 2

    response = ApiClient(client=login(member)).post(URL, {"query": "boat trip parking", "top_k": 50})
    assert response.status_code == 200
    assert RecallAudit.objects.get(pk=response.json()["audit_id"]).user_id == member.pk
    returned = {h["document_id"] for h in response.json()["knowledge"]}
    assert mine.pk in returned
    assert theirs.pk not in returned
    # The colleague, in turn, sees their own note and not the member's.
    other = ApiClient(client=login(colleague)).post(URL, {"query": "boat trip parking", "top_k": 50})
    assert other.status_code == 200
    other_returned = {h["document_id"] for h in other.json()["knowledge"]}
    assert theirs.pk in other_returned and mine.pk not in other_returned


def test_a_user_of_another_tenant_cannot_retrieve_from_this_one(
    retrieval_on: Any, kb: models.Tenant, other_tenant: models.Tenant,
    make_user: Callable[..., Any], login: Callable[..., Any],
) -> None:
    outsider = make_user("olaf", tenant=other_tenant, role="admin")
    response = ApiClient(client=login(outsider)).post(URL, {"query": "parking"}, headers={"X-KB-Tenant": "brightsmile"})
    assert response.status_code == 403
