"""The request socket of the reading worker: an answer's head waits for its body, so a
small answer leaves in one send, and nothing held is ever lost."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from entrypoints.gunicorn_worker import ReplaySocket

HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"


@pytest.fixture
def pair() -> Iterator[tuple[ReplaySocket, socket.socket]]:
    server, client = socket.socketpair()
    client.setblocking(False)
    replay = ReplaySocket(server, send_timeout_s=5)
    replay.replay(b"GET / HTTP/1.1\r\n\r\n", None, whole=True)
    yield replay, client
    replay.close()
    client.close()


def _received(client: socket.socket) -> list[bytes]:
    """What each read finds, until nothing more is there."""
    reads: list[bytes] = []
    while True:
        try:
            data = client.recv(65536)
        except BlockingIOError:
            return reads
        if not data:
            return reads
        reads.append(data)


def test_the_head_goes_out_with_the_body(pair: tuple[ReplaySocket, socket.socket]) -> None:
    replay, client = pair
    replay.sendall(HEAD)
    assert _received(client) == []
    replay.sendall(b"hello")
    assert b"".join(_received(client)) == HEAD + b"hello"


def test_a_head_without_body_goes_out_at_flush_or_close(
        pair: tuple[ReplaySocket, socket.socket]) -> None:
    replay, client = pair
    replay.sendall(HEAD)
    replay.flush()
    assert b"".join(_received(client)) == HEAD
    replay.replay(b"GET / HTTP/1.1\r\n\r\n", None, whole=True)
    replay.sendall(HEAD)
    replay.close()
    assert b"".join(_received(client)) == HEAD


def test_only_an_answers_first_send_is_held(pair: tuple[ReplaySocket, socket.socket]) -> None:
    """A body that looks like a head, or a second answer without a new request, is sent."""
    replay, client = pair
    replay.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad")
    assert b"".join(_received(client)).endswith(b"bad")
    replay.sendall(HEAD)  # no request replayed since: sent at once
    assert b"".join(_received(client)) == HEAD


def test_a_large_head_is_not_held(pair: tuple[ReplaySocket, socket.socket]) -> None:
    replay, client = pair
    big = b"HTTP/1.1 200 OK\r\nX-Big: " + b"x" * 20_000 + b"\r\n\r\n"
    replay.sendall(big)
    assert b"".join(_received(client)) == big
