"""Connecting Microsoft 365 in a real headless Chromium, with a real django-q2 worker syncing.

Log in, press *Connect Microsoft 365* (the browser goes to the local identity server's
authorize endpoint and comes back to our callback), choose a OneDrive folder and share it
with the assistant, watch the backfill finish without reloading, change a file at the
source and press *Sync now*, and see the documents in the KB files list.
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

from connections import models
from knowledge import models as kb
from tests.conftest import Worker
from tests.fakes.msgraph_server import FakeMicrosoft

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ms(settings: Any, live_server: Any) -> Iterator[FakeMicrosoft]:
    with FakeMicrosoft() as fake:
        settings.KB_MS_CLIENT_ID, settings.KB_MS_CLIENT_SECRET = fake.client_id, fake.client_secret
        settings.KB_MS_AUTHORITY, settings.KB_MS_GRAPH_URL = fake.authority, fake.graph_url
        settings.KB_PUBLIC_URL = live_server.url  # the redirect URI brings the browser back here
        yield fake


@pytest.fixture
def sync_worker(worker_env: dict[str, str], ms: FakeMicrosoft) -> Iterator[Worker]:
    env = {**worker_env, "KB_MS_CLIENT_ID": ms.client_id, "KB_MS_CLIENT_SECRET": ms.client_secret,
           "KB_MS_AUTHORITY": ms.authority, "KB_MS_GRAPH_URL": ms.graph_url}
    handle = Worker(env).start()
    yield handle
    handle.kill()


def _wait(browser: Any, timeout: float = 90) -> WebDriverWait:
    return WebDriverWait(browser, timeout, poll_frequency=0.25, ignored_exceptions=(StaleElementReferenceException,))


def _runs_settled(browser: Any, count: int) -> bool:
    """``count`` runs listed and none queued or running (the table stops polling then)."""
    return bool(browser.execute_script(
        "const t = document.getElementById('kb-runs');"
        "return t && t.dataset.kbPolling === '0' && t.querySelectorAll('tr[id^=run-]').length === arguments[0];",
        count,
    ))


def test_an_admin_connects_microsoft_chooses_a_folder_and_syncs_in_a_real_browser(
    browser: Any, live_server: Any, ms: FakeMicrosoft, sync_worker: Worker, admin_member: Any, tenant: kb.Tenant,
    screenshot: Callable[[str], Path],
) -> None:
    store = ms.store
    drive = store.personal_drive_id
    reception = store.folder_add(drive_id=drive, name="Reception")
    private = store.folder_add(drive_id=drive, name="Private")
    prices = store.file_add(drive_id=drive, name="prices.txt", parent_id=reception,
                            content=b"A cleaning costs 80 euros and whitening 250 euros.")
    store.file_add(drive_id=drive, name="hours.md", parent_id=reception,
                   content=b"# Hours\n\nOpen Monday to Friday 8 to 5, Saturday 9 to noon.")
    store.file_add(drive_id=drive, name="salaries.txt", parent_id=private, content=b"Not for the assistant.")
    url = live_server.url

    browser.get(f"{url}/kb/connections/")
    assert "/accounts/login/" in browser.current_url
    browser.find_element(By.ID, "id_username").send_keys("alice")
    browser.find_element(By.ID, "id_password").send_keys("pw-alice")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    _wait(browser, 30).until(ec.presence_of_element_located((By.ID, "kb-connect-microsoft")))
    screenshot("10-connections-empty")

    # Connect: our redirect → the identity server's authorize endpoint → our callback.
    browser.find_element(By.ID, "kb-connect-microsoft").click()
    _wait(browser, 30).until(ec.presence_of_element_located((By.ID, "kb-connection-status")))
    assert browser.current_url.startswith(url)
    connection = models.Connection.objects.get(tenant=tenant, owner=admin_member)
    assert browser.current_url.rstrip("/").endswith(f"/kb/connections/{connection.pk}")
    assert browser.find_element(By.ID, "kb-connection-account").text == "dana@brightsmile.example"
    assert browser.find_element(By.ID, "kb-connection-status").get_attribute("data-kb-status") == "active"
    assert [r.path for r in ms.requests_to("/oauth2/v2.0/")] == ["/common/oauth2/v2.0/authorize",
                                                                 "/common/oauth2/v2.0/token"]

    # The source chooser arrives by htmx: pick the Reception folder, shared with the assistant.
    _wait(browser, 30).until(ec.presence_of_element_located((By.ID, "kb-roots-table")))
    label = next(el for el in browser.find_elements(By.CSS_SELECTOR, "#kb-roots-table label")
                 if el.text.strip().endswith("OneDrive / Reception"))
    row = label.find_element(By.XPATH, "./ancestor::tr")
    row.find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
    Select(row.find_element(By.CSS_SELECTOR, "select[name^=share_]")).select_by_value("tenant")
    screenshot("11-connection-choose-sources")
    browser.find_element(By.ID, "kb-save-sources").click()
    _wait(browser, 30).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".messagelist"), "1 source selected"))
    assert "Reception" in browser.find_element(By.ID, "kb-sources").text

    # The worker runs the backfill; the runs table follows without a reload.
    browser.execute_script("window.kbNoReload = 'still here';")
    _wait(browser, 150).until(lambda d: _runs_settled(d, 1))
    assert browser.execute_script("return window.kbNoReload;") == "still here", "the page was reloaded"
    runs = browser.find_element(By.ID, "kb-runs").text
    assert "Backfill" in runs and "created 2" in runs and "failed 0" in runs
    screenshot("12-connection-backfilled")

    # A change at the source, then "Sync now".
    store.file_edit(prices, b"A cleaning costs 95 euros and whitening 250 euros.")
    browser.find_element(By.ID, "kb-sync-now").click()
    _wait(browser, 150).until(lambda d: _runs_settled(d, 2))
    latest = browser.find_element(By.CSS_SELECTOR, "#kb-runs tbody tr:first-child").text
    assert "Delta" in latest and "updated 1" in latest and "succeeded" in latest.lower()

    # The documents in the KB files list, with their source; the private folder stayed out.
    docs = kb.Document.objects.filter(tenant=tenant, connection=connection)
    _wait(browser, 90).until(lambda _d: docs.filter(status="ready").count() == 2)
    browser.get(f"{url}/kb/files/")
    _wait(browser, 30).until(ec.presence_of_element_located((By.ID, "kb-files-table")))
    table = browser.find_element(By.ID, "kb-files-table").text
    assert "prices.txt" in table and "hours.md" in table and "OneDrive" in table
    assert "salaries.txt" not in table
    screenshot("13-kb-files-with-connection")
    doc = docs.get(name="prices.txt")
    browser.find_element(By.LINK_TEXT, "prices.txt").click()
    _wait(browser, 30).until(ec.presence_of_element_located((By.ID, "kb-chunks")))
    assert browser.current_url.rstrip("/").endswith(f"/kb/files/{doc.pk}")
    chunks = browser.find_element(By.ID, "kb-chunks").text
    assert "95 euros" in chunks and "80 euros" not in chunks
