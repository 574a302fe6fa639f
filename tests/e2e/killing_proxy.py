"""A forwarding HTTP proxy that can SIGKILL the server's worker at a chosen sync step.

The proxy sits between a real client and ankiserv. Armed with (method, moment), the
first request for `/sync/<method>` makes it kill the gunicorn worker either before
forwarding the request (the server never sees it) or after the server answered but
before the answer is relayed (the server did the work, the client never learns it).
A third moment, while the server works on the request, is for tests that can hold the
worker at a known point (a database lock) before the kill. The client always gets a
502, as it would from a reverse proxy in front of a dead worker.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from tests.support.server import RunningServer, worker_pids

BEFORE, DURING, AFTER = "before-forwarding", "while-working", "after-answer"
PASSED_REQUEST_HEADERS = ("anki-sync", "content-type")
PASSED_RESPONSE_HEADERS = ("anki-original-size", "content-type")


@dataclass
class Trap:
    method: str
    moment: str
    # DURING: `prepare` runs before forwarding, `wait` once the request is on its way to
    # the server, then the kill, then `after_kill`.
    prepare: Callable[[], None] | None = None
    wait: Callable[[], None] | None = None
    after_kill: Callable[[], None] | None = None
    fired: bool = False


class KillingProxy:
    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.trap: Trap | None = None
        self.killed: list[int] = []
        self._lock = threading.Lock()
        upstream = urllib.parse.urlsplit(server.url)
        handler = type("Handler", (_Handler,), {"proxy": self,
                                                "upstream": (upstream.hostname, upstream.port)})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def endpoint(self) -> str:
        return self.url + "/"

    def arm(self, method: str, moment: str, *, prepare: Callable[[], None] | None = None,
            wait: Callable[[], None] | None = None,
            after_kill: Callable[[], None] | None = None) -> Trap:
        assert (moment == DURING) == (wait is not None), "DURING needs a wait, others not"
        self.trap = Trap(method, moment, prepare, wait, after_kill)
        return self.trap

    def take_trap(self, method: str, moment: str) -> Trap | None:
        """The armed trap, once: when it matches this request and moment."""
        with self._lock:
            trap = self.trap
            if trap is None or trap.fired or trap.method != method or trap.moment != moment:
                return None
            trap.fired = True
            return trap

    def kill_worker(self) -> None:
        pids = worker_pids(self.server)
        assert len(pids) == 1, f"expected one gunicorn worker, found {pids}"
        os.kill(pids[0], signal.SIGKILL)
        self.killed.append(pids[0])

    def wait_for_new_worker(self, timeout: float = 30) -> int:
        """Wait until the gunicorn master has replaced the killed worker."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = [p for p in worker_pids(self.server) if p not in self.killed]
            if pids:
                return pids[0]
            time.sleep(0.05)
        raise AssertionError(f"no new worker after killing {self.killed}")

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    proxy: ClassVar[KillingProxy]
    upstream: ClassVar[tuple[str, int]]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._forward("GET")

    def do_POST(self) -> None:
        self._forward("POST")

    def _forward(self, verb: str) -> None:
        body = self._read_body()
        method = self.path.rstrip("/").rsplit("/", 1)[-1]
        if self.proxy.take_trap(method, BEFORE):
            self.proxy.kill_worker()
            self._reply(502, {}, b"worker killed before forwarding")
            return
        during = self.proxy.take_trap(method, DURING)
        if during is not None and during.wait is not None:
            if during.prepare is not None:
                during.prepare()
            threading.Thread(target=self._upstream_ignoring_errors, args=(verb, body),
                             daemon=True).start()
            during.wait()
            self.proxy.kill_worker()
            if during.after_kill is not None:
                during.after_kill()
            self._reply(502, {}, b"worker killed while working")
            return
        status, headers, data = self._upstream(verb, body)
        if self.proxy.take_trap(method, AFTER):
            self.proxy.kill_worker()
            self._reply(502, {}, b"worker killed after answering")
            return
        self._reply(status, headers, data)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _upstream(self, verb: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        host, port = self.upstream
        conn = http.client.HTTPConnection(host, port, timeout=120)
        try:
            headers = {k: v for k in PASSED_REQUEST_HEADERS if (v := self.headers.get(k))}
            conn.request(verb, self.path, body=body if verb == "POST" else None,
                         headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            passed = {k: v for k in PASSED_RESPONSE_HEADERS if (v := resp.getheader(k))}
            return resp.status, passed, data
        finally:
            conn.close()

    def _upstream_ignoring_errors(self, verb: str, body: bytes) -> None:
        # The worker dies under this request, as intended.
        with contextlib.suppress(OSError, http.client.HTTPException):
            self._upstream(verb, body)

    def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True
