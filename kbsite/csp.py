"""Content-Security-Policy on every response.

The pages load scripts and styles only from this site's static files: no inline
``<script>``, no ``style=`` attributes or ``<style>`` elements, no ``on…=`` handlers, no
``eval``. htmx works under that policy through its ``hx-`` attributes, with its own inline
indicator ``<style>`` and eval switched off by ``<meta name="htmx-config">`` in
templates/kb/base.html (the indicator rules live in static/kb/kb.css). ``img-src`` allows
``data:`` URIs for the admin's and Swagger UI's icons. ``form-action`` is left open on
purpose: browsers apply it to the redirect after a POST, and connecting an account posts
to this site and is redirected to the provider's sign-in page.

A view that sets its own ``Content-Security-Policy`` keeps it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from django.http.response import HttpResponseBase

HEADER = "Content-Security-Policy"
POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = POLICY
        return response
