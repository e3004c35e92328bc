"""Debian's headless Chromium, driven by Playwright, for the dashboard's browser tests.

One browser per test module (``browser``), a fresh page per test (``page``, with a
:class:`Watch` on what it must not do) and ``shot`` for screenshots. A test module
takes the fixtures it uses as module attributes::

    from tests import _chromium

    browser = _chromium.browser
    page = _chromium.page

CI installs Chromium (``.ci/run``), so there a missing browser fails the test;
elsewhere it is skipped with the command that installs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "VIEWPORT", "Watch", "browser", "page", "shot"]


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI installs Chromium, but {CHROMIUM} is missing")
    pytest.skip(f"needs Chromium at {CHROMIUM} (Debian: apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module's tests."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


class Watch:
    """What a page did that it must not: dialogs, script errors, CSP violations."""

    def __init__(self, page: Any) -> None:
        self.dialogs: list[str] = []
        self.page_errors: list[str] = []
        self.csp: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", self._console)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp.append(message.text)

    def assert_clean(self) -> None:
        assert self.dialogs == []
        assert self.page_errors == []
        assert self.csp == []


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh context, its :class:`Watch` as ``page.watch``."""
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    tab.watch = Watch(tab)
    yield tab
    context.close()


@pytest.fixture
def shot(page: Any, tmp_path: Path) -> Callable[[str], Path]:
    """Save a full-page screenshot under the test's ``tmp_path`` and print its path."""

    def take(name: str) -> Path:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    return take
