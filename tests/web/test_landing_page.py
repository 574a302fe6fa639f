"""The landing page in a real browser, on the real server under a base path: what this
server is, whether it is ready, and what to enter in each client."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.server import RunningServer, start_server
from tests.web.conftest import PHONE, screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("web")
    server = start_server(data / "server", f"sqlite:///{data / 'ankiserv.db'}", workers=1,
                          ANKISERV_BASE_PATH="/anki/")
    yield server
    server.stop()


def test_the_landing_page_says_what_to_enter_in_each_client(
        served: RunningServer, page: Any) -> None:
    page.goto(served.url + "/anki/")
    address = f"http://{urlsplit(served.url).netloc}/anki/"
    assert page.title() == "ankiserv — Anki sync server"
    assert page.inner_text("h1") == "Sync Anki with this server"
    assert page.inner_text("[role=status]") == "The server is up and ready to sync."
    assert page.inner_text("#address") == address
    text = page.inner_text("main")
    for expected in ("Tools → Preferences → Syncing", "Custom sync server",
                     "Settings → Syncing → Custom server", f"SYNC_ENDPOINT={address}sync/",
                     f"SYNC_ENDPOINT_MEDIA={address}msync/", f"{address}msync/"):
        assert expected in text, expected
    # the stylesheet applied and the QR code loaded, under the base path and the CSP
    assert page.eval_on_selector("header.site", "e => getComputedStyle(e).display") == "flex"
    assert page.eval_on_selector(".qr img", "e => e.complete && e.naturalWidth") > 100
    screenshot(page, "landing")


def test_the_page_reads_on_a_phone(served: RunningServer, page: Any) -> None:
    page.set_viewport_size(PHONE)
    page.goto(served.url + "/anki/")
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"the page is {wide} px wide on a 390 px phone"


def test_the_address_comes_from_the_public_url_when_set(tmp_path: Path, page: Any) -> None:
    server = start_server(tmp_path / "server", f"sqlite:///{tmp_path / 'db.sqlite'}",
                          workers=1, ANKISERV_PUBLIC_URL="https://anki.example.org/sync-here")
    try:
        page.goto(server.url + "/")
        assert page.inner_text("#address") == "https://anki.example.org/sync-here/"
        assert page.get_attribute(".qr img", "alt") == \
            "QR code of the address https://anki.example.org/sync-here/"
    finally:
        server.stop()


def test_pages_forbid_scripts_and_framing(served: RunningServer) -> None:
    with urllib.request.urlopen(served.url + "/anki/", timeout=10) as answer:
        policy = answer.headers["Content-Security-Policy"]
        assert answer.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "frame-ancestors 'none'" in policy
