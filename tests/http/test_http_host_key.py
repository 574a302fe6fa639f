"""`sync/hostKey`: logging in with a username and password (protocol §2)."""

from __future__ import annotations

import math
import re
import statistics
import time
import uuid

import pytest

from tests.http.harness import Account, Api

URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")


def secret_bits(key: str) -> float:
    """Entropy the key's secret part can carry, judged from its alphabet and length."""
    _user, _dot, secret = key.partition(".")
    if re.fullmatch(r"[0-9a-f]+", secret):
        return 4.0 * len(secret)
    if re.fullmatch(r"[A-Za-z0-9_-]+", secret):
        return 6.0 * len(secret)
    return math.log2(len(set(secret)) or 1) * len(secret)


def test_right_credentials_get_a_url_safe_key_with_128_random_bits(
    sqlite_api: Api, account: Account
) -> None:
    reply = sqlite_api.client.host_key(account.name, account.password)
    body = reply.json()
    assert set(body) == {"key"}
    key = body["key"]
    assert URL_SAFE.fullmatch(key), key
    assert secret_bits(key) >= 128
    assert key.startswith(f"{account.id}.")


def test_two_logins_give_different_keys_and_both_work(sqlite_api: Api, account: Account) -> None:
    client = sqlite_api.client
    first = client.login(account.name, account.password)
    second = client.login(account.name, account.password)
    assert first != second
    assert first.partition(".")[2] != second.partition(".")[2]
    for key in (first, second, account.key):
        assert client.meta(key).status == 200


def test_host_key_also_accepts_a_body_with_content_size(sqlite_api: Api, account: Account
                                                        ) -> None:
    reply = sqlite_api.client.host_key(account.name, account.password, content_size=True)
    assert sqlite_api.client.meta(reply.json()["key"]).status == 200


def test_wrong_password_is_refused_with_403(sqlite_api: Api, account: Account) -> None:
    assert sqlite_api.client.host_key(account.name, account.password + "x").status == 403
    assert sqlite_api.client.host_key(account.name, "").status == 403


def test_unknown_user_is_refused_with_403(sqlite_api: Api, account: Account) -> None:
    reply = sqlite_api.client.host_key(f"nobody-{uuid.uuid4().hex}", account.password)
    assert reply.status == 403


def test_username_is_matched_exactly_apart_from_case(sqlite_api: Api, account: Account) -> None:
    assert sqlite_api.client.host_key(account.name.upper(), account.password).status == 403


def test_username_with_surrounding_whitespace_is_trimmed(
    sqlite_api: Api, account: Account
) -> None:
    reply = sqlite_api.client.host_key(f"  {account.name}\t\n", account.password)
    assert sqlite_api.client.meta(reply.json()["key"]).status == 200


def test_password_is_not_trimmed(sqlite_api: Api, account: Account) -> None:
    assert sqlite_api.client.host_key(account.name, f" {account.password} ").status == 403


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"p": "secret"}, id="no-u"),
        pytest.param({"u": "someone"}, id="no-p"),
        pytest.param({}, id="empty-object"),
        pytest.param({"u": 5, "p": "secret"}, id="u-not-string"),
        pytest.param({"u": "someone", "p": None}, id="p-null"),
    ],
)
def test_missing_or_mistyped_credentials_are_a_bad_request(sqlite_api: Api, payload: object
                                                           ) -> None:
    assert sqlite_api.client.post_json("hostKey", payload).status == 400


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"[]", id="array"),
        pytest.param(b'"user:pass"', id="string"),
        pytest.param(b"null", id="null"),
        pytest.param(b"42", id="number"),
    ],
)
def test_json_that_is_not_an_object_is_a_bad_request(sqlite_api: Api, payload: bytes) -> None:
    assert sqlite_api.client.post("hostKey", payload).status == 400


def test_host_key_payload_that_is_not_json_is_a_bad_request(sqlite_api: Api) -> None:
    assert sqlite_api.client.post("hostKey", b'{"u": "a", "p": ').status == 400


def _median_seconds(call: object, tries: int = 5) -> float:
    assert callable(call)
    times = []
    for _ in range(tries):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_unknown_user_and_wrong_password_take_similar_time(
    sqlite_api: Api, account: Account
) -> None:
    client = sqlite_api.client
    unknown = f"nobody-{uuid.uuid4().hex}"
    # Warm up both paths once (first calls pay for imports and caches).
    assert client.host_key(unknown, "x").status == 403
    assert client.host_key(account.name, "x").status == 403

    def wrong_password() -> None:
        assert client.host_key(account.name, "wrong").status == 403

    def unknown_user() -> None:
        assert client.host_key(unknown, "wrong").status == 403

    ratio = _median_seconds(wrong_password) / _median_seconds(unknown_user)
    assert 0.5 <= ratio <= 2.0, f"wrong password / unknown user time ratio {ratio:.2f}"



@pytest.mark.parametrize("field", ["u", "p"])
def test_credentials_with_an_unpaired_surrogate_are_refused_not_a_server_error(
    sqlite_api: Api, account: Account, field: str
) -> None:
    credentials = {"u": account.name, "p": account.password}
    credentials[field] = "\ud800" + credentials[field]
    # json.dumps writes the lone surrogate as the escape "\ud800", as a hostile client could.
    assert sqlite_api.client.post_json("hostKey", credentials).status in (400, 403)
