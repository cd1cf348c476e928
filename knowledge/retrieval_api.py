"""Retrieval endpoints: ``POST /api/v1/retrieve`` (DESIGN §5, the voice router's call) and
``POST /api/v1/dify/retrieval`` (Dify's External Knowledge API). Thin: auth, validation,
then ``knowledge.retrieval.retrieve``; the Dify request and records live in ``knowledge.dify``.

Both answer with a ``Server-Timing`` header (auth, embed, policy, search, audit — the id
reservation —, serialize, server in ms) so latency can be attributed from outside the
process, and have the recall audit row written after the response has been sent (a write
that fails then is counted, see ``knowledge.retrieval.recording``). A call that cannot be
audited at all fails with 503 before anything is returned.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from ninja.errors import ValidationError
from pydantic import ValidationError as PydanticValidationError
from pydantic import field_validator

from knowledge import apikeys, auth, dify, models, retrieval

router = Router(tags=["Retrieval"])


class _TimedAuth(auth.TenantAuth):
    """TenantAuth that notes when the request reached us, so auth time is accounted for."""

    def __call__(self, request: HttpRequest) -> auth.Principal | None:
        request._kb_started = time.perf_counter()  # type: ignore[attr-defined]
        return super().__call__(request)


retrieve_auth = _TimedAuth(action=auth.Action.RETRIEVE)


class RetrieveIn(Schema):
    query: str = Field(..., min_length=1, max_length=4000)
    top_k: int = Field(5, ge=1, le=retrieval.MAX_TOP_K)
    session_id: str | None = Field(None, max_length=200)
    caller: str | None = Field(None, max_length=200)

    @field_validator("query", "session_id", "caller")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        return dify.refuse_nul(value)


# --- helpers ----------------------------------------------------------------------------


class AuditAfterResponse(HttpResponse):
    """A response that writes the call's recall audit row once it has been sent.

    The WSGI server calls ``close()`` after the last byte has gone to the client, so the
    INSERT costs the caller nothing. The row's id was reserved before answering; a failed
    write is counted and logged by ``retrieval.write_audit``.
    """

    def __init__(self, *args: Any, result: retrieval.RetrievalResult, timings: dict[str, float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._result = result
        self._timings = timings

    def close(self) -> None:
        try:
            retrieval.write_audit(self._result, extra_timings=self._timings)
        finally:
            super().close()


def _json_response(
    request: HttpRequest, serialize: Any, timings: dict[str, float], *, result: retrieval.RetrievalResult,
) -> HttpResponse:
    t = time.perf_counter()
    payload = serialize()
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


@router.post("/retrieve", response=retrieval.RetrieveOut, auth=retrieve_auth, summary="Context bundle for one caller turn",
             description=(
                 "DESIGN §5. `knowledge` is best first. `score` is the fused rank score (reciprocal rank "
                 "fusion of the vector and lexical legs, 1.0 = first in every leg): it orders, it does not "
                 "measure. `relevance` (an extension) is the absolute match, 0..1: the query–chunk cosine "
                 "similarity calibrated per embedding model (without embeddings: the share of the query's "
                 "terms the chunk holds); a query unrelated to the tenant's documents stays below 0.5."
             ))
def retrieve(request: HttpRequest, body: RetrieveIn) -> HttpResponse:
    principal = auth.principal(request)
    started = getattr(request, "_kb_started", time.perf_counter())
    auth_ms = round((time.perf_counter() - started) * 1000, 3)
    result = retrieval.retrieve(
        tenant=principal.tenant, query=body.query, top_k=body.top_k,
        session_id=body.session_id or "", caller=body.caller or "", source="api",
        api_key=principal.api_key, user=principal.user, defer_audit=True,
    )
    return _json_response(request, result.response().model_dump_json, _stage_timings(result, auth_ms), result=result)


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
    response={200: dify.RecordsOut, 403: dify.ErrorOut, 404: dify.ErrorOut},
    summary="Dify External Knowledge API",
    description=(
        "Dify's External Knowledge API. Register this service in Dify with the endpoint "
        "`https://<host>/api/v1/dify` (no trailing slash; Dify appends `/retrieval`), a `retrieve` "
        "API key, and the tenant slug as the external knowledge ID. Each record's `score` is its "
        "relevance (calibrated cosine similarity, 0..1), compared with Dify's `score_threshold`; "
        "records come best match first. `metadata.document_id`, `chunk_id` and `audit_id` are "
        "strings. `metadata_condition` filters on `title` and the record metadata (document_id, "
        "document_name, chunk_id, chunk_index, heading, page) with Dify's operators, inside the "
        "search. `top_k` null → 5, above 50 → 50; queries over 4,000 characters are cut. Errors "
        "use Dify's format: 1001 bad Authorization header, 1002 invalid key (both 403), 2001 "
        "unknown knowledge base (404)."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": dify.RetrievalIn.model_json_schema()}},
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
        body = dify.RetrievalIn.model_validate_json(request.body or b"{}")
    except PydanticValidationError as exc:
        errors = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise ValidationError(errors) from exc
    tenant = key.tenant
    if body.knowledge_id != tenant.slug:
        return _dify_error(2001, "The knowledge does not exist", 404)
    setting = body.retrieval_setting
    compiled = dify.to_sql(body.metadata_condition)
    result = retrieval.retrieve(
        tenant=tenant, query=body.search_query, source="dify", api_key=key, defer_audit=True,
        top_k=setting.limit, sql_filter=retrieval.SqlFilter(*compiled) if compiled else None,
    )
    kept = dify.select(result.knowledge, threshold=setting.threshold, limit=setting.limit)
    # The audit row (written after the response) records what Dify was given.
    result.knowledge = kept  # type: ignore[assignment]
    result.flags["dify"] = {
        "top_k": setting.limit, "score_threshold": setting.threshold, "query_truncated": body.truncated,
        **({"metadata_condition": body.metadata_condition.model_dump()} if compiled and body.metadata_condition else {}),
    }
    out = dify.records(kept, audit_id=result.audit_id)
    return _json_response(request, out.model_dump_json, _stage_timings(result, auth_ms), result=result)
