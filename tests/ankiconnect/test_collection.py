"""What AnkiConnect writes reaches devices like the JSON API's writes: stamped with the
collection's usn, refused while a device syncs; its duplicate checks; its media in the
media index devices download from."""

from __future__ import annotations

import base64
from typing import Any

from domain.model import UserId
from tests.ankiconnect.conftest import Connect
from tests.http.harness import Api


def note(front: str, deck: str = "Default", model: str = "Basic",
         **options: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"deckName": deck, "modelName": model,
                             "fields": {"Front": front, "Back": "back"}}
    if options:
        found["options"] = options
    return found


def test_writes_carry_the_collection_usn_so_devices_get_them(alice: Connect) -> None:
    alice.user.set_usn(7)
    nid = alice.ok("addNote", note=note("synced"))
    alice.ok("addTags", notes=[nid], tags="new-tag")
    stored = alice.user.stored_note(nid)
    assert stored is not None and stored.usn == 7 and stored.tags == " new-tag "
    assert alice.user.stored_tags() == {"new-tag": 7}
    assert all(c.usn == 7 for c in alice.user.stored_cards().values())
    alice.ok("deleteNotes", notes=[nid])
    assert {g.oid for g in alice.user.graves_since(6)} >= {nid}


def test_writes_wait_while_a_device_is_mid_sync(api: Api, alice: Connect) -> None:
    nid = alice.ok("addNote", note=note("before"))
    key = api.client.login(alice.user.name, alice.user.password)
    usn = api.client.meta(key).json()["usn"]
    assert api.client.post_json("start", {"minUsn": usn, "lnewer": False}, key=key).status \
        == 200
    for action, params in (("addNote", {"note": note("during")}),
                           ("createDeck", {"deck": "During"}),
                           ("updateNoteFields", {"note": {"id": nid,
                                                          "fields": {"Front": "x"}}}),
                           ("addTags", {"notes": [nid], "tags": "x"}),
                           ("deleteNotes", {"notes": [nid]})):
        assert "syncing" in alice.error(action, **params), action
    assert alice.ok("findNotes", query="") == [nid]
    api.client.post_json("abort", {}, key=key)
    alice.ok("addNote", note=note("after"))


def test_duplicates_in_the_collection_by_default(stocked: Connect) -> None:
    stocked.ok("addNote", note=note("<b>cat</b>"))
    assert stocked.error("addNote", note=note("cat")) == \
        "cannot create note because it is a duplicate"
    # Another note type, or another first field, is no duplicate.
    assert stocked.ok("canAddNotes", notes=[note("cat", model="Basic (and reversed card)"),
                                            note("dog"), note("cat"), note(" ")]) == \
        [True, True, False, False]
    assert stocked.error("addNote", note=note(" <br> ")) == \
        "cannot create note because it is empty"
    assert isinstance(stocked.ok("addNote", note=note("cat", allowDuplicate=True)), int)


def test_duplicate_scope_deck_and_its_options(stocked: Connect) -> None:
    stocked.ok("createDeck", deck="Lang::Child")
    stocked.ok("addNote", note=note("cat", deck="Lang::Child"))
    in_deck = {"duplicateScope": "deck"}
    assert stocked.ok("canAddNotes", notes=[
        note("cat", deck="Lang", **in_deck),
        note("cat", deck="Lang", **in_deck,
             duplicateScopeOptions={"checkChildren": True}),
        note("cat", deck="Default", **in_deck,
             duplicateScopeOptions={"deckName": "Lang::Child"}),
        note("cat", deck="Default", **in_deck,
             duplicateScopeOptions={"deckName": "No such deck"}),
        note("cat", model="Basic (and reversed card)",
             duplicateScopeOptions={"checkAllModels": True}),
        note("cat", model="Basic (and reversed card)"),
    ]) == [True, False, False, True, False, True]


def test_add_notes_is_all_or_nothing_and_sees_its_own_duplicates(alice: Connect) -> None:
    error = alice.error("addNotes", notes=[note("one"), note("two"), note("one"),
                                           note("x", deck="Nope")])
    assert error == ("['cannot create note because it is a duplicate', "
                     "'deck was not found: Nope']")
    assert alice.ok("findNotes", query="") == []
    ids = alice.ok("addNotes", notes=[note("one"), note("two")])
    assert sorted(ids) == alice.ok("findNotes", query="")


def test_fields_match_names_ignoring_case_and_skip_unknown_ones(alice: Connect) -> None:
    nid = alice.ok("addNote", note={"deckName": "default", "modelName": "Basic",
                                    "fields": {"front": "F", "BACK": "B", "Extra": "?"}})
    info = alice.ok("notesInfo", notes=[nid])[0]["fields"]
    assert (info["Front"]["value"], info["Back"]["value"]) == ("F", "B")
    # updateNoteFields sets the fields named exactly, as AnkiConnect does.
    alice.ok("updateNoteFields", note={"id": nid, "fields": {"front": "no", "Back": "B2"}})
    info = alice.ok("notesInfo", notes=[nid])[0]["fields"]
    assert (info["Front"]["value"], info["Back"]["value"]) == ("F", "B2")


def test_a_note_without_cards_is_refused(stocked: Connect) -> None:
    cloze = {"deckName": "Default", "modelName": "Cloze", "fields": {"Text": "no cloze"}}
    assert stocked.error("addNote", note=cloze) == (
        "The field values you have provided would make an empty question on all cards.")


def test_search_errors_and_cards_mode(alice: Connect) -> None:
    first = alice.ok("addNote", note=note("alpha"))
    alice.ok("addNote", note=note("beta"))
    assert alice.ok("findNotes", query="alpha") == [first]
    assert "deck:current" in alice.error("findNotes", query="deck:current")
    (card,) = alice.ok("findCards", query="alpha")
    alice.ok("suspend", cards=[card])
    assert alice.ok("findCards", query="is:suspended") == [card]
    assert alice.ok("findNotes", query="is:suspended") == [first]
    assert alice.ok("notesInfo", query="alpha")[0]["noteId"] == first
    assert alice.error("notesInfo") == 'Must provide either "notes" or a "query"'


def test_stored_media_is_in_the_index_devices_download_from(api: Api, alice: Connect) -> None:
    media = api.services.media
    before = media.usn(UserId(alice.id))
    assert alice.ok("storeMediaFile", filename="cat.jpg", data="AQID") == "cat.jpg"
    (entry,) = media.changes(UserId(alice.id), before)
    assert (entry.fname, entry.size, entry.usn) == ("cat.jpg", 3, before + 1)
    # Other bytes under a taken name: replaced, or (deleteExisting false) renamed.
    assert alice.ok("storeMediaFile", filename="cat.jpg", data="BAUG") == "cat.jpg"
    renamed = alice.ok("storeMediaFile", filename="cat.jpg", data="BwgJ", deleteExisting=False)
    assert renamed.startswith("cat-") and renamed.endswith(".jpg")
    assert alice.ok("getMediaFilesNames") == sorted(["cat.jpg", renamed])
    assert alice.ok("retrieveMediaFile", filename="cat.jpg") == "BAUG"
    alice.ok("deleteMediaFile", filename="cat.jpg")
    assert [e.deleted for e in media.changes(UserId(alice.id), before) if
            e.fname == "cat.jpg"] == [True]
    # A name is cleaned as Anki cleans it; skipHash skips the file it names.
    assert alice.ok("storeMediaFile", filename="../a?.txt", data="eA==") == "..a.txt"
    assert alice.ok("storeMediaFile", filename="b.txt", data="eA==",
                    skipHash="9dd4e461268c8034f5c8564e155c67a6") is None


def test_media_of_a_note_is_stored_and_shown(stocked: Connect) -> None:
    data = base64.b64encode(b"sound").decode()
    nid = stocked.ok("addNote", note={**note("word"), "audio": [
        {"data": data, "filename": "word.mp3", "fields": ["Front"]}], "picture": {
        "path": "/etc/passwd", "filename": "x.jpg", "fields": ["Back"]}})
    fields = stocked.ok("notesInfo", notes=[nid])[0]["fields"]
    assert fields["Front"]["value"] == "word[sound:word.mp3]"
    assert '"path"' in fields["Back"]["value"]  # as AnkiConnect, the reason goes in
    assert stocked.ok("getMediaFilesNames") == ["word.mp3"]
    stocked.ok("updateNoteFields", note={"id": nid, "fields": {}, "picture": [
        {"data": data, "filename": "p.png", "fields": ["Back"]}]})
    back = stocked.ok("notesInfo", notes=[nid])[0]["fields"]["Back"]["value"]
    assert back.endswith('<img src="p.png">')


def test_urls_are_fetched_only_where_allowed(api: Api, alice: Connect) -> None:
    from falcon import testing

    from tests.ankiconnect.conftest import PATH, build_app

    asked: list[str] = []

    def fetch(url: str, limit: int) -> bytes:
        asked.append(url)
        return b"downloaded"

    client = testing.TestClient(build_app(api, allow_urls=True, fetch_url=fetch))
    answer = client.simulate_post(PATH, json={
        "action": "storeMediaFile", "version": 6, "key": alice.user.token,
        "params": {"filename": "d.txt", "url": "https://example.org/d.txt"}}).json
    assert answer == {"result": "d.txt", "error": None}
    assert asked == ["https://example.org/d.txt"]
    assert alice.ok("retrieveMediaFile", filename="d.txt") == \
        base64.b64encode(b"downloaded").decode()
