"""The official sync server (`python -m anki.syncserver` from the test venv's `anki`),
started on a free port with a data folder of the test's choosing."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.support.server import stop_process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def official_server(base: Path, users: Mapping[str, str]) -> Iterator[str]:
    """Run the official server on `base` with `users` (SYNC_USER1=… and so on, plus
    PASSWORDS_HASHED if wanted); yield its endpoint (`http://127.0.0.1:PORT/`)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNC_", "PASSWORDS"))}
    env.update({"SYNC_HOST": "127.0.0.1", "SYNC_PORT": str(port), "SYNC_BASE": str(base),
                "RUST_LOG": "anki=warn", **users})
    base.mkdir(parents=True, exist_ok=True)
    log = (base.parent / f"{base.name}-official.log").open("ab")
    process = subprocess.Popen([sys.executable, "-m", "anki.syncserver"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the official server exited at start"
            try:
                urllib.request.urlopen(url + "health", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                assert time.monotonic() < deadline, "the official server did not start"
                time.sleep(0.1)
        yield url
    finally:
        stop_process(process)
        log.close()
