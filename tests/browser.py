"""The console in a real browser: Debian's headless Chromium driven by Playwright's sync API.

Playwright never downloads a browser here: it launches the system's ``chromium`` (installed by
``scripts/services``, as Redis is). Tests skip outside CI when it is missing.

Screenshots of the pages are taken by the tests; with ``SHIFTSWITCH_SCREENSHOTS=1`` they are
written to ``docs/`` (the README shows them), else to the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from tests import ROOT

CHROMIUM = os.environ.get("SHIFTSWITCH_CHROMIUM", "/usr/bin/chromium")
DOCS = ROOT / "docs"
LAPTOP = {"width": 1366, "height": 860}
PHONE = {"width": 390, "height": 844}


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``)."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if os.environ.get("CI"):
            raise RuntimeError(
                f"no Chromium at {CHROMIUM}: run scripts/services (apt-get install chromium)"
            )
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield browser
        finally:
            browser.close()


def log_in(
    browser: Any,
    url: str,
    name: str,
    password: str,
    viewport: dict[str, int] = LAPTOP,
    bypass_csp: bool = False,
) -> Any:
    """A page of a new browser context, logged in to the console at ``url`` as ``name``
    (``bypass_csp``: the test may add a script of its own to the page, such as axe)."""
    context = browser.new_context(viewport=viewport, timezone_id="UTC", bypass_csp=bypass_csp)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{url}/")
    assert "/login" in page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")
    return page


class Screenshots:
    """Where a test's screenshots go: ``docs/`` when asked for, else ``tmp``."""

    def __init__(self, tmp: Path) -> None:
        self.folder = DOCS if os.environ.get("SHIFTSWITCH_SCREENSHOTS") == "1" else tmp

    def take(self, page: Any, name: str, *, full_page: bool = True) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"console-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path
