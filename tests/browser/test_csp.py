"""The pages under their Content-Security-Policy in a real headless Chromium: nothing is
blocked (no violation event, nothing in the console), and htmx still swaps, polls and
shows its indicator. Also the narrow phone layout of the files table."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from knowledge import models, services
from tests.conftest import EMPTY_PDF

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs in every document before its own scripts (and is not itself subject to the policy):
# keeps each violation the browser reports.
RECORD_VIOLATIONS = """
window.kbViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.kbViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile + ":" + e.lineNumber);
});
"""


def _violations(browser: Any) -> list[str]:
    recorded = browser.execute_script("return window.kbViolations || [];")
    console = [
        entry["message"] for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"] or "Content-Security-Policy" in entry["message"]
    ]
    return [*recorded, *console]


@pytest.fixture
def logged_in(browser: Any, live_server: Any, admin_member: Any, client: Any) -> Callable[[str], None]:
    """Open a page of the live server as the tenant admin, recording CSP violations."""
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
    client.force_login(admin_member)
    browser.get(f"{live_server.url}/static/admin/css/base.css")
    browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})

    def open_page(path: str) -> None:
        browser.get(f"{live_server.url}{path}")
        WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")

    return open_page


def test_the_pages_load_under_their_policy_with_no_violation_and_htmx_works(
    browser: Any, live_server: Any, logged_in: Callable[[str], None], tenant: models.Tenant,
    retrieval_on: Any, run_jobs: Any,
) -> None:
    ready = services.document_upload(
        tenant=tenant, fileobj=io.BytesIO(b"# Hours\n\nWe are open Saturday from 9 to noon."), filename="hours.md"
    ).document
    services.document_upload(tenant=tenant, fileobj=io.BytesIO(EMPTY_PDF), filename="scan.pdf")
    run_jobs()

    logged_in("/kb/files/")
    policy = browser.execute_script(
        "return fetch(location.href).then(r => r.headers.get('content-security-policy'));"
    )
    assert policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert browser.execute_script("return window.htmx && htmx.config.includeIndicatorStyles;") is False
    # htmx injected no <style> (the policy would have refused it).
    assert browser.execute_script("return document.querySelectorAll('style').length;") == 0

    # htmx: the search box narrows the table without a reload.
    browser.execute_script("window.kbNoReload = 'still here';")
    browser.find_element(By.ID, "id_q").send_keys("hours")
    WebDriverWait(browser, 30).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "tr[data-status=failed]"))
    assert browser.find_element(By.ID, f"doc-{ready.pk}")
    assert browser.execute_script("return window.kbNoReload;") == "still here"
    assert _violations(browser) == []

    # htmx: the retrieval test posts (CSRF header from hx-headers) and swaps the result in.
    logged_in("/kb/retrieval-test/")
    browser.execute_script("window.kbNoReload = 'still here';")
    browser.find_element(By.ID, "id_query").send_keys("are you open on saturday?")
    browser.find_element(By.ID, "kb-ask").click()
    WebDriverWait(browser, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#kb-hits .kb-hit")))
    assert browser.execute_script("return window.kbNoReload;") == "still here"
    assert "hours.md" in browser.find_element(By.ID, "kb-hits").text
    assert _violations(browser) == []

    for path in (f"/kb/files/{ready.pk}/", "/kb/jobs/", "/kb/audit/", "/kb/keys/", "/admin/"):
        logged_in(path)
        assert _violations(browser) == [], path
    # The API docs (Swagger UI from django-ninja's own static files, no CDN, no inline script).
    logged_in("/api/v1/docs")
    WebDriverWait(browser, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    assert _violations(browser) == []
    browser.delete_all_cookies()
    logged_in("/accounts/login/")
    assert "Knowledge base" in browser.title
    assert _violations(browser) == []


def test_the_files_table_fits_a_390px_phone_screen(
    browser: Any, logged_in: Callable[[str], None], tenant: models.Tenant, run_jobs: Any, tmp_path: Path,
) -> None:
    services.document_upload(
        tenant=tenant, fileobj=io.BytesIO(b"# Hours\n\nOpen Monday to Friday."),
        filename="opening-hours-and-holiday-closures-2026-final-version.md",
    )
    services.document_upload(tenant=tenant, fileobj=io.BytesIO(EMPTY_PDF), filename="scan.pdf")
    run_jobs()
    browser.set_window_size(390, 844)
    logged_in("/kb/files/")
    width = browser.execute_script("return document.documentElement.clientWidth;")
    scroll = browser.execute_script("return document.documentElement.scrollWidth;")
    table = browser.execute_script(
        "const w = document.getElementById('kb-files-table'); return [w.scrollWidth, w.clientWidth];"
    )
    browser.save_screenshot(str(tmp_path / "files-390.png"))
    assert scroll <= width, f"the page scrolls sideways: {scroll}px of content in {width}px"
    assert table[0] <= table[1], f"the files table scrolls sideways: {table}"
    # The failure reason is on the page, not only in a tooltip.
    failed = models.Document.objects.get(tenant=tenant, status=models.DocStatus.FAILED)
    assert failed.ingest_error in browser.find_element(By.ID, f"doc-{failed.pk}").text
