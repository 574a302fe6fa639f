"""Connections opened together are shared among the workers. The workers share one
listening socket and the first to wake used to take every connection waiting: ten load-test
users connecting at once all landed on one worker, which then did all their work (for as
long as they kept their connections) while the other idled."""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.server import start_server, worker_pids

CLIENTS = 10


def _fd_targets(pid: int) -> dict[str, str]:
    """What each of the process's file descriptors points at."""
    targets = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
    return targets


def _socket_inodes(pid: int) -> set[str]:
    return {t[8:-1] for t in _fd_targets(pid).values() if t.startswith("socket:[")}


def _accepting(pid: int, listener_inode: str) -> bool:
    """Whether the worker's event loop watches the listening socket (it has loaded the
    application and runs)."""
    for fd, target in _fd_targets(pid).items():
        if target != f"socket:[{listener_inode}]":
            continue
        try:
            for other in os.listdir(f"/proc/{pid}/fdinfo"):
                if f"tfd: {int(fd):8d}" in Path(f"/proc/{pid}/fdinfo/{other}").read_text():
                    return True
        except OSError:
            continue
    return False


def _listener_inode(port: int) -> str:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
            return fields[9]
    raise AssertionError(f"nothing listens on {port}")


def _peer_ports_by_inode() -> dict[str, int]:
    """Every IPv4 TCP socket's inode and its remote port."""
    ports = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        ports[fields[9]] = int(fields[2].split(":")[1], 16)
    return ports


def test_clients_connecting_at_once_are_spread_over_the_workers(tmp_path: Path) -> None:
    running = start_server(tmp_path / "server", f"sqlite:///{tmp_path / 'spread.db'}",
                           workers=2)
    parts = urlsplit(running.url)
    address = (parts.hostname or "", parts.port or 0)
    listener, deadline = _listener_inode(address[1]), time.monotonic() + 60
    workers = worker_pids(running)
    while not all(_accepting(worker, listener) for worker in workers):
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.1)
    clients = [socket.create_connection(address, timeout=10) for _ in range(CLIENTS)]
    try:
        for client in clients:
            client.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        for client in clients:
            assert client.recv(100).startswith(b"HTTP/1.1 200")
        ours = {client.getsockname()[1] for client in clients}
        by_inode = _peer_ports_by_inode()
        held: Counter[int] = Counter()
        for worker in workers:
            held[worker] = sum(by_inode.get(inode) in ours for inode in _socket_inodes(worker))
        assert sum(held.values()) == CLIENTS, held
        assert len(held) == 2 and min(held.values()) >= CLIENTS // 4, held
    finally:
        for client in clients:
            client.close()
        running.stop()
