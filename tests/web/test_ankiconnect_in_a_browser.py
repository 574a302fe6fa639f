"""AnkiConnect called from a web page in a real browser, as web-based tools call it: a
page on an origin AnkiConnect admits by default (the loopback address, any port) gets
answers through CORS, preflight included; a page on any other origin is refused by the
browser and adds nothing."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.server import RunningServer, add_user_in_process, start_server

pytestmark = pytest.mark.e2e

TOOL_PAGE = b"<!doctype html><title>a tool</title><p>A tool that adds cards.</p>"
CALL = """async ([url, body]) => {
    try {
        const answer = await fetch(url, {method: "POST", body: JSON.stringify(body),
                                         headers: {"Content-Type": "application/json"}});
        return {status: answer.status, json: await answer.json()};
    } catch (e) {
        return {failed: String(e)};
    }
}"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("ankiconnect-browser")
    server = start_server(data / "server", f"sqlite:///{data / 'ankiserv.db'}", workers=1,
                          ANKISERV_BASE_PATH="/anki/")
    yield server
    server.stop()


class _ToolPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(TOOL_PAGE)))
        self.end_headers()
        self.wfile.write(TOOL_PAGE)

    def log_message(self, *_: Any) -> None:
        pass


def _tool_page_on(host: str) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer((host, 0), _ToolPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{host}:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def loopback_page() -> Iterator[str]:
    yield from _tool_page_on("127.0.0.1")


@pytest.fixture(scope="module")
def other_page() -> Iterator[str]:
    yield from _tool_page_on("127.0.0.2")


@pytest.fixture
def key(served: RunningServer) -> str:
    name = f"tool-{uuid.uuid4().hex[:6]}"
    add_user_in_process(served, name, "pw")
    request = urllib.request.Request(
        served.url + "/anki/api/v1/token",
        data=json.dumps({"username": name, "password": "pw", "label": "a tool"}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(json.loads(answer.read())["token"])


NOTE = {"deckName": "Default", "modelName": "Basic", "fields": {"Front": "page", "Back": "x"}}


def test_a_page_on_the_loopback_address_adds_and_finds_notes(
        served: RunningServer, loopback_page: str, key: str, page: Any) -> None:
    endpoint = served.url + "/anki/ankiconnect"
    page.goto(loopback_page)

    def call(body: dict[str, Any]) -> Any:
        return page.evaluate(CALL, [endpoint, body])

    assert call({"action": "requestPermission", "version": 6}) == {"status": 200, "json": {
        "result": {"permission": "granted", "requireApikey": True, "version": 6},
        "error": None}}
    added = call({"action": "addNote", "version": 6, "key": key, "params": {"note": NOTE}})
    assert added["status"] == 200 and added["json"]["error"] is None
    found = call({"action": "findNotes", "version": 6, "key": key,
                  "params": {"query": "front:page"}})
    assert found["json"] == {"result": [added["json"]["result"]], "error": None}
    # Yomitan speaks version 2: bare results.
    assert call({"action": "deckNames", "version": 2, "key": key}) == {
        "status": 200, "json": ["Default"]}


@pytest.mark.console_allows("CORS policy")
@pytest.mark.console_allows("Failed to load resource")
def test_a_page_on_another_origin_is_refused_by_the_browser(
        served: RunningServer, other_page: str, key: str, page: Any) -> None:
    endpoint = served.url + "/anki/ankiconnect"
    page.goto(other_page)
    refused = page.evaluate(CALL, [endpoint, {"action": "addNote", "version": 6, "key": key,
                                              "params": {"note": NOTE}}])
    assert "failed" in refused, refused  # the browser hides the answer (no CORS grant)
    # Nothing was added: asked from outside a browser, with the same key.
    request = urllib.request.Request(
        endpoint, data=json.dumps({"action": "findNotes", "version": 6, "key": key,
                                   "params": {"query": ""}}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert json.loads(answer.read()) == {"result": [], "error": None}
