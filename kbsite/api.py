"""The one NinjaAPI: mounts each app's router and turns service errors into JSON."""

from __future__ import annotations

import logging
import time

from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from kbsite.errors import ServiceError
from kbsite.middleware import ERROR_CODES

logger = logging.getLogger(__name__)

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


# Everything else an endpoint (or Django reading its request) can raise is answered in the
# same format; kbsite.middleware turns what never reaches ninja (404, 405, 500 pages) into it.


def _error(request: HttpRequest, status: int, detail: str, code: str | None = None) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "code": code or ERROR_CODES.get(status, "error")}, status=status)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "not found")


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, str(exc.message))


@api.exception_handler(MultiPartParserError)
def multipart_error(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
    detail = f"the multipart body cannot be read: {exc}"
    if "header size" in str(exc):
        # Django caps a part's headers at 1,024 bytes, so a file name near that is refused here.
        detail = "a multipart part's headers are over 1,024 bytes: the file name is too long (keep it under ~900 bytes)"
    return _error(request, 400, detail, "invalid_multipart")


@api.exception_handler(RequestDataTooBig)
def data_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _error(request, 413, "the request body is too large", "too_large")


@api.exception_handler(SuspiciousOperation)
def suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    # Django's message may repeat request data (a Host header…); say only what kind it was.
    return _error(request, 400, f"bad request ({type(exc).__name__})")


@api.exception_handler(BadRequest)
def bad_request(request: HttpRequest, exc: BadRequest) -> HttpResponse:
    return _error(request, 400, "bad request")


@api.exception_handler(Exception)
def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unhandled error in %s %s", request.method, request.path)
    return _error(request, 500, "internal server error")


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
    body["recall_audit"] = recording.failure_stats()  # failed audit writes, never silent
    if live.status == ingestion.liveness.STALLED:
        body["status"] = "stalled"
        status = 503
    elif live.status == ingestion.liveness.DEGRADED:
        body["status"] = "degraded"
    return api.create_response(request, body, status=status)


def _mount() -> None:
    from audit.api import router as audit_router
    from connections.api import router as connections_router
    from knowledge.api import router as kb_router
    from knowledge.erasure.api import router as erasure_router
    from knowledge.retrieval_api import router as retrieval_router
    from knowledge.snapshots.api import router as profile_router

    api.add_router("/kb/", kb_router)
    api.add_router("/", retrieval_router)
    api.add_router("/audit/", audit_router)
    api.add_router("/connections", connections_router)
    api.add_router("/tenant/", profile_router)
    api.add_router("/erasure", erasure_router)


_mount()
