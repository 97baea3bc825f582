"""Headless Chromium for every browser test: Playwright driving the system Chromium (installed by
``scripts/test-tools``; Playwright downloads no browser of its own)."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome", "chromium-headless-shell")) if p), None)
MISSING = "Chromium is not installed: bash scripts/test-tools (apt-get install chromium), then re-run"
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason=MISSING)


@contextmanager
def launched() -> Iterator[Browser]:
    """The system Chromium, headless, closed on exit (skips the test when there is none)."""
    if CHROMIUM is None:
        pytest.skip(MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for a test module (import this fixture into the module)."""
    with launched() as running:
        yield running


@contextmanager
def new_page(browser: Browser, width: int, height: int, *, timeout_ms: float = 60_000) -> Iterator[Page]:
    """A tab of its own (fresh cookies and storage) whose viewport is ``width`` x ``height`` CSS pixels
    at one device pixel per CSS pixel."""
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
    try:
        page = context.new_page()
        page.set_default_timeout(timeout_ms)
        page.set_default_navigation_timeout(timeout_ms)
        yield page
    finally:
        context.close()
