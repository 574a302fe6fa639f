"""Every answer (sync, media, API, errors, health, metrics) tells a browser not to keep it,
sniff it, run anything in it or frame it; error bodies do not repeat the request's path."""

from __future__ import annotations

import json

import pytest
from falcon import testing

from tests.http.harness import Account, Api
from tests.http.wire import SYNC_HEADER, frame, header_value

EXPECTED = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
}
HOSTILE = "<script>alert(1)</script>"


def _answers(api: Api, account: Account) -> dict[str, testing.Result]:
    http = api.client.http
    login = json.dumps({"username": account.name, "password": account.password}).encode()
    json_type = {"Content-Type": "application/json"}
    token = http.simulate_post("/api/v1/token", body=login, headers=json_type)
    bearer = {"Authorization": f"Bearer {token.json['token']}"}
    sync_login = frame(json.dumps({"u": account.name, "p": account.password}).encode())
    return {
        "token": token,
        "api read": http.simulate_get("/api/v1/decks", headers=bearer),
        "api 401": http.simulate_get("/api/v1/decks"),
        "api 404": http.simulate_get(f"/api/v1/{HOSTILE}", headers=bearer),
        "api 405": http.simulate_put("/api/v1/notes", headers=bearer),
        "api 400": http.simulate_post("/api/v1/decks", body=b"{", headers={
            **bearer, **json_type}),
        "openapi": http.simulate_get("/api/v1/openapi.json"),
        "djankiserv": http.simulate_post("/djs/dapi/decks", headers=bearer),
        "revoke": http.simulate_delete("/api/v1/token", headers=bearer),
        "sync": http.simulate_post("/sync/hostKey", body=sync_login,
                                   headers={SYNC_HEADER: header_value("")}),
        "sync 403": http.simulate_post("/sync/meta", body=frame(b"{}"),
                                       headers={SYNC_HEADER: header_value("nokey")}),
        "media 403": http.simulate_get("/msync/begin", params={"k": "nokey", "v": "x"}),
        "not found": http.simulate_get(f"/{HOSTILE}"),
        "health": http.simulate_get("/health"),
        "metrics": http.simulate_get("/metrics"),
    }


def test_every_answer_carries_the_security_headers(sqlite_api: Api, account: Account) -> None:
    for name, result in _answers(sqlite_api, account).items():
        got = {k: result.headers.get(k) for k in EXPECTED}
        assert got == EXPECTED, (name, result.status_code, got)


@pytest.mark.parametrize("path", [f"/api/v1/{HOSTILE}", f"/djs/dapi/{HOSTILE}",
                                  f"/{HOSTILE}", f"/sync/{HOSTILE}", f"/msync/{HOSTILE}"])
@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
def test_error_bodies_do_not_repeat_the_path(sqlite_api: Api, path: str, method: str) -> None:
    result = sqlite_api.client.http.simulate_request(method, path)
    assert 400 <= result.status_code < 500, result.text
    assert "<script" not in result.text and "alert" not in result.text, result.text
