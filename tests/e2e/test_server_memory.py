"""A server's memory stays flat as users log in: each argon2 check allocates 19 MiB, which
glibc would otherwise keep in every worker thread's arena (about 90 MB after 40 logins)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.e2e.wire_client import host_key
from tests.support.server import start_server

LOGINS = 40


def pss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
    return total / 1024


def server_pids(root: int) -> list[int]:
    pids = [root]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            if ppid == root:
                pids.append(int(proc.name))
    return pids


def test_logins_do_not_grow_the_servers_memory(tmp_path: Path) -> None:
    running = start_server(tmp_path / "server", f"sqlite:///{tmp_path / 'memory.db'}",
                           workers=4)
    try:
        name, password = f"user-{uuid.uuid4().hex[:8]}", "pass-memory"
        running.add_user(name, password)
        host_key(running.url, name, password)  # every worker has served a request
        host_key(running.url, name, password)
        before = pss_mb(server_pids(running.process.pid))
        with ThreadPoolExecutor(8) as pool:  # several threads of each worker log users in
            list(pool.map(lambda _: host_key(running.url, name, password), range(LOGINS)))
        grown = pss_mb(server_pids(running.process.pid)) - before
        assert grown < 30, f"{LOGINS} logins grew the server by {grown:.0f} MB"
    finally:
        running.stop()
