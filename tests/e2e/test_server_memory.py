"""A server's memory stays flat as users log in: each argon2 check allocates 19 MiB, which
glibc would otherwise keep in every worker thread's arena (about 90 MB after 40 logins)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.e2e.wire_client import host_key
from tests.support.processes import pss_mb, with_children
from tests.support.server import start_server

LOGINS = 40


def test_logins_do_not_grow_the_servers_memory(tmp_path: Path) -> None:
    running = start_server(tmp_path / "server", f"sqlite:///{tmp_path / 'memory.db'}",
                           workers=4)
    try:
        name, password = f"user-{uuid.uuid4().hex[:8]}", "pass-memory"
        running.add_user(name, password)
        host_key(running.url, name, password)  # every worker has served a request
        host_key(running.url, name, password)
        before = pss_mb(with_children(running.process.pid))
        with ThreadPoolExecutor(8) as pool:  # several threads of each worker log users in
            list(pool.map(lambda _: host_key(running.url, name, password), range(LOGINS)))
        grown = pss_mb(with_children(running.process.pid)) - before
        assert grown < 30, f"{LOGINS} logins grew the server by {grown:.0f} MB"
    finally:
        running.stop()
