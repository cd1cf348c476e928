"""The request guard: the outermost middleware, for the API and the pages alike.

Before anything reads the request:

* under ``/api/``, a body whose ``Content-Length`` is over the endpoint's limit is refused
  with 413 — the file upload endpoint allows ``KB_MAX_UPLOAD_MB`` (plus the multipart
  framing), every other API endpoint ``KB_API_MAX_BODY_KB`` — so no key check, body parse or
  temporary file ever sees it (a front proxy should refuse it even earlier: README);
* a NUL character in the path, a query parameter or a header is refused (PostgreSQL text
  cannot hold it, and no valid value contains it): 422 in the API's error format, a short
  readable 400 page elsewhere. Body fields are checked by their schema or form.

After the response: every API error is JSON in the one error format
``{"detail": str, "code": str, ...}`` — whatever produced it (Django's 404 for an unknown
path, a 405, a 400 for a bad Host header, the 500 page).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape

API_PREFIX = "/api/"
# Room for the multipart boundaries and part headers around an upload of the maximum size.
MULTIPART_ALLOWANCE = 64 * 1024
NUL = "\x00"

# The code of the one error format for statuses that reach us without a JSON body.
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_type",
    422: "invalid_input",
    429: "throttled",
    500: "server_error",
    503: "unavailable",
}
# Headers of the original response that the JSON error keeps.
KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After", "Server-Timing")


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def error_response(status: int, detail: str, code: str | None = None, **extra: Any) -> JsonResponse:
    """A response in the API's one error format."""
    return JsonResponse({"detail": detail, "code": code or ERROR_CODES.get(status, "error"), **extra}, status=status)


@functools.lru_cache(maxsize=8)
def _upload_paths(urlconf: str) -> frozenset[str]:
    """The paths whose bodies may be as large as an upload (the KB file upload endpoint);
    reversed once per URLconf, not on every request."""
    try:
        return frozenset({reverse("api:upload_file", urlconf=urlconf)})
    except NoReverseMatch:  # pragma: no cover - the endpoint is always mounted
        return frozenset()


def body_limit(request: HttpRequest) -> int:
    """The largest body, in bytes, this API request may send."""
    urlconf = getattr(request, "urlconf", None) or settings.ROOT_URLCONF
    if request.path in _upload_paths(str(urlconf)):  # reverse() includes the script prefix, like .path
        return int(settings.KB_MAX_UPLOAD_MB) * 1024 * 1024 + MULTIPART_ALLOWANCE
    return int(settings.KB_API_MAX_BODY_KB) * 1024


def nul_location(request: HttpRequest) -> list[str] | None:
    """Where a NUL character is in the request line or headers (a ninja-style ``loc``), if any."""
    if NUL in request.path_info:
        return ["path"]
    for key, values in request.GET.lists():
        if NUL in key or any(NUL in value for value in values):
            return ["query", key.replace(NUL, "\\u0000")]
    for name, value in request.META.items():
        if name.startswith("HTTP_") and isinstance(value, str) and NUL in value:
            return ["header", name[5:].replace("_", "-").title()]
    return None


class RequestGuardMiddleware:
    """See the module docstring. First in ``MIDDLEWARE``, so it runs before anything else."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        api = is_api(request)
        refused = self._refuse(request, api=api)
        if refused is not None:
            return refused
        response = self.get_response(request)
        if api and response.status_code >= 400 and not _is_json(response):
            return _as_json_error(response)
        return response

    def _refuse(self, request: HttpRequest, *, api: bool) -> HttpResponseBase | None:
        if api:
            raw = request.META.get("CONTENT_LENGTH") or "0"
            try:
                length = int(raw)
            except ValueError:
                return error_response(400, "the Content-Length header is not a number")
            if length < 0:
                return error_response(400, "the Content-Length header is negative")
            limit = body_limit(request)
            if length > limit:
                return error_response(
                    413, f"the request body ({length} bytes) is over this endpoint's limit of {limit} bytes",
                    limit_bytes=limit,
                )
        where = nul_location(request)
        if where is None:
            return None
        message = "a NUL character (\\u0000) is not allowed in a request's path, parameters or headers"
        if api:
            return error_response(
                422, message, "invalid_input",
                errors=[{"type": "nul_character", "loc": where, "msg": "must not contain a NUL character"}],
            )
        return HttpResponse(
            "<!doctype html><html lang=\"en\"><head><title>Bad request</title></head><body>"
            f"<h1>Bad request</h1><p>{escape(message[:1].upper() + message[1:])} (found in the {escape(where[0])}"
            f"{' ' + escape(where[1]) if len(where) > 1 else ''}). Remove it and try again.</p>"
            "</body></html>",
            status=400, content_type="text/html; charset=utf-8",
        )


def _is_json(response: HttpResponseBase) -> bool:
    content_type = str(response.get("Content-Type", "")).split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


def _as_json_error(response: HttpResponseBase) -> JsonResponse:
    status = response.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    detail = {
        404: "no API endpoint at this path (see /api/v1/docs)",
        405: "this method is not allowed here",
    }.get(status, phrase[:1].upper() + phrase[1:].lower())
    extra: dict[str, Any] = {}
    if status == 405 and "Allow" in response:
        extra["allow"] = [m.strip() for m in str(response["Allow"]).split(",") if m.strip()]
    json_response = error_response(status, detail, **extra)
    for header in KEPT_HEADERS:
        if header in response:
            json_response[header] = response[header]
    return json_response
