"""Idle keep-alive connections stay open: Anki's HTTP client reuses a connection after
pauses of several seconds (closing a large collection before a full upload, say), and a
server that closed it meanwhile makes that request fail with a network error."""

from __future__ import annotations

import http.client
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.server import start_server

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
