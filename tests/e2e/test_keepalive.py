"""Kept-alive connections: idle ones stay open (Anki's HTTP client reuses a connection after
pauses of several seconds, closing a large collection before a full upload, say, and a
server that closed it meanwhile makes that request fail with a network error), and the
next request is answered whenever and however it arrives."""

from __future__ import annotations

import http.client
import json
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.server import add_user_in_process, start_server

PAUSE_S = 4  # gunicorn's default keep-alive is 2 s


def test_a_connection_idle_for_seconds_is_still_served(tmp_path: Path) -> None:
    running = start_server(tmp_path / "server", f"sqlite:///{tmp_path / 'keepalive.db'}",
                           workers=1)
    try:
        parts = urlsplit(running.url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        conn.request("GET", "/health")
        first = conn.getresponse()
        first.read()
        assert first.status == 200 and not first.will_close
        sock = conn.sock
        time.sleep(PAUSE_S)
        conn.request("GET", "/health")
        second = conn.getresponse()
        second.read()
        assert second.status == 200
        assert conn.sock is sock, "the server closed the idle connection"
        conn.close()
    finally:
        running.stop()


class _Answers:
    """Reads answers off one connection, keeping what arrives beyond each."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.data = sock, b""

    def _fill(self) -> None:
        more = self.sock.recv(65536)
        if not more:
            raise ConnectionError("the server closed the connection")
        self.data += more

    def head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self.data:
            self._fill()
        head, self.data = self.data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        fields = dict(line.lower().split(": ", 1) for line in lines[1:])
        return int(lines[0].split()[1]), fields

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        status, fields = self.head()
        size = int(fields.get("content-length", "0"))
        while len(self.data) < size:
            self._fill()
        body, self.data = self.data[:size], self.data[size:]
        return status, fields, body


def test_requests_sent_as_soon_as_an_answer_arrives_are_answered_whatever_their_shape(
        tmp_path: Path) -> None:
    """The thread that answered waits briefly for the next request on the connection: one
    that arrives whole is served there, anything else is finished by the event loop."""
    running = start_server(tmp_path / "server", f"sqlite:///{tmp_path / 'keepalive.db'}",
                           workers=1)
    add_user_in_process(running, "ann", "a good password")
    login = json.dumps({"username": "ann", "password": "a good password"}).encode()
    post = (b"POST /api/v1/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
    sized = post + f"Content-Length: {len(login)}\r\n\r\n".encode()
    chunked = post + b"Transfer-Encoding: chunked\r\n\r\n"
    chunks = f"{len(login):x}\r\n".encode() + login + b"\r\n0\r\n\r\n"
    health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    try:
        parts = urlsplit(running.url)
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            answers = _Answers(sock)
            for pieces in (
                [health],
                [sized + login],
                [chunked + chunks],
                [sized, login],  # the body after the thread stopped waiting
                [chunked + chunks[:5], chunks[5:]],
                [health + health],  # pipelined
            ):
                for i, piece in enumerate(pieces):
                    if i:
                        time.sleep(0.2)
                    sock.sendall(piece)
                for _ in range(2 if pieces == [health + health] else 1):
                    status, fields, body = answers.answer()
                    assert status in (200, 201), (pieces, status, body)
                    assert fields.get("connection") != "close"
            sock.sendall(sized.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"))
            assert answers.head() == (100, {})
            sock.sendall(login)
            status, _, body = answers.answer()
            assert status == 201 and b'"token"' in body
    finally:
        running.stop()


def test_a_request_dribbled_right_after_an_answer_is_still_cut_off(tmp_path: Path) -> None:
    running = start_server(tmp_path / "server", f"sqlite:///{tmp_path / 'keepalive.db'}",
                           workers=1, ANKISERV_REQUEST_ARRIVAL_TIMEOUT_S="2")
    try:
        parts = urlsplit(running.url)
        with socket.create_connection((parts.hostname, parts.port), timeout=15) as sock:
            answers = _Answers(sock)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\n")
            assert answers.answer()[0] == 200
            began = time.monotonic()
            sock.sendall(b"Host: x\r\n")  # and no end to the head
            assert answers.answer()[0] == 408
            assert 1.5 < time.monotonic() - began < 10
    finally:
        running.stop()
