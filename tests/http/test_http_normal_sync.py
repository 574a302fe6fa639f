"""Malformed normal-sync requests get 400 and change nothing; session rules over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.http.harness import Account, Api
from tests.http.wire import SYNC_HEADER, Reply, decode, frame, header_value


def step(api: Api, account: Account, method: str, payload: Any, session: str = "sess") -> Reply:
    body = frame(json.dumps(payload).encode("utf-8"))
    headers = {SYNC_HEADER: header_value(account.key, session=session)}
    return decode(api.client.post_raw(method, body, headers=headers))


def state(api: Api, account: Account) -> tuple[Any, bytes]:
    meta = api.client.meta(account.key).json()
    return (meta["mod"], meta["usn"], meta["scm"]), api.client.download(account.key).payload


def started(api: Api, account: Account) -> Account:
    assert step(api, account, "start", {"minUsn": 0, "lnewer": True, "graves": None}).status == 200
    return account


NOTE = [1795671261130, "guid", 1, 1795671261, 0, "", "a\x1fb", "", "", 0, ""]
CARD = [5, 1795671261130, 1, 0, 1795671261, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, "{}"]
REVLOG = [9, 5, 0, 3, 1, 0, 2500, 800, 1]

MALFORMED = [
    ("start", {"lnewer": True}),
    ("start", {"minUsn": "abc", "lnewer": True}),
    ("start", {"minUsn": 0, "lnewer": True, "graves": {"cards": ["x"]}}),
    ("start", [1, 2]),
    ("applyGraves", {"chunk": [1, 2]}),
    ("applyGraves", {"chunk": {"notes": [1.5]}}),
    ("applyGraves", {}),
    ("applyChanges", {"changes": {"models": [{"name": "no id"}], "decks": [[], []], "tags": []}}),
    ("applyChanges", {"changes": {"models": [], "decks": [[]], "tags": []}}),
    ("applyChanges", {"changes": {"models": [], "decks": [[], []], "tags": [1]}}),
    ("applyChanges", {"changes": {"models": [], "decks": [[], []], "tags": [], "crt": "x"}}),
    ("applyChunk", {"chunk": {"done": True, "notes": [NOTE[:10]]}}),
    ("applyChunk", {"chunk": {"done": True, "notes": [[*NOTE[:6], 7, *NOTE[7:]]]}}),
    ("applyChunk", {"chunk": {"done": True, "cards": [[*CARD[:6], 7, *CARD[7:]]]}}),
    ("applyChunk", {"chunk": {"done": True, "cards": [[*CARD[:7], 9, *CARD[8:]]]}}),
    ("applyChunk", {"chunk": {"done": True, "cards": [[True, *CARD[1:]]]}}),
    ("applyChunk", {"chunk": {"done": True, "revlog": [[*REVLOG[:3], "3", *REVLOG[4:]]]}}),
    ("applyChunk", {"chunk": {"done": True, "revlog": [[*REVLOG, 1]]}}),
    ("applyChunk", {"chunk": {"done": True, "notes": "not a list"}}),
    ("applyChunk", {"chunk": {"done": True, "notes": [[2**64, *NOTE[1:]]]}}),
    ("sanityCheck2", {"client": [[0, 0, 0], 1, 2, 3]}),
    ("sanityCheck2", {"client": [[0, 0], 1, 2, 3, 4, 5, 6, 7]}),
]


@pytest.mark.parametrize(("method", "payload"), MALFORMED,
                         ids=[f"{m}-{i}" for i, (m, _) in enumerate(MALFORMED)])
def test_malformed_step_is_rejected_and_changes_nothing(
    sqlite_api: Api, method: str, payload: Any
) -> None:
    account = sqlite_api.new_account()
    before = state(sqlite_api, account)
    started(sqlite_api, account)
    if method in ("applyChunk", "sanityCheck2"):
        changes = {"changes": {"models": [], "decks": [[], []], "tags": []}}
        assert step(sqlite_api, account, "applyChanges", changes).status == 200
    assert step(sqlite_api, account, method, payload).status == 400
    assert state(sqlite_api, account) == before


def test_steps_without_a_session_get_409(sqlite_api: Api) -> None:
    account = sqlite_api.new_account()
    for method, payload in (("applyGraves", {"chunk": {}}), ("chunk", {"_pad": None}),
                            ("finish", {})):
        assert step(sqlite_api, account, method, payload).status == 409


def test_a_second_device_takes_over_and_the_first_gets_409(sqlite_api: Api) -> None:
    account = started(sqlite_api, sqlite_api.new_account())
    assert step(sqlite_api, account, "start", {"minUsn": 0, "lnewer": False},
                session="other").status == 200
    assert step(sqlite_api, account, "applyGraves", {"chunk": {}}).status == 409
    assert step(sqlite_api, account, "applyGraves", {"chunk": {}}, session="other").status == 200


def test_abort_always_answers_null(sqlite_api: Api) -> None:
    account = started(sqlite_api, sqlite_api.new_account())
    for session in ("someone-else", "sess", "sess"):
        reply = step(sqlite_api, account, "abort", {"_pad": None}, session=session)
        assert reply.status == 200 and reply.json() is None


def test_empty_session_key_is_rejected(sqlite_api: Api) -> None:
    account = sqlite_api.new_account()
    assert step(sqlite_api, account, "start", {"minUsn": 0, "lnewer": True},
                session="").status == 400


def test_whole_conversation_over_http_answers_in_the_protocols_shapes(sqlite_api: Api) -> None:
    account = sqlite_api.new_account()
    graves = step(sqlite_api, account, "start", {"minUsn": 0, "lnewer": False, "graves": None})
    assert graves.json() == {"cards": [], "notes": [], "decks": []}
    assert step(sqlite_api, account, "applyGraves", {"chunk": {"cards": ["12"]}}).json() is None
    changes = step(sqlite_api, account, "applyChanges",
                   {"changes": {"models": [], "decks": [[], []], "tags": ["t"]}}).json()
    assert set(changes) == {"models", "decks", "tags", "conf", "crt"}
    assert len(changes["decks"]) == 2 and changes["models"]
    chunk = step(sqlite_api, account, "chunk", {"_pad": None}).json()
    assert chunk == {"done": True}
    assert step(sqlite_api, account, "applyChunk", {"chunk": {"done": True}}).json() is None
    sanity = step(sqlite_api, account, "sanityCheck2",
                  {"client": [[1, 2, 3], 0, 0, 0, 0, 1, 1, 1]}).json()
    assert sanity == {"status": "ok", "c": [[0, 0, 0], 0, 0, 0, 0, 1, 1, 1],
                      "s": [[0, 0, 0], 0, 0, 0, 0, 1, 1, 1]}
    finished = step(sqlite_api, account, "finish", {"_pad": None}).json()
    meta = sqlite_api.client.meta(account.key).json()
    assert isinstance(finished, int) and meta["mod"] == finished and meta["usn"] == 1
