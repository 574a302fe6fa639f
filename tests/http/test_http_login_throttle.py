"""Failed logins are throttled on every way in (sync `hostKey`, legacy login, API token,
HTTP Basic, djankiserv token): 429 with `Retry-After`, other users unaffected, one
answer for unknown names and wrong passwords; `X-Forwarded-For` only from trusted
proxies. Every backend: the counts live in the database."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.login_throttle import ThrottleKind
from tests.http.harness import Account, Api, start_api
from tests.http.wire import SYNC_HEADER, frame, header_value

FREE = ThrottleKind.NAME.free


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    found = start_api(tmp_path / "data", db_url, login_throttle=True,
                      trusted_proxies="127.0.0.1/32")
    yield found
    found.close()


def _token(api: Api, name: str, password: str, address: str = "192.0.2.1") -> tuple[int, dict]:
    result = api.client.http.simulate_post(
        "/api/v1/token", json={"username": name, "password": password},
        headers={"X-Forwarded-For": address})
    return result.status_code, {"json": result.json, "headers": result.headers}


def test_sync_logins_get_429_with_retry_after_then_work_again(api: Api) -> None:
    account = api.new_account(login=False)
    for _ in range(FREE):
        assert api.client.host_key(account.name, "wrong").status == 403
    throttled = api.client.host_key(account.name, account.password)
    assert throttled.status == 429
    assert throttled.headers["retry-after"] == "1"
    assert throttled.payload == b"429 too many failed logins: try again in 1 s"
    other = api.new_account()  # someone else logs in and syncs meanwhile
    assert api.client.meta(other.key).status == 200
    time.sleep(1.05)
    assert api.client.login(account.name, account.password)


def test_legacy_logins_are_throttled_too(api: Api) -> None:
    account = api.new_account(login=False)
    for _ in range(FREE):
        api.client.host_key(account.name, "wrong")
    reply = api.client.host_key(account.name, account.password, version=8)
    assert reply.status == 429


def test_api_logins_say_the_same_for_unknown_names_and_wrong_passwords(api: Api) -> None:
    account = api.new_account(login=False)
    unknown = _token(api, f"nobody-{uuid.uuid4().hex}", "x")
    wrong = _token(api, account.name, "wrong")
    assert unknown[0] == wrong[0] == 401
    assert unknown[1]["json"] == wrong[1]["json"]
    for _ in range(FREE - 1):
        assert _token(api, account.name, "wrong")[0] == 401
    status, answer = _token(api, account.name, account.password)
    assert status == 429
    assert answer["headers"]["Retry-After"] == "1"
    assert answer["json"]["description"] == "too many failed logins: try again in 1 s"


def test_basic_and_djankiserv_logins_are_throttled(api: Api) -> None:
    account = api.new_account(login=False)
    wrong = base64.b64encode(f"{account.name}:wrong".encode()).decode()
    right = base64.b64encode(f"{account.name}:{account.password}".encode()).decode()
    http = api.client.http
    for _ in range(FREE):
        assert http.simulate_get("/api/v1/decks", headers={
            "Authorization": f"Basic {wrong}"}).status_code == 401
    assert http.simulate_get("/api/v1/decks", headers={
        "Authorization": f"Basic {right}"}).status_code == 429
    assert http.simulate_post("/djs/dapi/token", json={
        "username": account.name, "password": account.password}).status_code == 429


def test_forwarded_addresses_count_only_from_trusted_proxies(api: Api, tmp_path: Path) -> None:
    """Behind the trusted proxy (the test client's 127.0.0.1), each forwarded address is
    throttled on its own; from an untrusted peer the header is ignored."""
    attacker, neighbour = "198.51.100.66", "198.51.100.77"
    for _ in range(ThrottleKind.ADDRESS.free):
        assert _token(api, f"guess-{uuid.uuid4().hex}", "x", attacker)[0] == 401
    victim: Account = api.new_account(login=False)
    assert _token(api, victim.name, victim.password, attacker)[0] == 429
    assert _token(api, victim.name, victim.password, neighbour)[0] == 201

    # Trusts no one; a database of its own, where the test client's address is fresh.
    direct = start_api(tmp_path / "direct", login_throttle=True)
    try:
        for i in range(ThrottleKind.ADDRESS.free):  # "from" many addresses: one peer
            status, _ = _token(direct, f"guess-{uuid.uuid4().hex}", "x", f"203.0.113.{i}")
            assert status == 401
        other = direct.new_account(login=False)
        assert _token(direct, other.name, other.password, "203.0.113.250")[0] == 429
    finally:
        direct.close()


def test_well_formed_requests_during_throttling_are_not_slowed(api: Api) -> None:
    account = api.new_account(login=False)
    for _ in range(FREE):
        api.client.host_key(account.name, "wrong")
    start = time.monotonic()
    for _ in range(20):
        assert api.client.host_key(account.name, account.password).status == 429
    assert time.monotonic() - start < 2  # answered at once, no password hashing
    body = frame(b'{"u": "x", "p": "y"}')
    assert api.client.post_raw("hostKey", body, headers={
        SYNC_HEADER: header_value("")}).status_code in (403, 429)
