"""Slow senders against the real server (`ankiserv serve`'s gunicorn, reachable directly):
connections that dribble their heads or bodies are cut off in time, one address cannot
hold many arriving requests, and meanwhile another user's requests are answered at once.

The attacker connects from 127.0.0.2 and the user from 127.0.0.1 (both loopback), so the
per-address limit tells them apart as it would two hosts.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.server import RunningServer, add_user_in_process, start_server

pytestmark = pytest.mark.e2e

ARRIVAL_TIMEOUT_S = 3
ATTACKER, USER = "127.0.0.2", "127.0.0.1"


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[RunningServer, str, str]]:
    # One worker with two threads: stock gthread is stalled by two slow senders.
    server = start_server(tmp_path / "server", db_url, workers=1, ANKISERV_THREADS="2",
                          ANKISERV_REQUEST_ARRIVAL_TIMEOUT_S=str(ARRIVAL_TIMEOUT_S))
    name, password = f"user-{uuid.uuid4().hex[:8]}", "a good password"
    add_user_in_process(server, name, password)
    try:
        yield server, name, _token(server, name, password)
    finally:
        server.stop()


def _token(server: RunningServer, name: str, password: str) -> str:
    answer = _api(server, "POST", "/api/v1/token", None,
                  {"username": name, "password": password})
    return str(answer["token"])


def _api(server: RunningServer, method: str, path: str, token: str | None,
         body: Any = None, timeout: float = 10) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method,
                                     headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())


def _connect(server: RunningServer, source: str) -> socket.socket:
    return socket.create_connection(_connect_address(server), timeout=30,
                                    source_address=(source, 0))


def _dribble(server: RunningServer, start: bytes, outcome: dict[str, Any]) -> None:
    """Send `start`, then a byte every half second until the server answers or hangs up."""
    began = time.monotonic()
    try:
        with _connect(server, ATTACKER) as conn:
            conn.sendall(start)
            conn.settimeout(0.5)
            while time.monotonic() - began < 20:
                try:
                    answer = conn.recv(200)
                    outcome.update(answer=answer, after=time.monotonic() - began)
                    return
                except TimeoutError:
                    conn.sendall(b"x")
    except OSError as e:
        outcome.update(answer=repr(e), after=time.monotonic() - began)


SLOW_STARTS = {
    "token body": (b"POST /api/v1/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                   b"\r\nContent-Length: 100000\r\n\r\n{\"username\": \""),
    "chunked body": (b"POST /api/v1/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n"),
    "head": b"GET /api/v1/decks HTTP/1.1\r\nHost: x\r\nX-Slow: ",
    "request line": b"GET /api/v1/decks?q=",
}


def test_slow_senders_are_cut_off_and_others_are_answered_meanwhile(
        served: tuple[RunningServer, str, str]) -> None:
    server, _, token = served
    kinds = [*SLOW_STARTS] * 3 + ["logged-in body"] * 4  # 16: the per-address limit
    logged_in = (b"POST /api/v1/notes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + token.encode()
                 + b"\r\nContent-Length: 100000\r\n\r\n{")
    outcomes: list[dict[str, Any]] = [{"kind": kind} for kind in kinds]
    threads = [threading.Thread(target=_dribble, daemon=True, args=(
        server, SLOW_STARTS.get(kind, logged_in), outcome))
        for kind, outcome in zip(kinds, outcomes, strict=True)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)

    latencies = []
    while any(thread.is_alive() for thread in threads):
        began = time.monotonic()
        assert "items" in _api(server, "GET", "/api/v1/decks", token, timeout=10)
        latencies.append(time.monotonic() - began)
        time.sleep(0.1)
    for thread in threads:
        thread.join()

    assert len(latencies) >= 10
    assert max(latencies) < 1.0, f"an ordinary request waited {max(latencies):.1f} s"
    for outcome in outcomes:
        answer, after = outcome["answer"], outcome["after"]
        assert isinstance(answer, bytes) and answer.startswith(b"HTTP/1.1 408"), outcome
        assert ARRIVAL_TIMEOUT_S - 0.5 < after < ARRIVAL_TIMEOUT_S + 2.5, outcome
    assert "cut off a request from 127.0.0.2 arriving too slowly" in server.log()
    assert _refused(server, "too_slow") == len(kinds)


def test_one_address_cannot_hold_more_than_its_share_of_arriving_requests(
        served: tuple[RunningServer, str, str]) -> None:
    server, _, token = served
    held = [_connect(server, ATTACKER) for _ in range(16)]
    try:
        for conn in held:
            conn.sendall(b"GET /api/v1/decks HTTP/1.1\r\n")
        # still young: they might be a busy address's requests waiting for the event loop
        with _connect(server, ATTACKER) as more:
            more.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            more.settimeout(5)
            assert more.recv(100).startswith(b"HTTP/1.1 200")
        time.sleep(1.2)  # now they are slow
        with _connect(server, ATTACKER) as extra:
            extra.sendall(b"GET /api/v1/decks HTTP/1.1\r\nHost: x\r\n\r\n")
            extra.settimeout(5)
            assert extra.recv(100).startswith(b"HTTP/1.1 429")
        assert _refused(server, "too_many") == 1
        # another address is served as usual
        assert "items" in _api(server, "GET", "/api/v1/decks", token, timeout=2)
    finally:
        for conn in held:
            conn.close()
    time.sleep(0.3)  # once they are gone, the address is served again
    with _connect(server, ATTACKER) as again:
        again.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        again.settimeout(5)
        assert again.recv(100).startswith(b"HTTP/1.1 200")


def test_a_large_body_sent_slowly_but_steadily_is_served(
        served: tuple[RunningServer, str, str]) -> None:
    """Longer than the arrival timeout, but above the minimum rate: not cut off."""
    server, _, token = served
    basic = next(int(nt["id"]) for nt in _api(server, "GET", "/api/v1/notetypes", token)["items"]
                 if nt["name"] == "Basic")
    text = "ü" * 100_000
    body = json.dumps({"notes": [{"notetype_id": basic, "fields": {"Front": text, "Back": "b"},
                                  "tags": []}]}).encode()
    head = (b"POST /api/v1/notes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    began = time.monotonic()
    with _connect(server, USER) as conn:
        conn.sendall(head)
        for at in range(0, len(body), 8192):  # about 40 KiB/s, for about 5 s
            conn.sendall(body[at:at + 8192])
            time.sleep(0.2)
        answer = _read_all(conn)
    assert time.monotonic() - began > ARRIVAL_TIMEOUT_S
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    nid = json.loads(answer.split(b"\r\n\r\n", 1)[1])["ids"][0]
    stored = _api(server, "GET", f"/api/v1/notes/{nid}", token)
    assert stored["fields"][0] == text


def test_a_client_that_stops_reading_its_answer_is_cut_off(
        served: tuple[RunningServer, str, str]) -> None:
    """Answers bigger than the socket buffers, never read: the threads come free."""
    server, _, token = served
    basic = next(int(nt["id"]) for nt in _api(server, "GET", "/api/v1/notetypes", token)["items"]
                 if nt["name"] == "Basic")
    big = [{"notetype_id": basic, "fields": {"Front": f"{i} " + "x" * 900_000, "Back": ""},
            "tags": []} for i in range(12)]
    _api(server, "POST", "/api/v1/notes", token, {"notes": big}, timeout=60)
    readers = []
    for _ in range(2):  # as many as the server has threads
        conn = socket.socket()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.bind((ATTACKER, 0))
        conn.connect(_connect_address(server))
        conn.sendall(b"GET /api/v1/notes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                     + token.encode() + b"\r\n\r\n")
        readers.append(conn)
    try:
        time.sleep(1)  # both threads are sending by now
        began = time.monotonic()
        assert "items" in _api(server, "GET", "/api/v1/decks", token, timeout=20)
        assert time.monotonic() - began < ARRIVAL_TIMEOUT_S + 2
    finally:
        for conn in readers:
            conn.close()
    assert "cut off an answer to 127.0.0.2 reading too slowly" in server.log()


def _connect_address(server: RunningServer) -> tuple[str, int]:
    address = urlsplit(server.url)
    assert address.hostname is not None and address.port is not None
    return address.hostname, address.port


def test_expect_100_continue_gets_one_interim_answer_then_the_final_one(
        served: tuple[RunningServer, str, str]) -> None:
    server, name, _ = served
    body = json.dumps({"username": name, "password": "a good password"}).encode()
    with _connect(server, USER) as conn:
        conn.sendall(b"POST /api/v1/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nExpect: 100-continue\r\nConnection: close\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n")
        conn.settimeout(5)
        assert conn.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.sendall(body)
        answer = _read_all(conn)
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    assert b"100 Continue" not in answer
    assert b'"token"' in answer


def _refused(server: RunningServer, reason: str) -> float:
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    name = f'ankiserv_requests_refused_on_arrival_total{{reason="{reason}"}} '
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def _read_all(conn: socket.socket) -> bytes:
    conn.settimeout(30)
    parts = []
    while part := conn.recv(65536):
        parts.append(part)
    return b"".join(parts)


def test_what_the_parser_would_wait_on_is_refused_at_once(db_url: str, tmp_path: Path) -> None:
    """A head too large to finish (431), a chunked body that is not chunked (400), and
    chunk framing past the payload limit (413): each answered without a thread waiting."""
    server = start_server(tmp_path / "server", db_url, workers=1, ANKISERV_THREADS="1",
                          ANKISERV_MAX_PAYLOAD_MB="1")
    chunked = (b"POST /api/v1/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
    try:
        for start, status in (
            (b"GET /api/v1/decks HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"p" * 70_000, b"431"),
            (chunked + b"not hex\r\n", b"400"),
            (chunked + b"1;" + b"e" * 2000, b"400"),
            (chunked + b"1\r\nx\r\n" * 200_000, b"413"),  # 1.2 MB of framing, 200 KB of data
        ):
            with _connect(server, USER) as conn:
                conn.settimeout(10)
                with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                    conn.sendall(start)  # and then nothing more
                answer = conn.recv(200)
            assert answer.startswith(b"HTTP/1.1 " + status), (start[:60], answer)
        # the only thread is free
        with urllib.request.urlopen(server.url + "/health", timeout=5) as answer:
            assert answer.status == 200
    finally:
        server.stop()


def test_pipelined_requests_are_each_answered(served: tuple[RunningServer, str, str]) -> None:
    server, _, token = served
    auth = b"Authorization: Bearer " + token.encode() + b"\r\n"
    with _connect(server, USER) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /api/v1/decks HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n"
                     b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answers = _read_all(conn)
    assert answers.count(b"HTTP/1.1 200") == 3, answers


def test_a_stopping_server_does_not_wait_for_requests_still_arriving(
        db_url: str, tmp_path: Path) -> None:
    """A connection that sent nothing is closed at once, a request half sent gets 503
    after a short grace: stopping takes seconds, not the arrival timeout."""
    server = start_server(tmp_path / "server", db_url, workers=1)
    idle, partial = _connect(server, USER), _connect(server, USER)
    try:
        partial.sendall(b"POST /api/v1/token HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
        time.sleep(0.5)
        began = time.monotonic()
        server.stop()
        assert time.monotonic() - began < 10
        partial.settimeout(5)
        assert partial.recv(100).startswith(b"HTTP/1.1 503")
        idle.settimeout(5)
        assert idle.recv(100) == b""
    finally:
        idle.close()
        partial.close()
