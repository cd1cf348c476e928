"""The one NinjaAPI: mounts each app's router and turns service errors into JSON."""

from __future__ import annotations

import logging
import time

from django.db import connection
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

from kbsite.errors import ServiceError

logger = logging.getLogger(__name__)

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
    """``ok`` | ``degraded`` | ``stalled`` (503) | database down (503).

    The worker is judged by progress on the job rows (``knowledge.ingestion.liveness``), not
    by its process heartbeat. A health check also reaps stale jobs when no reaper has run for
    three reaper intervals (at most one web process at a time), so a stalled cluster's jobs
    are taken back even where nothing else reaps.
    """
    from django.conf import settings

    from knowledge import checks, ingestion, taskruns

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
        body["worker"] = checks.worker_heartbeat()
        return api.create_response(request, body, status=503)
    worker = checks.worker_heartbeat()
    try:
        ingestion.reap_if_due(runner="web", max_age_seconds=settings.KB_REAPER_INTERVAL_SECONDS * 3)
    except Exception:  # reaping is a courtesy here; liveness below still tells the truth
        logger.warning("health: opportunistic reaping failed", exc_info=True)
    live = ingestion.worker_liveness()
    body["worker"] = {**worker, **live.as_json()}
    body["tasks"] = taskruns.recent()
    if live.status == ingestion.liveness.STALLED:
        body["status"] = "stalled"
        status = 503
    elif live.status == ingestion.liveness.DEGRADED:
        body["status"] = "degraded"
    return api.create_response(request, body, status=status)


def _mount() -> None:
    from audit.api import router as audit_router
    from knowledge.api import router as kb_router
    from knowledge.retrieval_api import router as retrieval_router

    api.add_router("/kb/", kb_router)
    api.add_router("/", retrieval_router)
    api.add_router("/audit/", audit_router)


_mount()
