"""AnkiConnect's README examples (request and result), with our ids put in.

Each request is the README's JSON, sent with the user's key; each expected result is
the README's, with the ids this server gave. Where ankiserv answers differently on
purpose, the test says why.
"""

from __future__ import annotations

import base64
from typing import Any

from tests.ankiconnect.conftest import Connect

FRONT_BACK = {"Front": "front content", "Back": "back content"}


def send(client: Connect, request: dict[str, Any]) -> Any:
    answer = client.send({**request, "key": client.user.token})
    assert answer.status_code == 200, answer.text
    return answer.json


def add_basic(client: Connect, front: str = "front content", back: str = "back content",
              deck: str = "Default", tags: tuple[str, ...] = ()) -> int:
    return int(client.ok("addNote", note={"deckName": deck, "modelName": "Basic",
                                          "fields": {"Front": front, "Back": back},
                                          "tags": list(tags)}))


def test_version(alice: Connect) -> None:
    assert send(alice, {"action": "version", "version": 6}) == {"result": 6, "error": None}


def test_request_permission(alice: Connect) -> None:
    # NOTE: the README spells it `requireApiKey`; AnkiConnect sends `requireApikey`.
    assert send(alice, {"action": "requestPermission", "version": 6}) == {
        "result": {"permission": "granted", "requireApikey": True, "version": 6},
        "error": None}


def test_sync(alice: Connect) -> None:
    assert send(alice, {"action": "sync", "version": 6}) == {"result": None, "error": None}


def test_multi(alice: Connect) -> None:
    request = {"action": "multi", "version": 6, "params": {"actions": [
        {"action": "deckNames"},
        {"action": "deckNames", "version": 6},
        {"action": "invalidAction", "params": {"useless": "param"}},
        {"action": "invalidAction", "params": {"useless": "param"}, "version": 6}]}}
    assert send(alice, request) == {"result": [
        ["Default"],
        {"result": ["Default"], "error": None},
        {"result": None, "error": "unsupported action"},
        {"result": None, "error": "unsupported action"}], "error": None}


def test_deck_names_and_ids(alice: Connect) -> None:
    assert send(alice, {"action": "deckNames", "version": 6}) == {
        "result": ["Default"], "error": None}
    assert send(alice, {"action": "deckNamesAndIds", "version": 6}) == {
        "result": {"Default": 1}, "error": None}


def test_create_deck(alice: Connect) -> None:
    answer = send(alice, {"action": "createDeck", "version": 6,
                          "params": {"deck": "Japanese::Tokyo"}})
    assert answer["error"] is None
    decks = alice.ok("deckNamesAndIds")
    assert answer["result"] == decks["Japanese::Tokyo"]
    assert list(decks) == ["Default", "Japanese", "Japanese::Tokyo"]
    # An existing deck is not replaced: its id comes back.
    assert alice.ok("createDeck", deck="japanese::tokyo") == answer["result"]


def test_model_names_and_ids_and_fields(stocked: Connect) -> None:
    names = ["Basic", "Basic (and reversed card)", "Basic (optional reversed card)", "Cloze"]
    assert send(stocked, {"action": "modelNames", "version": 6})["result"] == names
    ids = send(stocked, {"action": "modelNamesAndIds", "version": 6})["result"]
    assert list(ids) == names and all(isinstance(i, int) for i in ids.values())
    assert send(stocked, {"action": "modelFieldNames", "version": 6,
                          "params": {"modelName": "Basic"}}) == {
        "result": ["Front", "Back"], "error": None}


def test_add_note(alice: Connect) -> None:
    request = {"action": "addNote", "version": 6, "params": {"note": {
        "deckName": "Default", "modelName": "Basic", "fields": FRONT_BACK,
        "options": {"allowDuplicate": False, "duplicateScope": "deck",
                    "duplicateScopeOptions": {"deckName": "Default", "checkChildren": False,
                                              "checkAllModels": False}},
        "tags": ["yomichan"]}}}
    answer = send(alice, request)
    assert answer["error"] is None and isinstance(answer["result"], int)
    assert send(alice, request) == {
        "result": None, "error": "cannot create note because it is a duplicate"}
    assert alice.ok("findNotes", query="tag:yomichan") == [answer["result"]]


def test_add_notes(alice: Connect) -> None:
    note = {"deckName": "Default", "modelName": "Basic", "fields": FRONT_BACK,
            "tags": ["yomichan"]}
    answer = send(alice, {"action": "addNotes", "version": 6, "params": {"notes": [note]}})
    assert answer["error"] is None and len(answer["result"]) == 1
    # NOTE: the README shows `[id, null]` for a batch where a note fails; AnkiConnect's
    # code now refuses the whole batch, listing the errors, and so does ankiserv.
    other = {**note, "fields": {"Front": "other", "Back": ""}}
    assert send(alice, {"action": "addNotes", "version": 6,
                        "params": {"notes": [other, note]}}) == {
        "result": None, "error": "['cannot create note because it is a duplicate']"}
    assert alice.ok("findNotes", query="") == answer["result"]


def test_can_add_notes(alice: Connect) -> None:
    note = {"deckName": "Default", "modelName": "Basic", "fields": FRONT_BACK,
            "tags": ["yomichan"]}
    assert send(alice, {"action": "canAddNotes", "version": 6,
                        "params": {"notes": [note]}}) == {"result": [True], "error": None}
    assert alice.ok("findNotes", query="") == []


def test_can_add_notes_with_error_detail(alice: Connect) -> None:
    add_basic(alice)
    notes = [{"deckName": "Default", "modelName": "Basic", "fields": FRONT_BACK,
              "tags": ["yomichan"]},
             {"deckName": "Default", "modelName": "Basic",
              "fields": {"Front": "front content 2", "Back": "back content 2"},
              "tags": ["yomichan"]}]
    assert send(alice, {"action": "canAddNotesWithErrorDetail", "version": 6,
                        "params": {"notes": notes}}) == {"result": [
        {"canAdd": False, "error": "cannot create note because it is a duplicate"},
        {"canAdd": True}], "error": None}


def test_update_note_fields(alice: Connect) -> None:
    nid = add_basic(alice)
    assert send(alice, {"action": "updateNoteFields", "version": 6, "params": {"note": {
        "id": nid, "fields": {"Front": "new front content", "Back": "new back content"}}}}
    ) == {"result": None, "error": None}
    fields = alice.ok("notesInfo", notes=[nid])[0]["fields"]
    assert fields == {"Front": {"value": "new front content", "order": 0},
                      "Back": {"value": "new back content", "order": 1}}


def test_update_note(alice: Connect) -> None:
    nid = add_basic(alice, tags=("old",))
    assert send(alice, {"action": "updateNote", "version": 6, "params": {"note": {
        "id": nid, "fields": {"Front": "new front content", "Back": "new back content"},
        "tags": ["new", "tags"]}}}) == {"result": None, "error": None}
    info = alice.ok("notesInfo", notes=[nid])[0]
    assert info["tags"] == ["new", "tags"]
    assert info["fields"]["Front"]["value"] == "new front content"


def test_tags(alice: Connect) -> None:
    first, second = add_basic(alice, "one"), add_basic(alice, "two", tags=("idioms",))
    assert send(alice, {"action": "addTags", "version": 6, "params": {
        "notes": [first, second], "tags": "european-languages"}}) == {
        "result": None, "error": None}
    assert send(alice, {"action": "getTags", "version": 6}) == {
        "result": ["european-languages", "idioms"], "error": None}
    assert send(alice, {"action": "removeTags", "version": 6, "params": {
        "notes": [first, second], "tags": "european-languages"}}) == {
        "result": None, "error": None}
    assert [n["tags"] for n in alice.ok("notesInfo", notes=[first, second])] == [
        [], ["idioms"]]


def test_find_notes_and_notes_info(alice: Connect) -> None:
    nid = add_basic(alice, tags=("tag", "another_tag"))
    # NOTE: the README searches `deck:current`; a server has no current deck.
    assert send(alice, {"action": "findNotes", "version": 6,
                        "params": {"query": "deck:Default"}}) == {
        "result": [nid], "error": None}
    info = send(alice, {"action": "notesInfo", "version": 6, "params": {"notes": [nid]}})
    assert info["error"] is None
    (note,) = info["result"]
    cards = alice.ok("findCards", query=f"nid:{nid}")
    assert note == {"noteId": nid, "profile": alice.user.name, "modelName": "Basic",
                    "tags": ["another_tag", "tag"],
                    "fields": {"Front": {"value": "front content", "order": 0},
                               "Back": {"value": "back content", "order": 1}},
                    "mod": note["mod"], "cards": cards}


def test_find_cards(alice: Connect) -> None:
    nid = add_basic(alice)
    answer = send(alice, {"action": "findCards", "version": 6,
                          "params": {"query": "deck:Default"}})
    assert answer["error"] is None and len(answer["result"]) == 1
    assert alice.ok("notesInfo", notes=[nid])[0]["cards"] == answer["result"]


def test_cards_info(stocked: Connect) -> None:
    nid = int(stocked.ok("addNote", note={"deckName": "Default",
                                          "modelName": "Basic (and reversed card)",
                                          "fields": FRONT_BACK}))
    first, second = stocked.ok("findCards", query=f"nid:{nid}")
    answer = send(stocked, {"action": "cardsInfo", "version": 6,
                            "params": {"cards": [second, first]}})
    assert answer["error"] is None
    css = answer["result"][0]["css"]
    assert ".card" in css  # the note type's own styling
    fields = {"Front": {"value": "front content", "order": 0},
              "Back": {"value": "back content", "order": 1}}
    # NOTE: the README's sides are placeholders; here they are Anki's rendering (stood in
    # for by the fixture; rendered by Anki in tests/e2e/test_ankiconnect.py).
    # AnkiConnect's `fieldOrder` is the card's template number, as its code sets it.
    assert answer["result"] == [
        {"cardId": card, "question": f"question of {card}", "answer": f"answer of {card}",
         "deckName": "Default", "modelName": "Basic (and reversed card)",
         "fieldOrder": ord_, "ord": ord_, "fields": fields, "css": css, "factor": 0,
         "interval": 0, "note": nid, "type": 0, "queue": 0, "due": due, "reps": 0,
         "lapses": 0, "left": 0, "mod": answer["result"][i]["mod"],
         "nextReviews": ["<1m", "<6m", "<10m", "4d"], "flags": 0}
        for i, (card, ord_, due) in enumerate(((second, 1, 1), (first, 0, 1)))]
    assert all(card["mod"] > 1_600_000_000 for card in answer["result"])
    assert stocked.ok("cardsInfo", cards=[1234567891234, first])[0] == {}


def test_delete_notes(alice: Connect) -> None:
    nid = add_basic(alice)
    assert send(alice, {"action": "deleteNotes", "version": 6,
                        "params": {"notes": [nid]}}) == {"result": None, "error": None}
    assert alice.ok("notesInfo", notes=[nid]) == [{}]


def test_suspend_unsuspend_are_suspended(alice: Connect) -> None:
    add_basic(alice, "one"), add_basic(alice, "two")
    first, second = alice.ok("findCards", query="")
    assert send(alice, {"action": "suspend", "version": 6,
                        "params": {"cards": [first, second]}}) == {
        "result": True, "error": None}
    assert alice.ok("suspend", cards=[first]) is False  # nothing left to suspend
    assert send(alice, {"action": "unsuspend", "version": 6, "params": {"cards": [first]}}) \
        == {"result": True, "error": None}
    assert send(alice, {"action": "areSuspended", "version": 6,
                        "params": {"cards": [first, second, 1234567891234]}}) == {
        "result": [False, True, None], "error": None}


def test_media_files(alice: Connect) -> None:
    assert send(alice, {"action": "storeMediaFile", "version": 6, "params": {
        "filename": "_hello.txt", "data": "SGVsbG8sIHdvcmxkIQ=="}}) == {
        "result": "_hello.txt", "error": None}
    assert send(alice, {"action": "retrieveMediaFile", "version": 6,
                        "params": {"filename": "_hello.txt"}}) == {
        "result": "SGVsbG8sIHdvcmxkIQ==", "error": None}
    assert base64.b64decode("SGVsbG8sIHdvcmxkIQ==") == b"Hello, world!"
    assert send(alice, {"action": "getMediaFilesNames", "version": 6,
                        "params": {"pattern": "_hell*.txt"}}) == {
        "result": ["_hello.txt"], "error": None}
    assert send(alice, {"action": "deleteMediaFile", "version": 6,
                        "params": {"filename": "_hello.txt"}}) == {
        "result": None, "error": None}
    assert alice.ok("retrieveMediaFile", filename="_hello.txt") is False


def test_store_media_file_from_a_path_is_refused(alice: Connect) -> None:
    answer = send(alice, {"action": "storeMediaFile", "version": 6, "params": {
        "filename": "_hello.txt", "path": "/etc/passwd"}})
    assert answer["result"] is None and '"path"' in answer["error"]
    assert alice.ok("getMediaFilesNames") == []


def test_store_media_file_from_a_url_is_refused_unless_configured(alice: Connect) -> None:
    answer = send(alice, {"action": "storeMediaFile", "version": 6, "params": {
        "filename": "_hello.txt", "url": "https://url.to.file"}})
    assert answer["result"] is None and '"url"' in answer["error"]
    assert alice.ok("getMediaFilesNames") == []
