"""A thread that answered a request waits a moment on its connection and serves the next
request itself when it arrives whole; everything else goes back to the event loop with the
bytes already read, in order, and nothing is lost or read twice."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.http.unreader import SocketUnreader

from entrypoints.gunicorn_worker import (
    LINGER_S,
    ArrivalGuardedWorker,
    ArrivalLimits,
    ReplaySocket,
    request_end,
)

SIZED = b"POST /sync/meta HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED = (b"POST /sync/meta HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n0\r\n\r\n")
GET = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


def _worker(*, threads: int = 2, busy: int = 1, queued: int = 0, alive: bool = True) -> Any:
    worker: Any = ArrivalGuardedWorker.__new__(ArrivalGuardedWorker)
    worker.alive, worker.busy_threads, worker.queued = alive, busy, queued
    worker.cfg = SimpleNamespace(threads=threads)
    worker.limits = ArrivalLimits(arrival_timeout_s=5, max_arriving_per_address=0,
                                  max_body_bytes=1000, spool_dir=Path("/nonexistent"))
    return worker


@pytest.fixture
def conn() -> Iterator[tuple[Any, socket.socket]]:
    server, client = socket.socketpair()
    replay = ReplaySocket(server, send_timeout_s=5)
    yield SimpleNamespace(sock=replay, parser=SimpleNamespace(
        unreader=SocketUnreader(replay))), client
    replay.close()
    client.close()


def _replayed(conn: Any) -> bytes:
    """What the parser reads next: what was put back, then the replay, then the socket."""
    conn.sock.settimeout(0.05)
    parts = [conn.parser.unreader.buf.getvalue()]
    conn.parser.unreader.buf = type(conn.parser.unreader.buf)()
    while True:
        try:
            data = conn.sock.recv(65536)
        except TimeoutError:
            break
        if not data:
            break
        parts.append(data)
    return b"".join(parts)


@pytest.mark.parametrize("request_bytes", [SIZED, CHUNKED, GET], ids=["sized", "chunked", "get"])
def test_a_whole_request_is_served_by_the_thread(
        conn: tuple[Any, socket.socket], request_bytes: bytes) -> None:
    connection, client = conn
    client.sendall(request_bytes)
    assert _worker()._next_request_here(connection)
    assert connection.sock.whole
    assert connection.parser.unreader.buf.getvalue() == b""
    assert _replayed(connection) == request_bytes


def test_a_request_split_across_the_wait_goes_back_with_its_start(
        conn: tuple[Any, socket.socket]) -> None:
    connection, client = conn
    client.sendall(SIZED[:-3])
    assert not _worker()._next_request_here(connection)
    client.sendall(SIZED[-3:])
    assert _replayed(connection) == SIZED


@pytest.mark.parametrize("request_bytes", [
    SIZED.replace(b"Host: x", b"Host: x\r\nExpect: 100-continue"),  # the loop says Continue
    SIZED + GET,  # pipelined
    SIZED.replace(b"Content-Length: 5", b"Content-Length: 5000"),  # over the limit: refused
    b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",  # bad framing
], ids=["expect", "pipelined", "too-large", "bad-framing"])
def test_requests_the_event_loop_must_judge_go_back_unchanged(
        conn: tuple[Any, socket.socket], request_bytes: bytes) -> None:
    connection, client = conn
    client.sendall(request_bytes)
    assert not _worker()._next_request_here(connection)
    assert _replayed(connection) == request_bytes


def test_nothing_arriving_costs_only_the_short_wait(conn: tuple[Any, socket.socket]) -> None:
    connection, _ = conn
    began = time.monotonic()
    assert not _worker()._next_request_here(connection)
    assert LINGER_S <= time.monotonic() - began + 0.001 < 0.5
    assert connection.parser.unreader.buf.getvalue() == b""


def test_a_client_gone_is_left_for_the_event_loop_to_see(
        conn: tuple[Any, socket.socket]) -> None:
    connection, client = conn
    client.close()
    assert not _worker()._next_request_here(connection)
    assert connection.sock.recv(10) == b""


@pytest.mark.parametrize("worker", [
    _worker(threads=4, busy=2),  # another thread at work: the worker is under load
    _worker(threads=1, busy=1),  # none left for other connections
    _worker(threads=4, busy=1, queued=1),  # a request waits for a thread
    _worker(alive=False),  # stopping
], ids=["under-load", "one-thread", "request-waiting", "stopping"])
def test_no_wait_under_load_or_when_the_worker_stops(
        conn: tuple[Any, socket.socket], worker: Any) -> None:
    connection, client = conn
    client.sendall(SIZED)
    assert not worker._next_request_here(connection)
    assert _replayed(connection) == SIZED  # still on the socket, unread


def test_read_ahead_already_held_is_left_to_the_event_loop(
        conn: tuple[Any, socket.socket]) -> None:
    connection, client = conn
    connection.parser.unreader.unread(SIZED[:10])
    client.sendall(SIZED[10:])
    assert not _worker()._next_request_here(connection)
    assert _replayed(connection) == SIZED


@pytest.mark.parametrize(("data", "end"), [
    (SIZED, len(SIZED)),
    (SIZED[:-1], None),
    (SIZED[:20], None),
    (SIZED + GET, len(SIZED)),
    (CHUNKED, len(CHUNKED)),
    (CHUNKED[:-2], None),
    (CHUNKED.replace(b"5\r\nhello", b"zz\r\nhello"), -1),
    (GET, len(GET)),
])
def test_request_end(data: bytes, end: int | None) -> None:
    assert request_end(data, 1000) == end
