"""Headless Chromium (Debian's chromium + chromedriver) driven by Selenium, and screenshots."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Every run saves screenshots under KB_DATA_DIR (so a test run leaves the checkout clean);
# scripts/screenshots.sh points KB_SCREENSHOT_DIR at docs/screenshots to refresh the README's.
SCREENSHOTS = Path(
    os.environ.get("KB_SCREENSHOT_DIR")
    or Path(os.environ.get("KB_DATA_DIR") or Path(__file__).resolve().parents[2] / ".kbdata") / "screenshots"
)
WIDTH = 1440


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    skip = pytest.mark.skip(reason="needs /usr/bin/chromium and /usr/bin/chromedriver (scripts/ensure-chromium.sh)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="kb-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", f"--window-size={WIDTH},1000", "--force-device-scale-factor=1",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    # The browser console (CSP violations are reported there) for driver.get_log("browser").
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def screenshot(browser: Any) -> Callable[[str], Path]:
    """Save the whole current page as docs/screenshots/<name>.png (for the README)."""

    def shoot(name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        height = browser.execute_script(
            "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight);"
        )
        browser.set_window_size(WIDTH, min(max(int(height) + 140, 700), 4000))
        path = SCREENSHOTS / f"{name}.png"
        browser.save_screenshot(str(path))
        browser.set_window_size(WIDTH, 1000)
        return path

    return shoot
