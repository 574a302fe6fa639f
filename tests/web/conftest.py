"""A real browser for the web app's tests: headless Chromium (Debian's `chromium`, which
`./run test` installs where it can) driven by Playwright. Without it these tests skip,
except under CI=true, where they fail."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "web"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}; CI must run the browser tests", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        _unavailable("no chromium on PATH (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page; console errors (a CSP violation, a
    failed load) fail the test, but for those a `console_allows` marker expects."""
    context = browser.new_context(viewport=DESKTOP)
    opened = context.new_page()
    allowed = [m.args[0] for m in request.node.iter_markers("console_allows")]
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    unexpected = [e for e in errors if not any(a in e for a in allowed)]
    assert not unexpected, unexpected


def screenshot(page: Any, name: str) -> None:
    """Phone and desktop screenshots of the page as it is, kept in docs/web when
    ANKISERV_SCREENSHOTS=1 (to refresh the pictures docs/web.md shows)."""
    keep = os.environ.get("ANKISERV_SCREENSHOTS") == "1"
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        shot = page.screenshot(full_page=True)
        if keep:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            (SCREENSHOTS / f"{name}-{label}.png").write_bytes(shot)
    page.set_viewport_size(DESKTOP)
