"""The pages under a strict Content-Security-Policy (kbsite/csp.py), Secure cookies over
HTTPS, and the login page's name. The browser test (tests/browser) checks the same policy
in a real Chromium: no violation reported, htmx still working."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from knowledge import models, services

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


class _InlineCode(HTMLParser):
    """Everything a strict policy (no 'unsafe-inline') would block: inline scripts, style
    elements and attributes, event-handler attributes, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            if name == "style":
                self.found.append(f"style attribute on <{tag}>")
            if name.startswith("on"):
                self.found.append(f"{name} handler on <{tag}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"javascript: URL on <{tag}>")


def _inline_code(html: str) -> list[str]:
    parser = _InlineCode()
    parser.feed(html)
    return parser.found


@pytest.fixture
def pages(admin_member: Any, tenant: models.Tenant, run_jobs: Any, login: Callable[..., Client],
          retrieval_on: Any) -> tuple[Client, list[str]]:
    """Every KB page with content on it: a ready file, a failed one, a job, an audit row."""
    ready = services.document_upload(
        tenant=tenant, fileobj=io.BytesIO(b"# Hours\n\nOpen Monday to Friday."), filename="hours.md"
    ).document
    services.document_upload(tenant=tenant, fileobj=io.BytesIO(b"%PDF-1.4\n%%EOF\n"), filename="scan.pdf")
    run_jobs()
    client = login(admin_member)
    client.post(reverse("kb:retrieval_test"), {"query": "are you open on monday", "top_k": 5})
    urls = [
        reverse("kb:files"),
        reverse("kb:document", args=[ready.pk]),
        reverse("kb:document_delete", args=[ready.pk]),
        reverse("kb:jobs"),
        reverse("kb:retrieval_test"),
        reverse("kb:audit_list"),
        reverse("kb:keys"),
    ]
    return client, urls


def test_every_page_is_served_with_a_strict_content_security_policy(pages: tuple[Client, list[str]]) -> None:
    client, urls = pages
    for url in [*urls, reverse("login")]:
        response = client.get(url) if url != reverse("login") else Client().get(url)
        assert response.status_code == 200, url
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy, url
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, url
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, url


def test_no_page_carries_inline_script_style_or_handlers(pages: tuple[Client, list[str]]) -> None:
    client, urls = pages
    for url in urls:
        html = client.get(url).content.decode()
        assert _inline_code(html) == [], url
    assert _inline_code(Client().get(reverse("login")).content.decode()) == []
    # htmx partials too (the table it polls, the retrieval result it swaps in).
    partial = client.get(reverse("kb:files"), headers={"HX-Request": "true"}).content.decode()
    assert _inline_code(partial) == []


def test_htmx_is_told_not_to_inject_its_indicator_style_nor_to_eval(pages: tuple[Client, list[str]]) -> None:
    client, _ = pages
    html = client.get(reverse("kb:retrieval_test")).content.decode()
    assert '<meta name="htmx-config"' in html
    assert '"includeIndicatorStyles": false' in html and '"allowEval": false' in html
    css = (ROOT / "static" / "kb" / "kb.css").read_text()
    assert ".htmx-request .htmx-indicator" in css  # the rules htmx would have injected


def test_the_api_answers_carry_the_policy_too(api: Any) -> None:
    response = api.get("/api/v1/kb/files")
    assert response.status_code == 200
    assert "default-src 'self'" in response["Content-Security-Policy"]


def test_the_login_page_is_called_knowledge_base(client: Client) -> None:
    html = client.get(reverse("login")).content.decode()
    assert "<title>Log in | Knowledge base</title>" in html
    assert "Django administration" not in html and "Django site admin" not in html


def _settings_under(env: dict[str, str]) -> str:
    code = (
        "from kbsite import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER)"
    )
    clean = {k: v for k, v in os.environ.items() if k != "KB_HTTPS"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True,
        check=True, timeout=120,
    )
    return result.stdout.strip()


def test_cookies_are_secure_and_the_proxy_header_trusted_only_when_served_over_https() -> None:
    assert _settings_under({"KB_HTTPS": "1"}) == "True True ('HTTP_X_FORWARDED_PROTO', 'https')"
    assert _settings_under({}) == "False False None"


def test_over_https_the_session_and_csrf_cookies_are_sent_secure(
    admin_member: Any, settings: Any
) -> None:
    # What KB_HTTPS=1 sets (checked above), seen on a real login behind a TLS proxy.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    admin_member.set_password("pw-for-the-test-1")
    admin_member.save()
    client = Client(enforce_csrf_checks=True)
    headers = {
        "Host": "testserver", "X-Forwarded-Proto": "https", "Referer": "https://testserver/accounts/login/",
    }
    page = client.get(reverse("login"), headers=headers)
    assert page.cookies["csrftoken"]["secure"] is True
    response = client.post(
        reverse("login"),
        {"username": admin_member.username, "password": "pw-for-the-test-1",
         "csrfmiddlewaretoken": page.cookies["csrftoken"].value},
        headers=headers,
    )
    assert response.status_code == 302
    assert response.cookies["sessionid"]["secure"] is True
