"""ankiserv behind nginx and Caddy (Debian's packages), under the sub-path `/anki/`, with
the configurations `docs/operations.md` shows: real clients sync through them (a full
upload of about 100 MB sent chunked, normal syncs, a full download), a client's
connection is kept alive across requests, the client's own address reaches ankiserv, and
so does the origin the browser addressed (API writes from that origin pass).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.http.wire import SYNC_HEADER, frame, header_value
from tests.support.anki_client import Profile, add_basic_note, content
from tests.support.server import (
    RunningServer,
    add_user_in_process,
    start_server,
    stop_process,
)

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
# 100 notes of 1 MB each (base64 of random bytes, which zstd cannot shrink): a full upload
# of about 100 MB on the wire.
NOTES, FIELD = 100, 768 * 1024


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(kind: str, port: int, upstream: str) -> str:
    """The configuration `docs/operations.md` shows, on a test port."""
    doc = (REPO / "docs" / "operations.md").read_text()
    start = doc.index(f"```{kind}\n") + len(kind) + 4
    body = doc[start:doc.index("```", start)]
    return body.replace("http://127.0.0.1:8080", upstream).replace("127.0.0.1:8080",
                                                                    upstream.split("//")[1])


def _nginx(work: Path, port: int, upstream: str) -> list[str]:
    (work / "logs").mkdir(parents=True)
    # Run as root (the test machine's user), nginx's workers would drop to a user who
    # cannot reach the test's temporary directory.
    user = "user root;" if os.geteuid() == 0 else ""
    (work / "nginx.conf").write_text(f"""
{user}
pid {work}/nginx.pid;
error_log {work}/logs/error.log;
events {{}}
http {{
    access_log {work}/logs/access.log;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    server {{
        listen 127.0.0.1:{port};
{_config("nginx", port, upstream)}
    }}
}}
""")
    return ["nginx", "-p", str(work), "-c", str(work / "nginx.conf"), "-g", "daemon off;"]


def _caddy(work: Path, port: int, upstream: str) -> list[str]:
    work.mkdir(parents=True)
    site = _config("caddy", port, upstream).replace("example.org", f"http://127.0.0.1:{port}")
    (work / "Caddyfile").write_text("{\n    admin off\n    auto_https off\n}\n" + site)
    return ["caddy", "run", "--config", str(work / "Caddyfile"), "--adapter", "caddyfile"]


@pytest.fixture(scope="module")
def backend_server(db_url: str, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("proxied"), db_url,
                           ANKISERV_BASE_PATH="/anki/", ANKISERV_TRUSTED_PROXIES="127.0.0.1",
                           ANKISERV_MAX_PAYLOAD_MB="400")
    yield running
    running.stop()


@pytest.fixture(params=["nginx", "caddy"])
def proxy(request: pytest.FixtureRequest, backend_server: RunningServer, tmp_path: Path
          ) -> Iterator[str]:
    """The proxy's base URL for clients: `http://127.0.0.1:<port>/anki/`."""
    kind = str(request.param)
    if shutil.which(kind) is None:
        if IN_CI:
            pytest.fail(f"{kind} is not installed (./run test installs it)")
        pytest.skip(f"{kind} is not installed")
    port = _free_port()
    builder = _nginx if kind == "nginx" else _caddy
    command = builder(tmp_path / kind, port, backend_server.url)
    log = (tmp_path / f"{kind}.out").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "HOME": str(tmp_path)})
    url = f"http://127.0.0.1:{port}/anki/"
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            assert process.poll() is None, (tmp_path / f"{kind}.out").read_text()
            assert time.monotonic() < deadline, f"{kind} did not start"
            time.sleep(0.1)
    yield url
    stop_process(process)
    log.close()


def test_real_clients_sync_through_the_proxy(
    proxy: str, backend_server: RunningServer, tmp_path: Path
) -> None:
    name, password = f"user-{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex[:8]
    backend_server.add_user(name, password)
    a, b = Profile.create(tmp_path / "a"), Profile.create(tmp_path / "b")
    try:
        for i in range(NOTES):
            add_basic_note(a.col, f"big {i}", base64.b64encode(os.urandom(FIELD)).decode())
        a.login(name, password, proxy)
        assert a.sync() == 4  # a full upload of about 100 MB, sent chunked
        b.login(name, password, proxy)
        assert b.sync() == 3  # and a full download
        add_basic_note(b.col, "from b")
        assert b.sync() == 0
        assert a.sync() == 0
        assert content(a.col) == content(b.col)
    finally:
        a.close()
        b.close()


def test_one_connection_serves_a_whole_sync(proxy: str) -> None:
    """The client keeps one connection to the proxy for request after request."""
    host, rest = proxy.removeprefix("http://").split("/", 1)
    conn = http.client.HTTPConnection(host, timeout=10)
    try:
        sockets = set()
        for _ in range(5):
            conn.request("GET", f"/{rest}health")
            answer = conn.getresponse()
            assert answer.status == 200
            answer.read()
            sockets.add(id(conn.sock))
        assert len(sockets) == 1 and conn.sock is not None
    finally:
        conn.close()


def test_the_clients_own_address_reaches_ankiserv(
    proxy: str, backend_server: RunningServer
) -> None:
    """A client on 127.0.0.2 (the proxy connects from 127.0.0.1, which ankiserv trusts):
    ankiserv logs the client's address, not the proxy's."""
    host, rest = proxy.removeprefix("http://").split("/", 1)
    address, port = host.split(":")
    name = f"nobody-{uuid.uuid4().hex[:8]}"
    conn = http.client.HTTPConnection(address, int(port), timeout=10,
                                      source_address=("127.0.0.2", 0))
    try:
        body = frame(json.dumps({"u": name, "p": "wrong"}).encode())
        conn.request("POST", f"/{rest}sync/hostKey", body=body,
                     headers={SYNC_HEADER: header_value("")})
        assert conn.getresponse().status == 403
    finally:
        conn.close()
    deadline = time.monotonic() + 5
    while f"failed login for '{name}' from 127.0.0.2" not in backend_server.log():
        assert time.monotonic() < deadline, "the client's address did not reach ankiserv"
        time.sleep(0.05)


def test_the_proxys_origin_is_ankiservs_own(proxy: str, backend_server: RunningServer
                                           ) -> None:
    """Through the proxy, a browser's Basic-authenticated write from a page of the same
    origin passes (X-Forwarded-Proto and -Host tell ankiserv which origin that is); one
    from another site's page, or from the upstream's own address, is refused."""
    host, rest = proxy.removeprefix("http://").split("/", 1)
    name, password = f"browser-{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex[:8]
    add_user_in_process(backend_server, name, password)
    basic = base64.b64encode(f"{name}:{password}".encode()).decode()
    statuses = []
    for origin in (f"http://{host}", "http://evil.example", backend_server.url):
        conn = http.client.HTTPConnection(host, timeout=10)
        try:
            conn.request("POST", f"/{rest}api/v1/decks", body=json.dumps(
                {"name": f"From {uuid.uuid4().hex[:6]}"}).encode(), headers={
                "Authorization": f"Basic {basic}", "Content-Type": "application/json",
                "Origin": origin})
            statuses.append(conn.getresponse().status)
        finally:
            conn.close()
    assert statuses == [201, 403, 403]
