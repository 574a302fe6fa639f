"""Logging in to the JSON API: bearer tokens, HTTP Basic, revocation and refusals."""

from __future__ import annotations

import base64

import pytest
from falcon import testing

from tests.api.conftest import BASE, User
from tests.http.harness import Api


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def assert_401(result: testing.Result) -> None:
    assert result.status_code == 401, result.text
    assert set(result.json) == {"title", "description"}
    assert "Bearer" in result.headers["WWW-Authenticate"]


def test_login_returns_a_token_that_reads_the_collection(alice: User) -> None:
    result = alice.http.simulate_post(f"{BASE}/token",
                                      json={"username": alice.name, "password": alice.password})
    assert result.status_code == 201
    token = result.json["token"]
    assert token != alice.token
    read = alice.http.simulate_get(f"{BASE}/decks", headers={"Authorization": f"Bearer {token}"})
    assert read.status_code == 200
    assert [d["name"] for d in read.json["items"]] == ["Default"]


@pytest.mark.parametrize("body", [
    {"username": "nobody-at-all", "password": "x"},
    {"username": "{name}", "password": "wrong"},
    {"username": "{name}", "password": "{password}x"},
])
def test_login_with_wrong_credentials_is_401(alice: User, body: dict[str, str]) -> None:
    filled = {k: v.format(name=alice.name, password=alice.password) for k, v in body.items()}
    assert_401(alice.http.simulate_post(f"{BASE}/token", json=filled))


@pytest.mark.parametrize("body", [
    {},
    {"username": "a"},
    {"username": "", "password": "x"},
    {"username": "a", "password": "x", "extra": 1},
    {"username": 1, "password": "x"},
    ["a", "b"],
])
def test_login_with_a_malformed_body_is_400(alice: User, body: object) -> None:
    result = alice.http.simulate_post(f"{BASE}/token", json=body)
    assert result.status_code == 400, result.text
    assert set(result.json) == {"title", "description"}


def test_login_with_malformed_json_is_400(alice: User) -> None:
    result = alice.http.simulate_post(f"{BASE}/token", body=b'{"username": ',
                                      headers={"Content-Type": "application/json"})
    assert result.status_code == 400
    assert result.json["description"] == "request body is not valid JSON"


def test_revoked_token_is_refused_but_other_tokens_still_work(api: Api, alice: User) -> None:
    second = alice.http.simulate_post(f"{BASE}/token", json={
        "username": alice.name, "password": alice.password}).json["token"]
    assert alice.http.simulate_delete(f"{BASE}/token", headers=alice.auth).status_code == 204
    assert_401(alice.get("/decks"))
    assert_401(alice.http.simulate_delete(f"{BASE}/token", headers=alice.auth))
    other = alice.http.simulate_get(f"{BASE}/decks", headers={"Authorization": f"Bearer {second}"})
    assert other.status_code == 200


def test_revoking_needs_a_bearer_token(alice: User) -> None:
    assert_401(alice.http.simulate_delete(f"{BASE}/token", headers=alice.basic))
    assert_401(alice.http.simulate_delete(f"{BASE}/token"))
    assert alice.get("/decks").status_code == 200


def test_basic_auth_reads_and_writes(alice: User) -> None:
    decks = alice.http.simulate_get(f"{BASE}/decks", headers=alice.basic)
    assert decks.status_code == 200
    made = alice.http.simulate_post(f"{BASE}/decks", headers=alice.basic, json={"name": "Via"})
    assert made.status_code == 201
    assert "Via" in alice.deck_names().values()


MALFORMED = [
    None, "", "Bearer", "Bearer ", "Bearer not-a-token", "Bearer 123.forged",
    "Bearer 99999999999999999999.forged", "Token abc", "Basic", "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
]


def test_missing_or_malformed_credentials_are_401(alice: User) -> None:
    for header in MALFORMED:
        headers = {} if header is None else {"Authorization": header}
        assert_401(alice.http.simulate_get(f"{BASE}/notes", headers=headers))


def test_basic_auth_with_a_wrong_password_is_401(alice: User) -> None:
    assert_401(alice.http.simulate_get(f"{BASE}/decks",
                                       headers=basic(alice.name, alice.password + "x")))
    assert_401(alice.http.simulate_get(f"{BASE}/decks",
                                       headers=basic("nobody-" + alice.name, alice.password)))


def test_a_sync_host_key_is_a_valid_bearer_token(api: Api, alice: User) -> None:
    key = api.client.login(alice.name, alice.password)
    result = alice.http.simulate_get(f"{BASE}/decks", headers={"Authorization": f"Bearer {key}"})
    assert result.status_code == 200


ENDPOINTS = [
    ("GET", "/decks"), ("POST", "/decks"), ("GET", "/decks/1"), ("PATCH", "/decks/1"),
    ("DELETE", "/decks/1"), ("GET", "/deck-configs"), ("GET", "/deck-configs/1"),
    ("GET", "/notetypes"), ("GET", "/notetypes/1"), ("GET", "/tags"), ("POST", "/tags/rename"),
    ("GET", "/notes"), ("POST", "/notes"), ("GET", "/notes/1"), ("PATCH", "/notes/1"),
    ("DELETE", "/notes/1"), ("POST", "/notes/delete"), ("GET", "/cards"), ("GET", "/cards/1"),
    ("POST", "/cards/move"), ("POST", "/cards/suspend"), ("POST", "/cards/unsuspend"),
    ("GET", "/revlog"), ("GET", "/stats"),
]


def test_every_collection_endpoint_needs_credentials(alice: User) -> None:
    for method, path in ENDPOINTS:
        assert_401(alice.http.simulate_request(method, BASE + path, json={"name": "x"}))
        assert_401(alice.http.simulate_request(method, BASE + path, json={"name": "x"},
                                               headers=basic(alice.name, "wrong")))
    assert alice.deck_names() == {1: "Default"}


def test_openapi_description_is_public(alice: User) -> None:
    result = alice.http.simulate_get(f"{BASE}/openapi.json")
    assert result.status_code == 200
    spec = result.json
    assert spec["openapi"].startswith("3.")
    assert "/notes/{nid}" in spec["paths"]
    assert spec["paths"]["/token"]["post"]["security"] == []


def test_unknown_paths_and_methods_are_refused(alice: User) -> None:
    for method, path, status in (("GET", "/nothing-here", 404), ("PUT", "/notes", 405),
                                 ("DELETE", "/notes", 405), ("POST", "/stats", 405)):
        result = alice.http.simulate_request(method, BASE + path, headers=alice.auth)
        assert result.status_code == status, (method, path, result.text)
        assert result.headers["content-type"].startswith("application/json")


def test_unknown_paths_and_methods_are_described_like_other_errors(alice: User) -> None:
    unknown = alice.get("/nothing-here")
    assert unknown.json == {"title": "Not Found",
                            "description": "no such path"}
    wrong = alice.http.simulate_put(f"{BASE}/notes", headers=alice.auth)
    assert wrong.json["title"] == "Method Not Allowed"
    assert wrong.headers["allow"] == "GET, POST, OPTIONS"
    assert wrong.json["description"] == (
        "this method is not allowed on this path; allowed: GET, POST, OPTIONS")
    assert alice.delete("/notes/424242").json == alice.get("/notes/424242").json == {
        "title": "Not Found", "description": "no note 424242"}


def test_every_error_has_the_documented_shape(alice: User) -> None:
    answers = [alice.get("/notes/424242"), alice.delete("/notes/424242"),
               alice.get("/nothing-here"), alice.http.simulate_put(f"{BASE}/notes",
                                                                   headers=alice.auth)]
    for result in answers:
        assert set(result.json) == {"title", "description"}, result.text
    assert answers[0].json["title"] == answers[1].json["title"] == "Not Found"
