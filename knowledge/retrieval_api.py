"""Retrieval endpoints: ``POST /api/v1/retrieve`` (DESIGN §5, the voice router's call) and
``POST /api/v1/dify/retrieval`` (Dify's External Knowledge API). Thin: auth, then
``knowledge.retrieval.retrieve``.

Both answer with a ``Server-Timing`` header (auth, embed, policy, search, audit — the id
reservation —, serialize, server in ms) so latency can be attributed from outside the
process, and write the recall audit row after the response has been sent.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from ninja.errors import ValidationError
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from knowledge import apikeys, auth, dify, models, retrieval, schemas

logger = logging.getLogger(__name__)
router = Router(tags=["Retrieval"])


class _TimedAuth(auth.TenantAuth):
    """TenantAuth that notes when the request reached us, so auth time is accounted for."""

    def __call__(self, request: HttpRequest) -> auth.Principal | None:
        request._kb_started = time.perf_counter()  # type: ignore[attr-defined]
        return super().__call__(request)


retrieve_auth = _TimedAuth(action=auth.Action.RETRIEVE)


# --- schemas ----------------------------------------------------------------------------


class RetrieveIn(Schema):
    query: str = Field(..., min_length=1, max_length=4000)
    top_k: int = Field(5, ge=1, le=retrieval.MAX_TOP_K)
    session_id: str | None = Field(None, max_length=200)
    caller: str | None = Field(None, max_length=200)


class PolicyOut(Schema):
    text: str
    chunk_ids: list[int]
    truncated: bool


class PromptOut(Schema):
    instructions: str
    context: str


class RetrieveOut(Schema):
    retrieval_enabled: bool
    tenant: str
    query: str
    policy: PolicyOut
    knowledge: list[schemas.KnowledgeOut]
    prompt: PromptOut
    audit_id: int | None
    embedding_model: str
    timings_ms: dict[str, float]


class DifyRetrievalSetting(BaseModel):
    top_k: int = Field(5, ge=1, le=retrieval.MAX_TOP_K)
    score_threshold: float = Field(0.0, ge=0.0, le=1.0)


class DifyRetrievalIn(BaseModel):
    knowledge_id: str = Field(..., min_length=1, max_length=200)
    query: str = Field(..., min_length=1, max_length=4000)
    retrieval_setting: DifyRetrievalSetting = Field(
        default_factory=lambda: DifyRetrievalSetting(top_k=5, score_threshold=0.0)
    )
    metadata_condition: dify.MetadataCondition | None = None


class DifyRecord(Schema):
    content: str
    score: float
    title: str
    metadata: dict[str, Any]


class DifyRecordsOut(Schema):
    records: list[DifyRecord]


class DifyErrorOut(Schema):
    error_code: int
    error_msg: str


# --- helpers ----------------------------------------------------------------------------


class AuditAfterResponse(HttpResponse):
    """A response that writes the call's recall audit row once it has been sent.

    The WSGI server calls ``close()`` after the last byte has gone to the client, so the
    INSERT costs the caller nothing. The row's id was reserved before answering.
    """

    def __init__(self, *args: Any, result: retrieval.RetrievalResult, timings: dict[str, float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._result = result
        self._timings = timings

    def close(self) -> None:
        try:
            retrieval.write_audit(self._result, extra_timings=self._timings)
        except DatabaseError:
            # The answer is already with the caller; losing its audit row must not turn
            # into a server error, but it must be visible.
            logger.exception("could not write recall audit %s", self._result.audit_id)
        finally:
            super().close()


def _json_response(
    request: HttpRequest, body: dict[str, Any], timings: dict[str, float], *,
    result: retrieval.RetrievalResult,
) -> HttpResponse:
    t = time.perf_counter()
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)
    timings = dict(timings)
    timings["serialize"] = round((time.perf_counter() - t) * 1000, 3)
    started = getattr(request, "_kb_started", None)
    if started is not None:
        timings["server"] = round((time.perf_counter() - started) * 1000, 3)
    response = AuditAfterResponse(
        payload, content_type="application/json", result=result,
        timings={k: timings[k] for k in ("auth", "serialize", "server") if k in timings},
    )
    response["Server-Timing"] = ", ".join(f"{name};dur={value}" for name, value in timings.items())
    return response


def _stage_timings(result: retrieval.RetrievalResult, auth_ms: float) -> dict[str, float]:
    return {"auth": auth_ms, **result.timings_ms}


# --- POST /retrieve -----------------------------------------------------------------------


@router.post("/retrieve", response=RetrieveOut, auth=retrieve_auth, summary="Context bundle for one caller turn")
def retrieve(request: HttpRequest, body: RetrieveIn) -> HttpResponse:
    principal = auth.principal(request)
    started = getattr(request, "_kb_started", time.perf_counter())
    auth_ms = round((time.perf_counter() - started) * 1000, 3)
    result = retrieval.retrieve(
        tenant=principal.tenant, query=body.query, top_k=body.top_k,
        session_id=body.session_id or "", caller=body.caller or "", source="api",
        api_key=principal.api_key, user=principal.user, defer_audit=True,
    )
    return _json_response(request, result.as_response(), _stage_timings(result, auth_ms), result=result)


# --- POST /dify/retrieval -------------------------------------------------------------------


def _dify_error(code: int, message: str, status: int) -> HttpResponse:
    return HttpResponse(
        json.dumps({"error_code": code, "error_msg": message}), status=status, content_type="application/json"
    )


def _dify_key(request: HttpRequest) -> models.ApiKey | HttpResponse:
    token = auth.bearer_token(request.META.get("HTTP_AUTHORIZATION", ""))
    if token is None:
        return _dify_error(1001, "Invalid Authorization header format. Expected 'Bearer <api-key>' format.", 403)
    key = apikeys.authenticate(token)
    if key is None or models.Scope.RETRIEVE not in key.scopes:
        return _dify_error(1002, "Authorization failed", 403)
    return key


@router.post(
    "/dify/retrieval",
    auth=None,
    response={200: DifyRecordsOut, 403: DifyErrorOut, 404: DifyErrorOut},
    summary="Dify External Knowledge API",
    description=(
        "Dify's External Knowledge API. Register this service in Dify with the endpoint "
        "`…/api/v1/dify` (Dify appends `/retrieval`), a `retrieve` API key, and the tenant "
        "slug as the external knowledge ID. `metadata_condition` filters on `title` and the record "
        "metadata (document_id, document_name, chunk_id, chunk_index, heading, page), with Dify's "
        "operators; the best `top_k` records that pass are returned. Errors use Dify's format: "
        "1001 bad Authorization header, 1002 invalid key (both 403), 2001 unknown knowledge base (404)."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": DifyRetrievalIn.model_json_schema()}},
        }
    },
)
def dify_retrieval(request: HttpRequest) -> HttpResponse:
    # Auth is done here, not by ninja, so failures answer in Dify's error format.
    request._kb_started = time.perf_counter()  # type: ignore[attr-defined]
    key = _dify_key(request)
    if isinstance(key, HttpResponse):
        return key
    auth_ms = round((time.perf_counter() - request._kb_started) * 1000, 3)  # type: ignore[attr-defined]
    try:
        body = DifyRetrievalIn.model_validate_json(request.body or b"{}")
    except PydanticValidationError as exc:
        errors = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise ValidationError(errors) from exc
    tenant = key.tenant
    if body.knowledge_id != tenant.slug:
        return _dify_error(2001, "The knowledge does not exist", 404)
    setting = body.retrieval_setting
    condition = body.metadata_condition if body.metadata_condition and body.metadata_condition.conditions else None
    result = retrieval.retrieve(
        tenant=tenant, query=body.query, source="dify", api_key=key, defer_audit=True,
        # A metadata filter applies to the search's results: take more, keep top_k that pass.
        top_k=retrieval.MAX_TOP_K if condition else setting.top_k,
    )
    records = []
    keep = dify.predicate(condition) if condition else None
    kept: list[retrieval.Hit] = []
    for hit in result.knowledge:
        if hit.score < setting.score_threshold:
            continue
        metadata = {
            "document_id": hit.document_id,
            "document_name": hit.document_name,
            "chunk_id": hit.chunk_id,
            "chunk_index": hit.chunk_index,
            "heading": hit.heading,
            "page": hit.page,
        }
        if keep is not None and not keep({"title": hit.document_name, **metadata}):
            continue
        records.append({
            "content": hit.text, "score": hit.score, "title": hit.document_name,
            "metadata": {**metadata, "audit_id": result.audit_id},
        })
        kept.append(hit)
        if len(records) >= setting.top_k:
            break
    # The audit row (written after the response) records what Dify was given.
    result.knowledge = kept
    result.top_k = setting.top_k
    if condition is not None:
        result.flags["dify_metadata_condition"] = condition.model_dump()
    return _json_response(request, {"records": records}, _stage_timings(result, auth_ms), result=result)
