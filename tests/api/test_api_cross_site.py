"""Writes another site's page could make a browser send with the credentials it stores
(HTTP Basic): a form posts `text/plain`, so API bodies must be JSON (415), and a write
without a bearer token whose `Origin` is another site is refused (403). Either way the
collection is unchanged, on every backend. Bearer tokens, which browsers never add by
themselves, and the sync endpoints are not concerned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from falcon import testing

from adapters.auth.passwords import Argon2PasswordHasher
from tests.api.conftest import BASE, User, new_user
from tests.http.harness import Api, start_api
from tests.http.wire import SYNC_HEADER, decode, frame, header_value

DJS = "/djs/dapi"
OWN = "http://falconframework.org"  # the test client's Host and scheme
FORM = '{"old": "mine", "new": "theirs", "pad": "="}'  # what enctype="text/plain" can make


def rename(user: User, headers: dict[str, str], body: str = '{"old":"mine","new":"theirs"}'
           ) -> testing.Result:
    return user.http.simulate_post(f"{BASE}/tags/rename", body=body.encode(), headers=headers)


def add_notes(user: User, headers: dict[str, str]) -> testing.Result:
    body = {"deck": "Planted", "notes": [{"model": "Basic", "fields": ["f", "b"]}]}
    return user.http.simulate_post(f"{DJS}/addNotes", body=json.dumps(body).encode(),
                                   headers=headers)


@pytest.fixture
def tagged(alice: User) -> User:
    alice.add_basic("front", tags=("mine",))
    return alice


def unchanged(user: User) -> tuple[Any, ...]:
    return user.meta(), user.stored_tags(), user.deck_names()


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/xml", None, "application/json; charset=iso-8859-1", "application/jsonx",
])
def test_a_body_that_is_not_json_is_415_and_changes_nothing(
    tagged: User, content_type: str | None
) -> None:
    before = unchanged(tagged)
    headers = {**tagged.basic, **({"Content-Type": content_type} if content_type else {})}
    for result in (rename(tagged, headers, FORM), add_notes(tagged, headers),
                   rename(tagged, {**headers, **tagged.auth}, FORM)):
        assert result.status_code == 415, (content_type, result.status_code, result.text)
        assert result.json["title"] == "Unsupported Media Type"
    assert unchanged(tagged) == before


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8",
    "application/merge-patch+json",
])
def test_json_content_types_are_accepted(tagged: User, content_type: str) -> None:
    result = rename(tagged, {**tagged.basic, "Content-Type": content_type})
    assert result.status_code == 200, result.text
    assert result.json == {"count": 1}


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "http://falconframework.org:8080"},  # same host, another port
    {"Origin": "https://falconframework.org"},  # same host, another scheme
    {"Origin": "null"},  # a sandboxed frame, a file, a redirect across sites
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
], ids=["other site", "other port", "other scheme", "null", "fetch cross-site",
        "fetch same-site"])
def test_a_basic_authenticated_write_from_another_site_is_403_and_changes_nothing(
    tagged: User, headers: dict[str, str]
) -> None:
    before = unchanged(tagged)
    json_basic = {**tagged.basic, "Content-Type": "application/json", **headers}
    for result in (rename(tagged, json_basic), add_notes(tagged, json_basic),
                   rename(tagged, {**json_basic, "Content-Type": "text/plain"}, FORM),
                   tagged.http.simulate_delete(f"{BASE}/decks/1", headers=json_basic)):
        assert result.status_code == 403, (result.status_code, result.text)
        assert result.json["title"] == "Forbidden"
    assert unchanged(tagged) == before


def test_logins_from_another_site_are_403(tagged: User) -> None:
    body = json.dumps({"username": tagged.name, "password": tagged.password}).encode()
    headers = {"Content-Type": "application/json", "Origin": "https://evil.example"}
    for path in (f"{BASE}/token", f"{DJS}/token"):
        assert tagged.http.simulate_post(path, body=body, headers=headers).status_code == 403


@pytest.mark.parametrize("origin", [OWN, "HTTP://FalconFramework.org:80"])
def test_basic_writes_from_the_same_origin_are_accepted(tagged: User, origin: str) -> None:
    headers = {**tagged.basic, "Content-Type": "application/json", "Origin": origin,
               "Sec-Fetch-Site": "same-origin"}
    assert rename(tagged, headers).json == {"count": 1}
    assert add_notes(tagged, headers).status_code == 200


def test_bearer_writes_and_basic_reads_are_not_checked_for_origin(tagged: User) -> None:
    other = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    headers = {**tagged.auth, "Content-Type": "application/json", **other}
    assert rename(tagged, headers).json == {"count": 1}
    assert add_notes(tagged, headers).status_code == 200
    assert tagged.http.simulate_get(f"{BASE}/tags", headers={**tagged.basic, **other}
                                    ).status_code == 200


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The app behind a trusted proxy at 127.0.0.1 (where the test client comes from)."""
    app = start_api(Path(tmp_path_factory.mktemp("proxied")), trusted_proxies="127.0.0.1")
    app.services.accounts.hasher = Argon2PasswordHasher(time_cost=1, memory_cost=64)
    yield app
    app.close()


def test_behind_a_trusted_proxy_the_forwarded_scheme_and_host_are_the_origin(
    proxied: Api
) -> None:
    user = new_user(proxied)
    user.add_basic("front", tags=("mine",))
    forwarded = {**user.basic, "Content-Type": "application/json",
                 "X-Forwarded-Proto": "https", "X-Forwarded-Host": "anki.example.org"}
    assert rename(user, {**forwarded, "Origin": OWN}).status_code == 403
    assert rename(user, {**forwarded, "Origin": "https://anki.example.org"}).status_code == 200
    # From a peer that is not the trusted proxy, the forwarded headers mean nothing.
    result = user.http.simulate_post(
        f"{BASE}/tags/rename", body=b'{"old":"theirs","new":"x"}', remote_addr="10.0.0.9",
        headers={**forwarded, "Origin": "https://anki.example.org"})
    assert result.status_code == 403
    assert user.stored_tags().keys() == {"theirs"}


def test_sync_requests_are_not_concerned(api: Api, alice: User) -> None:
    """Anki clients send zstd (v11) or multipart bodies, never JSON, with any headers."""
    body = frame(json.dumps({"u": alice.name, "p": alice.password}).encode())
    result = api.client.http.simulate_post("/sync/hostKey", body=body, headers={
        SYNC_HEADER: header_value(""), "Content-Type": "application/octet-stream",
        "Origin": "https://evil.example"})
    assert decode(result).json()["key"]
