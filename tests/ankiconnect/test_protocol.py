"""AnkiConnect's envelope: versions, keys, origins (CORS), and requests that are wrong."""

from __future__ import annotations

import json
from typing import Any

from falcon import testing

from tests.ankiconnect.conftest import EXTENSION, PATH, Connect, build_app
from tests.http.harness import Api

BASIC = {"deckName": "Default", "modelName": "Basic",
         "fields": {"Front": "front content", "Back": "back content"}}


def test_version_4_or_none_answers_the_bare_result(alice: Connect) -> None:
    assert alice.request("deckNames", version=None) == ["Default"]
    assert alice.request("deckNames", version=4) == ["Default"]
    # Errors keep the envelope whatever the version.
    assert alice.request("nope", version=None) == {"result": None,
                                                    "error": "unsupported action"}


def test_a_missing_or_wrong_key_is_refused_and_changes_nothing(alice: Connect) -> None:
    refused = {"result": None, "error": "valid api key must be provided"}
    assert alice.request("createDeck", key=False, deck="Nope") == refused
    for key in ("wrong", f"{alice.id}.0123", "", 12, None, ["x"]):
        answer = alice.send({"action": "createDeck", "version": 6, "key": key,
                             "params": {"deck": "Nope"}})
        assert answer.status_code == 200 and answer.json == refused, key
    # The key is checked before the action is looked up, as in AnkiConnect.
    assert alice.request("nope", key=False) == refused
    assert alice.ok("deckNames") == ["Default"]


def test_a_key_selects_its_users_collection(alice: Connect, bob: Connect) -> None:
    alice.ok("createDeck", deck="Alice only")
    assert bob.ok("deckNames") == ["Default"]
    nid = alice.ok("addNote", note=BASIC)
    assert bob.ok("notesInfo", notes=[nid]) == [{}]
    assert bob.ok("findNotes", query="") == []
    bob.ok("deleteNotes", notes=[nid])
    assert alice.ok("findNotes", query="") == [nid]


def test_a_revoked_token_is_refused(api: Api, alice: Connect) -> None:
    assert alice.ok("version") == 6
    api.services.accounts.revoke(alice.user.token)
    assert alice.request("version")["error"] == "valid api key must be provided"


def test_request_permission_needs_no_key(alice: Connect) -> None:
    assert alice.request("requestPermission", key=False) == {
        "result": {"permission": "granted", "requireApikey": True, "version": 6},
        "error": None}


def test_unknown_and_missing_parameters_are_named(alice: Connect) -> None:
    assert alice.error("deckNames", foobar=1) == \
        "deckNames() got an unexpected keyword argument 'foobar'"
    assert alice.error("createDeck") == \
        "createDeck() missing 1 required positional argument: 'deck'"
    assert alice.error("addTags") == \
        "addTags() missing 2 required positional arguments: 'notes' and 'tags'"


def test_gui_actions_answer_a_clear_error(alice: Connect) -> None:
    for action in ("guiBrowse", "guiAddCards", "guiCurrentCard", "guiExitAnki"):
        error = alice.error(action, query="deck:Default")
        assert "Anki's windows" in error, action


def test_api_reflect_names_the_actions_that_work_here(alice: Connect) -> None:
    # What Yomitan asks before offering a feature.
    assert alice.ok("apiReflect", scopes=["actions"],
                    actions=["cardsInfo", "guiEditNote", "noSuchAction", "multi"]) == {
        "scopes": ["actions"], "actions": ["cardsInfo", "multi"]}
    every = alice.ok("apiReflect", scopes=["actions"])
    assert every["actions"] == sorted(every["actions"])
    assert {"addNote", "cardsInfo", "apiReflect", "requestPermission", "storeMediaFile",
            "version"} <= set(every["actions"])
    assert not any(a.startswith("gui") for a in every["actions"])
    assert alice.ok("apiReflect", scopes=[]) == {"scopes": []}
    assert alice.error("apiReflect", scopes="actions") == "scopes has invalid value"
    assert alice.error("apiReflect", scopes=["actions"], actions=[1]) == (
        "actions has invalid value")
    assert alice.request("apiReflect", key=False, scopes=["actions"])["error"] == (
        "valid api key must be provided")


def test_multi_runs_every_action_as_the_outer_key_user(alice: Connect) -> None:
    answer = alice.ok("multi", actions=[
        {"action": "createDeck", "version": 6, "params": {"deck": "Made in multi"}},
        {"action": "deckNames", "version": 6, "key": alice.user.token},
        {"action": "deckNames", "version": 6, "key": "someone else's"},
        {"action": "multi", "version": 6, "params": {"actions": []}},
        "not an object",
        {"action": "createDeck", "version": "6", "params": {"deck": "x"}}])
    assert answer[0]["error"] is None
    assert answer[1] == {"result": ["Default", "Made in multi"], "error": None}
    assert answer[2] == {"result": None, "error": "valid api key must be provided"}
    assert answer[3] == {"result": None, "error": "multi cannot be nested"}
    assert answer[4]["result"] is None and answer[4]["error"]
    assert answer[5]["result"] is None and "version" in answer[5]["error"]
    assert alice.error("multi", actions=[{"action": "version"}] * 1001).startswith('"actions"')


# -- CORS ----------------------------------------------------------------------------------


def _post(client: Connect, origin: str | None, body: Any) -> testing.Result:
    headers = {"Origin": origin} if origin is not None else None
    return client.send(body, headers=headers)


def test_extension_and_loopback_origins_are_allowed_by_default(alice: Connect) -> None:
    body = {"action": "version", "version": 6, "key": alice.user.token}
    for origin in (EXTENSION, "moz-extension://1b2c3d", "safari-web-extension://x",
                   "http://localhost", "http://127.0.0.1", "http://127.0.0.1:8080"):
        answer = _post(alice, origin, body)
        assert answer.status_code == 200 and answer.json["result"] == 6, origin
        assert answer.headers["Access-Control-Allow-Origin"] == origin
        assert answer.headers["Access-Control-Allow-Headers"] == "*"


def test_other_origins_get_403_and_change_nothing(alice: Connect) -> None:
    body = {"action": "createDeck", "version": 6, "key": alice.user.token,
            "params": {"deck": "From a web page"}}
    for origin in ("https://evil.example", "http://localhost:3000", "null",
                   "http://127.0.0.2"):
        answer = _post(alice, origin, body)
        assert answer.status_code == 403 and answer.text == "", origin
        assert answer.headers["Access-Control-Allow-Origin"] == "http://localhost"
    assert alice.ok("deckNames") == ["Default"]


def test_request_permission_from_another_origin_is_denied(alice: Connect) -> None:
    answer = _post(alice, "https://evil.example", {"action": "requestPermission",
                                                   "version": 6})
    assert answer.status_code == 200
    assert answer.json == {"result": {"permission": "denied"}, "error": None}
    assert answer.headers["Access-Control-Allow-Origin"] == "https://evil.example"


def test_preflight_answers_with_cors_headers(alice: Connect) -> None:
    answer = alice.http.simulate_options(PATH, headers={
        "Origin": EXTENSION, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Private-Network": "true"})
    assert answer.status_code == 200 and answer.text == ""
    assert answer.headers["Access-Control-Allow-Origin"] == EXTENSION
    assert answer.headers["Access-Control-Allow-Headers"] == "*"
    assert answer.headers["Access-Control-Allow-Private-Network"] == "true"


def test_configured_origins(api: Api, alice: Connect) -> None:
    client = testing.TestClient(build_app(api, allowed_origins=("https://notes.example",)))
    body = {"action": "version", "version": 6, "key": alice.user.token}
    answer = client.simulate_post(PATH, json=body, headers={"Origin": "https://notes.example"})
    assert answer.json["result"] == 6
    # Without `http://localhost` on the list, extensions are not let in.
    assert client.simulate_post(PATH, json=body, headers={"Origin": EXTENSION}).status_code \
        == 403
    everyone = testing.TestClient(build_app(api, allowed_origins=("*",)))
    answer = everyone.simulate_post(PATH, json=body, headers={"Origin": "https://x.example"})
    assert answer.json["result"] == 6
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


# -- requests that are wrong ------------------------------------------------------------


def test_an_empty_body_answers_the_version_text(alice: Connect) -> None:
    for answer in (alice.send(b""), alice.http.simulate_get(PATH)):
        assert answer.status_code == 200 and answer.text == "AnkiConnect v.6"
    assert _post(alice, "https://evil.example", b"").status_code == 403


def test_bodies_that_are_not_a_request_object_are_errors(alice: Connect) -> None:
    for body in (b"{not json", b"\xff\xfe", b"[1, 2]", b'"deckNames"', b"null", b"42",
                 b'{"action": 1}', b'{"action": ""}', b'{"version": 6}',
                 b'{"action": "deckNames", "version": "6"}',
                 b'{"action": "deckNames", "version": true}',
                 b'{"action": "deckNames", "params": []}', b"[" * 100_000):
        answer = alice.send(body)
        assert answer.status_code == 200, body[:20]
        assert answer.json["result"] is None and answer.json["error"], body[:20]
    assert alice.ok("deckNames") == ["Default"]


def _nothing_changed(client: Connect) -> None:
    assert client.ok("deckNames") == ["Default"]
    assert client.ok("findNotes", query="") == []
    assert client.ok("getTags") == []
    assert client.ok("getMediaFilesNames") == []


def test_wrong_parameter_types_are_errors_and_change_nothing(stocked: Connect) -> None:
    bad: list[tuple[str, dict[str, Any]]] = [
        ("createDeck", {"deck": 5}), ("createDeck", {"deck": ["x"]}),
        ("createDeck", {"deck": ""}), ("createDeck", {"deck": "a::::b"}),
        ("modelFieldNames", {"modelName": None}),
        ("findNotes", {"query": 3}), ("findNotes", {"query": "(unclosed"}),
        ("notesInfo", {"notes": "1"}), ("notesInfo", {"notes": [1.5]}),
        ("notesInfo", {"notes": [True]}), ("notesInfo", {"notes": [2**63]}),
        ("addNote", {"note": "x"}), ("addNote", {"note": {**BASIC, "fields": "x"}}),
        ("addNote", {"note": {**BASIC, "fields": {"Front": 1}}}),
        ("addNote", {"note": {**BASIC, "tags": [1]}}),
        ("addNote", {"note": {**BASIC, "deckName": None}}),
        ("addNote", {"note": {**BASIC, "modelName": "Nope"}}),
        ("addNote", {"note": {**BASIC, "deckName": "Nope"}}),
        ("addNote", {"note": {**BASIC, "options": {"allowDuplicate": "yes"}}}),
        ("addNote", {"note": {**BASIC, "options": []}}),
        ("addNotes", {"notes": {"a": BASIC}}), ("addNotes", {"notes": [BASIC, 7]}),
        ("canAddNotes", {"notes": None}),
        ("updateNoteFields", {"note": {"id": "1", "fields": {}}}),
        ("updateNoteFields", {"note": {"id": 1, "fields": {}}}),
        ("updateNote", {"note": {"id": 1}}),
        ("deleteNotes", {"notes": 1}), ("addTags", {"notes": [1], "tags": ["x"]}),
        ("addTags", {"notes": [1], "tags": "x", "add": "no"}),
        ("suspend", {"cards": [1]}), ("areSuspended", {"cards": "1"}),
        ("cardsInfo", {"cards": None}), ("cardsInfo", {"cards": [1.5]}),
        ("cardsInfo", {"cards": [-(2**63) - 1]}),
        ("storeMediaFile", {"filename": "a.txt"}),
        ("storeMediaFile", {"filename": "..", "data": "eA=="}),
        ("storeMediaFile", {"filename": "/\\", "data": "eA=="}),
        ("storeMediaFile", {"filename": 5, "data": "eA=="}),
        ("storeMediaFile", {"filename": "a.txt", "data": "not base64!"}),
        ("storeMediaFile", {"filename": "a.txt", "data": 5}),
        ("retrieveMediaFile", {"filename": None}),
        ("getMediaFilesNames", {"pattern": 1}),
    ]
    for action, params in bad:
        answer = stocked.request(action, **params)
        assert answer["result"] is None and answer["error"], (action, params, answer)
    _nothing_changed(stocked)


def test_huge_arrays_are_refused(alice: Connect) -> None:
    huge = list(range(1, 10_002))
    for action, params in (("notesInfo", {"notes": huge}), ("deleteNotes", {"notes": huge}),
                           ("addTags", {"notes": huge, "tags": "x"}),
                           ("areSuspended", {"cards": huge}),
                           ("cardsInfo", {"cards": huge}),
                           ("addNotes", {"notes": [BASIC] * 1001})):
        error = alice.error(action, **params)
        assert "more than" in error, action
    _nothing_changed(alice)


def test_nul_and_lone_surrogates_are_refused(alice: Connect) -> None:
    for text in ("a\x00b", "\ud800"):
        body = json.dumps({"action": "createDeck", "version": 6, "key": alice.user.token,
                           "params": {"deck": text}})
        answer = alice.send(body.encode())
        assert answer.status_code == 200 and answer.json["result"] is None
        assert "NUL" in answer.json["error"]
        note = {**BASIC, "fields": {"Front": text}, "tags": [text]}
        body = json.dumps({"action": "addNote", "version": 6, "key": alice.user.token,
                           "params": {"note": note}})
        assert alice.send(body.encode()).json["result"] is None
    _nothing_changed(alice)
