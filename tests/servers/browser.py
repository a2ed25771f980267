"""Debian's Chromium driven by Playwright (sync API), headless, with the flags this closed network needs.

Without the background-networking flags Chromium keeps trying to reach Google's hosts, which this
machine refuses.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers import unavailable

CHROMIUM = os.environ.get("RELANCE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium ``playwright.sync_api.Browser``; open a fresh context/page per test.

    Module-scoped on purpose: while Playwright's sync API is alive its event loop counts as running in this
    thread, so ``asyncio.run`` fails. Keep asyncio tests out of browser test modules.
    """
    if not shutil.which(CHROMIUM):
        unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable(f"playwright is not installed: {exc}")
    manager = sync_playwright()
    playwright = manager.start()
    try:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            unavailable(f"chromium did not start: {exc}")
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context (no cookies shared between tests)."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()
