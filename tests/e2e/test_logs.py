"""The server's log, as an operator reads it: one format for every line (ankiserv's and
gunicorn's), a request id and the user's name on sync lines, the answer's real status,
and never a password, host key, session key or token, nor the name of a failed HTTP Basic
login (neither in ankiserv's lines nor in the access line), nor a key in a query string
(old media clients send theirs there). Real client, real server."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from anki.errors import SyncError

from tests.support.anki_client import Profile, add_basic_note
from tests.support.server import RunningServer, add_user_in_process, start_server

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["human", "json"])
def logged(request: pytest.FixtureRequest, db_url: str, tmp_path: Path
           ) -> Iterator[tuple[RunningServer, str]]:
    server = start_server(tmp_path / "server", db_url, workers=1,
                          ANKISERV_LOG_FORMAT=request.param, ANKISERV_LOG_LEVEL="DEBUG")
    yield server, request.param
    server.stop()


def test_one_format_names_users_and_keeps_secrets_out(
    logged: tuple[RunningServer, str], tmp_path: Path
) -> None:
    server, kind = logged
    name, password = f"Zoë-{uuid.uuid4().hex[:8]}", f"pass-{uuid.uuid4().hex}"
    add_user_in_process(server, name, password)
    device = Profile.create(tmp_path / "device")
    with pytest.raises(SyncError):  # a failed login, logged
        device.login(name, "wrong-guess-77", server.endpoint)
    auth = device.login(name, password, server.endpoint)
    add_basic_note(device.col, "logged")
    device.sync()  # full upload
    add_basic_note(device.col, "again")
    device.sync()  # normal sync
    request = urllib.request.Request(
        f"{server.url}/api/v1/token", method="POST",
        data=json.dumps({"username": name, "password": password}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        token = json.loads(answer.read())["token"]
    # What people type into a browser's Basic prompt is too often the password.
    typed = f"typed-password-{uuid.uuid4().hex}"
    basic = base64.b64encode(f"{typed}:{typed}".encode()).decode()
    assert _get(f"{server.url}/api/v1/decks", Authorization=f"Basic {basic}") == 401
    # Old media clients (2.1.22-2.1.56) begin with the host key in the query.
    assert _get(f"{server.url}/msync/begin?k={auth.hkey}&v=anki,2.1.50,linux") == 200
    assert _get(f"{server.url}/api/v1/decks?limit=1&token={token}&{token}&key={token}",
                Authorization=f"Bearer {token}") == 200
    device.close()
    server.stop()

    lines = [line for line in server.log().splitlines() if line.strip()]
    assert lines
    if kind == "json":
        parsed = [json.loads(line) for line in lines]  # every line, gunicorn's too
        assert {"time", "level", "logger", "message"} <= set(parsed[0])
        # Lines logged while handling a request (not the start-up ones).
        handled = [p for p in parsed if p["logger"] in ("gunicorn.access", "ankiserv.sync",
                                                         "ankiserv.http")]
        assert handled and all(p.get("request_id") for p in handled), handled[:3]
        assert any(p.get("user") == name for p in parsed)
        statuses = [p["message"] for p in parsed if "/api/v1/token" in p["message"]]
    else:
        pattern = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \S+( \[.*\])?: ")
        # A line that does not start a record continues one (gunicorn's settings at
        # DEBUG, a traceback): indented.
        starts = [line for line in lines if not line.startswith((" ", "\t"))]
        assert all(pattern.match(line) for line in starts), [
            line for line in starts if not pattern.match(line)][:3]
        assert any(f"user={name}" in line for line in lines)
        statuses = [line for line in lines if "/api/v1/token" in line]
    assert any(" 201 " in s for s in statuses), statuses
    assert any("hostKey -> 403" in line for line in lines), "the failed login, as answered"
    for secret in (password, "wrong-guess-77", auth.hkey, token, typed):
        assert secret not in server.log(), "a secret reached the log"
    assert any("/msync/begin?k=[redacted]&v=" in line for line in lines), "the access line"


def _get(url: str, **headers: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)



def test_no_access_line_when_off(db_url: str, tmp_path: Path) -> None:
    """With the access log off (the default; the test servers turn it on) nothing is
    written, nor formatted, per request, while gunicorn's own lines still come through."""
    server = start_server(tmp_path / "server", db_url, workers=1, ANKISERV_ACCESS_LOG="0")
    try:
        name = f"quiet-{uuid.uuid4().hex[:8]}"
        add_user_in_process(server, name, "pw")
        device = Profile.create(tmp_path / "device")
        device.login(name, "pw", server.endpoint)
        add_basic_note(device.col, "unlogged")
        device.sync()
        assert _get(f"{server.url}/health") == 200
    finally:
        server.stop()
    log = server.log()
    assert "Booting worker" in log
    assert "gunicorn.access" not in log and "/sync/" not in log
