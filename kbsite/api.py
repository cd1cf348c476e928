"""The one NinjaAPI: mounts each app's router and turns service errors into JSON."""

from __future__ import annotations

import time

from django.db import connection
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

from kbsite.errors import ServiceError

api = NinjaAPI(
    title="Tenant knowledge base",
    version="1",
    description="Knowledge base for the phone voice assistant: KB files, ingestion, retrieval, recall audit.",
    urls_namespace="api",
)


@api.exception_handler(ServiceError)
def service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    return api.create_response(request, {"detail": exc.message, "code": exc.code}, status=exc.status_code)


@api.exception_handler(AuthenticationError)
def auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = api.create_response(
        request, {"detail": "missing, invalid or revoked credentials", "code": "unauthorized"}, status=401
    )
    response["WWW-Authenticate"] = 'Bearer realm="kb"'
    return response


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return api.create_response(request, {"detail": "invalid request", "code": "invalid_input", "errors": exc.errors}, status=422)


@api.get("/health", tags=["Operations"], auth=None)
def health(request: HttpRequest) -> HttpResponse:
    from knowledge import checks
    from knowledge.retrieval import recording

    body: dict = {"status": "ok"}
    status = 200
    try:
        started = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        body["database"] = {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
        body["pgvector"] = checks.pgvector_version()
    except Exception as exc:  # health must answer, whatever is broken
        body["status"] = "degraded"
        body["database"] = {"ok": False, "error": type(exc).__name__}
        status = 503
    body["worker"] = checks.worker_heartbeat()
    body["recall_audit"] = recording.failure_stats()  # failed audit writes, never silent
    return api.create_response(request, body, status=status)


def _mount() -> None:
    from audit.api import router as audit_router
    from knowledge.api import router as kb_router
    from knowledge.retrieval_api import router as retrieval_router

    api.add_router("/kb/", kb_router)
    api.add_router("/", retrieval_router)
    api.add_router("/audit/", audit_router)


_mount()
