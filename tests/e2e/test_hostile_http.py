"""Malformed HTTP framing against the real server (gunicorn in front of ankiserv): a 400,
never a 500 or a stuck worker, and the server goes on answering. Well-formed chunked API
bodies are read like sized ones; request paths have one spelling, under a base path too."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from adapters.http.paths import AMBIGUOUS_PATH
from tests.support.server import RunningServer, add_user_in_process, start_server

pytestmark = pytest.mark.e2e

MALFORMED = {
    "chunk size not hex": b"ZZZ\r\nabc\r\n0\r\n\r\n",
    "chunk shorter than its size": b"5\r\nabc\r\n0\r\n\r\n",
    "chunk size of 40 hex digits": b"f" * 40 + b"\r\nabc\r\n0\r\n\r\n",
    "chunk size negative": b"-3\r\nabc\r\n0\r\n\r\n",
}


def _status(server: RunningServer, raw: bytes) -> bytes:
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(raw)
        conn.shutdown(socket.SHUT_WR)
        return conn.recv(64).split(b"\r\n")[0]


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_chunked_bodies_are_400(server: RunningServer, body: bytes) -> None:
    head = b"POST /sync/meta HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert _status(server, head + body) == b"HTTP/1.1 400 Bad Request"
    with urllib.request.urlopen(f"{server.url}/health", timeout=10) as answer:
        assert answer.status == 200


def test_chunked_and_content_length_together_are_400(server: RunningServer) -> None:
    raw = (b"POST /sync/meta HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           b"Content-Length: 5\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    assert _status(server, raw) == b"HTTP/1.1 400 Bad Request"


def _call(server: RunningServer, method: str, path: str, body: Any = None,
          headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request with `path` sent exactly as given; a body that is an iterator of bytes
    goes chunked, without Content-Length."""
    address = urlsplit(server.url)
    conn = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {},
                     encode_chunked=isinstance(body, Iterator))
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def _token(server: RunningServer, base: str = "") -> str:
    name, password = f"chunky-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    add_user_in_process(server, name, password)
    status, body = _call(server, "POST", f"{base}/api/v1/token", json.dumps(
        {"username": name, "password": password}).encode(),
        {"Content-Type": "application/json"})
    assert status == 201, body
    return str(json.loads(body)["token"])


def _pieces(data: bytes, size: int = 7) -> Iterator[bytes]:
    return iter([data[i:i + size] for i in range(0, len(data), size)])


def test_chunked_api_bodies_are_read_like_sized_ones(server: RunningServer) -> None:
    token = _token(server)
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    status, body = _call(server, "GET", "/api/v1/notetypes", headers=auth)
    basic = next(nt["id"] for nt in json.loads(body)["items"] if nt["name"] == "Basic")
    note = {"notetype_id": basic, "fields": {"Front": "chunked ünïcode", "Back": "b"}}
    status, body = _call(server, "POST", "/api/v1/notes",
                         _pieces(json.dumps({"notes": [note]}).encode()), auth)
    assert status == 201, body
    nid = json.loads(body)["ids"][0]
    status, body = _call(server, "POST", "/djs/dapi/addNotes", _pieces(json.dumps(
        {"deck": "Chunked", "notes": [{"model": "Basic", "fields": ["djs", ""]}]}).encode()),
        auth)
    assert status == 200, body
    status, body = _call(server, "GET", "/djs/dapi/notes", _pieces(json.dumps(
        {"ids": [nid]}).encode()), auth)
    assert status == 200, body
    assert [n["fields"] for n in json.loads(body)["notes"]] == [["chunked ünïcode", "b"]]


def test_a_chunked_api_body_over_the_limit_is_413(server: RunningServer) -> None:
    auth = {"Authorization": f"Bearer {_token(server)}", "Content-Type": "application/json"}
    big = iter([b'{"notes": [{"fields": {"Front": "'] + [b"x" * (1 << 20)] * 17 + [b'"}}]}'])
    status, body = _call(server, "POST", "/api/v1/notes", big, auth)
    assert status == 413, body


@pytest.fixture(scope="module")
def under_anki(db_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[RunningServer]:
    running = start_server(Path(tmp_path_factory.mktemp(f"base-path-{backend}")), db_url,
                           workers=1, ANKISERV_BASE_PATH="/anki/")
    yield running
    running.stop()


@pytest.mark.parametrize("path", ["/anki/api%2fv1%2ftags", "/anki/api%2Fv1/tags",
                                  "/%61nki/api/v1/tags", "/anki/api/v1/t%61gs",
                                  "/anki/api/v1/%2e%2e/v1/tags", "/anki/api/v1/tags%5C",
                                  "/anki/api/v1/%00", "/anki%2fapi/v1/tags",
                                  "/anki/sync/host%4bey"])
def test_encoded_separators_and_unreserved_characters_are_400(
    under_anki: RunningServer, path: str
) -> None:
    token = _token(under_anki, "/anki")
    status, body = _call(under_anki, "GET", path, headers={"Authorization": f"Bearer {token}"})
    assert status == 400, body
    assert AMBIGUOUS_PATH.encode() in body


def test_paths_spelled_plainly_and_other_encodings_still_work(under_anki: RunningServer
                                                              ) -> None:
    auth = {"Authorization": f"Bearer {_token(under_anki, '/anki')}"}
    assert _call(under_anki, "GET", "/anki/api/v1/tags", headers=auth)[0] == 200
    assert _call(under_anki, "GET", "/anki/api/v1/notes?q=%C3%A9t%C3%A9%20x%2F",
                 headers=auth)[0] == 200
    assert _call(under_anki, "GET", "/anki/api/v1/n%C3%B6tes%20x", headers=auth)[0] == 404
    assert _call(under_anki, "GET", "/anki/health")[0] == 200
