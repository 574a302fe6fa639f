"""Malformed HTTP framing against the real server (gunicorn in front of ankiserv): a 400,
never a 500 or a stuck worker, and the server goes on answering."""

from __future__ import annotations

import socket
import urllib.request
from urllib.parse import urlsplit

import pytest

from tests.support.server import RunningServer

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
