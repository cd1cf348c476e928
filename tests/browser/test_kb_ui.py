"""The KB pages in a real headless Chromium, with a real django-q2 worker ingesting uploads.

Log in, upload files (file picker and drag and drop), watch their status turn `ready`
without reloading, ask a question on the retrieval test page and see a chunk, open the
audit row it wrote, delete the file. Screenshots of the main pages go to docs/screenshots/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from audit.models import RecallAudit
from knowledge import models, retrieval, services
from tests.conftest import EMPTY_PDF, Worker

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

HOURS = (
    "# Opening hours\n\nWe are open Monday to Friday from 8 am to 5 pm, and on Saturday from 9 am to noon.\n"
    "We are closed on Sundays and public holidays.\n\n## Emergencies\n\n"
    "For a dental emergency outside opening hours call the on-call dentist at 555-0100.\n"
)
PARKING = "# Parking\n\nFree parking is behind the building; the entrance is on Elm Street.\n"
POLICY = "# Phone rules\n\nNever give a medical diagnosis over the phone.\nNever take card numbers by phone.\n"
# Dropping a file onto the drop zone, as a user dragging it from their desktop would.
DROP_JS = """
const [zone, name, text] = arguments;
const transfer = new DataTransfer();
transfer.items.add(new File([text], name, {type: "text/markdown"}));
for (const type of ["dragenter", "dragover", "drop"]) {
  zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: transfer}));
}
"""


@pytest.fixture
def start_worker(worker_env: dict[str, str]) -> Iterator[Callable[[], Worker]]:
    """The conftest's real `manage.py qcluster`, started when the test says so: after the
    upload, so the page is seen going from queued to ready."""
    started: list[Worker] = []

    def start() -> Worker:
        started.append(Worker(worker_env).start())
        return started[-1]

    yield start
    for handle in started:
        handle.kill()


def _wait(browser: Any, timeout: float = 90) -> WebDriverWait:
    # htmx swaps the table under our feet while we look: a stale element just means "look again".
    return WebDriverWait(browser, timeout, poll_frequency=0.25, ignored_exceptions=(StaleElementReferenceException,))


def _status_of(browser: Any, doc_id: int) -> str:
    # Read in one script call, so a swap between finding the row and reading it cannot interfere.
    return str(browser.execute_script(
        "const row = document.getElementById(arguments[0]); return row ? row.dataset.status : '';", f"doc-{doc_id}"
    ))


def test_an_admin_manages_the_knowledge_base_in_a_real_browser(
    browser: Any, live_server: Any, screenshot: Callable[[str], Path], start_worker: Callable[[], Any],
    admin_member: Any, tenant: models.Tenant, other_tenant: models.Tenant, retrieval_on: Any, tmp_path: Path,
) -> None:
    services.membership_set(tenant=other_tenant, user=admin_member, role=models.Role.SUPPORT)
    services.tenant_select(user=admin_member, tenant=tenant)
    services.apikey_create(tenant=tenant, scopes=["retrieve"], name="voice router")
    hours = tmp_path / "hours.md"
    hours.write_text(HOURS)
    parking = tmp_path / "parking.md"
    parking.write_text(PARKING)
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(EMPTY_PDF)
    url = live_server.url

    # Log in through the Django admin's login page.
    browser.get(f"{url}/kb/files/")
    assert "/accounts/login/" in browser.current_url
    browser.find_element(By.ID, "id_username").send_keys("alice")
    browser.find_element(By.ID, "id_password").send_keys("pw-alice")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    _wait(browser, 30).until(ec.presence_of_element_located((By.ID, "kb-upload-form")))
    assert browser.current_url.endswith("/kb/files/")
    assert "Bright Smile Dental" in browser.find_element(By.ID, "kb-current-tenant").text

    # Upload three files at once with the file picker (no worker yet: they stay queued).
    browser.find_element(By.ID, "kb-file-input").send_keys("\n".join(str(p) for p in (hours, parking, scan)))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#kb-selected-files li")) == 3
    browser.find_element(By.ID, "kb-upload-submit").click()
    _wait(browser, 30).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".messagelist"), "Uploaded 3 files"))

    # And a policy file by drag and drop onto the drop zone.
    zone = browser.find_element(By.ID, "kb-dropzone")
    browser.execute_script(DROP_JS, zone, "phone-rules.md", POLICY)
    assert "phone-rules.md" in browser.find_element(By.ID, "kb-selected-files").text
    Select(browser.find_element(By.ID, "id_kind")).select_by_value("policy")
    browser.find_element(By.ID, "kb-upload-submit").click()
    _wait(browser, 30).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".messagelist"), "Uploaded 1 file"))

    docs = {d.name: d for d in models.Document.objects.filter(tenant=tenant)}
    assert set(docs) == {"hours.md", "parking.md", "scan.pdf", "phone-rules.md"}
    assert docs["phone-rules.md"].kind == models.Kind.POLICY
    hours_doc = docs["hours.md"]
    assert _status_of(browser, hours_doc.pk) == "queued"
    assert browser.execute_script("return document.getElementById('kb-files-table').dataset.kbPolling;") == "1"

    # Now the worker runs; the page must follow without a reload.
    browser.execute_script("window.kbNoReload = 'still here';")
    start_worker()
    seen: set[str] = set()

    def all_settled(driver: Any) -> bool:
        statuses = {name: _status_of(driver, doc.pk) for name, doc in docs.items()}
        seen.update(statuses.values())
        return all(s in ("ready", "failed") for s in statuses.values())

    _wait(browser, 120).until(all_settled)
    assert browser.execute_script("return window.kbNoReload;") == "still here", "the page was reloaded"
    assert "queued" in seen or "ingesting" in seen
    assert _status_of(browser, hours_doc.pk) == "ready"
    assert _status_of(browser, docs["scan.pdf"].pk) == "failed"
    # Polling stops once nothing is in flight (and then nothing is swapped any more).
    _wait(browser, 10).until(
        lambda d: d.find_element(By.ID, "kb-files-table").get_attribute("data-kb-polling") == "0"
    )
    failed_badge = browser.find_element(By.CSS_SELECTOR, f"#doc-{docs['scan.pdf'].pk} .kb-badge")
    assert failed_badge.get_attribute("title"), "a failed file shows its reason on hover"
    screenshot("01-kb-files")

    # The document detail: metadata, ingest history with timings, chunks.
    browser.find_element(By.LINK_TEXT, "hours.md").click()
    _wait(browser, 30).until(ec.presence_of_element_located((By.ID, "kb-chunks")))
    assert "Saturday from 9 am to noon" in browser.find_element(By.ID, "kb-chunks").text
    assert browser.find_elements(By.CSS_SELECTOR, ".kb-jobs-history .kb-timings")
    screenshot("02-document-detail")

    # The failed file's detail shows the reason too.
    browser.get(f"{url}/kb/files/{docs['scan.pdf'].pk}/")
    assert browser.find_element(By.ID, "kb-doc-error").text

    # Ask a question as a caller would.
    browser.find_element(By.ID, "kb-nav-retrieval").click()
    _wait(browser, 30).until(ec.presence_of_element_located((By.ID, "kb-retrieval-form")))
    browser.execute_script("window.kbNoReload = 'still here';")
    query = browser.find_element(By.ID, "id_query")
    query.clear()
    query.send_keys("are you open on saturday?")
    browser.find_element(By.ID, "kb-ask").click()
    _wait(browser, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#kb-hits .kb-hit")))
    assert browser.execute_script("return window.kbNoReload;") == "still here", "htmx swapped the result in"
    hits = browser.find_element(By.ID, "kb-hits").text
    assert "hours.md" in hits and "Saturday" in hits
    assert "Never give a medical diagnosis" in browser.find_element(By.ID, "kb-policy-block").text
    screenshot("03-retrieval-test")

    # Open the audit row the test wrote.
    recall = RecallAudit.objects.get(tenant=tenant)
    assert recall.is_test and recall.source == "ui_test"
    browser.find_element(By.ID, "kb-audit-link").click()
    _wait(browser, 30).until(ec.presence_of_element_located((By.ID, "kb-recall-query")))
    assert browser.find_element(By.ID, "kb-recall-query").text == "are you open on saturday?"
    assert browser.find_element(By.ID, "kb-recall-test").text == "test"
    assert "hours.md" in browser.find_element(By.ID, "kb-recall-hits").text
    screenshot("05-audit-detail")
    # A few calls from the voice router, so the list looks like a working day.
    for question, session, caller in (
        ("where can I park", "call-7f3a", "+1 555 0134"),
        ("is there parking on Elm Street", "call-7f3a", "+1 555 0134"),
        ("do you see emergencies on sunday", "call-91c2", "+1 555 0178"),
    ):
        retrieval.retrieve(tenant=tenant, query=question, session_id=session, caller=caller)
    browser.find_element(By.ID, "kb-nav-audit").click()
    _wait(browser, 30).until(ec.presence_of_element_located((By.ID, f"recall-{recall.pk}")))
    screenshot("04-audit-list")

    # Ingest jobs, then API keys (create one: shown once).
    browser.find_element(By.ID, "kb-nav-jobs").click()
    _wait(browser, 30).until(ec.presence_of_element_located((By.ID, "kb-failures")))
    assert "scan.pdf" in browser.find_element(By.ID, "kb-failures").text
    screenshot("06-ingest-jobs")
    browser.find_element(By.ID, "kb-nav-keys").click()
    _wait(browser, 30).until(ec.presence_of_element_located((By.ID, "kb-key-form")))
    browser.find_element(By.ID, "id_name").send_keys("reporting script")
    browser.find_element(By.ID, "kb-create-key").click()
    _wait(browser, 30).until(ec.presence_of_element_located((By.ID, "kb-new-key-value")))
    assert browser.find_element(By.ID, "kb-new-key-value").get_attribute("value").startswith("kb_")
    screenshot("07-api-keys")

    # Delete the file, confirming on the confirmation page.
    browser.find_element(By.ID, "kb-nav-files").click()
    _wait(browser, 30).until(ec.presence_of_element_located((By.ID, f"delete-{hours_doc.pk}")))
    browser.find_element(By.ID, f"delete-{hours_doc.pk}").click()
    _wait(browser, 30).until(ec.presence_of_element_located((By.ID, "kb-confirm-delete")))
    assert browser.find_element(By.ID, "kb-delete-name").text == "hours.md"
    browser.find_element(By.ID, "kb-confirm-delete").click()
    _wait(browser, 30).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".messagelist"), "Deleted"))
    assert not browser.find_elements(By.ID, f"doc-{hours_doc.pk}")
    assert not models.Document.objects.filter(pk=hours_doc.pk).exists()
    assert not models.Chunk.objects.filter(document_id=hours_doc.pk).exists()

    # Search narrows the table as you type (htmx, no reload).
    browser.execute_script("window.kbNoReload = 'still here';")
    browser.find_element(By.ID, "id_q").send_keys("park")
    _wait(browser, 30).until(lambda d: _status_of(d, docs["scan.pdf"].pk) == "")
    assert _status_of(browser, docs["parking.md"].pk) == "ready"
    assert browser.execute_script("return window.kbNoReload;") == "still here"
    assert "q=park" in browser.current_url

    # The tenant switcher moves to the other tenant (support there: personal uploads only).
    Select(browser.find_element(By.ID, "kb-tenant-select")).select_by_visible_text("Other Co (otherco)")
    _wait(browser, 30).until(ec.text_to_be_present_in_element((By.ID, "kb-current-tenant"), "Other Co"))
    assert not browser.find_elements(By.ID, "id_scope")  # no choice of a shared upload
    assert "Upload personal files" in browser.find_element(By.ID, "kb-upload").text
    assert "parking.md" not in browser.find_element(By.ID, "kb-files-table").text


def test_hostile_names_and_text_render_harmlessly_in_the_browser(
    browser: Any, live_server: Any, admin_member: Any, tenant: models.Tenant, client: Any,
) -> None:
    import io

    name = '"><img src=x onerror="window.kbPwned=1">.md'
    services.document_upload(
        tenant=tenant, fileobj=io.BytesIO(b"<script>window.kbPwned=2</script> Parking is free."), filename=name,
        auto_ingest=False,
    )
    client.force_login(admin_member)
    cookie = client.cookies["sessionid"]
    browser.get(f"{live_server.url}/static/admin/css/base.css")
    browser.add_cookie({"name": "sessionid", "value": cookie.value, "path": "/"})
    browser.get(f"{live_server.url}/kb/files/")
    link = _wait(browser, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".kb-doc-link")))
    assert link.text == '"><img src=x onerror="window.kbPwned=1">.md'
    assert browser.execute_script("return window.kbPwned;") is None
    assert not browser.find_elements(By.CSS_SELECTOR, "#kb-files-table img")
    link.click()
    _wait(browser, 30).until(ec.presence_of_element_located((By.ID, "kb-doc-name")))
    assert browser.execute_script("return window.kbPwned;") is None
