"""AnkiConnect actions beyond the ones dictionary pop-ups use, which note-taking plugins
and scripts call: moving cards between decks, deleting decks, modification times, the
notes and decks of cards, a note's tags, a note type's styling."""

from __future__ import annotations

from typing import Any

from tests.ankiconnect.conftest import Connect


def _add(client: Connect, front: str, deck: str = "Default",
         model: str = "Basic") -> tuple[int, list[int]]:
    fields = {"Front": front, "Back": "back"}
    nid = int(client.ok("addNote", note={"deckName": deck, "modelName": model,
                                         "fields": fields, "tags": ["a", "b::c"]}))
    return nid, list(client.ok("findCards", query=f"nid:{nid}"))


def test_change_deck_moves_cards_and_creates_the_deck(stocked: Connect) -> None:
    nid, cards = _add(stocked, "two-way", model="Basic (and reversed card)")
    other, [single] = _add(stocked, "one-way")
    assert stocked.ok("changeDeck", cards=[cards[1], single], deck="Later::Maybe") is None
    assert stocked.ok("getDecks", cards=[*cards, single, 1]) == {
        "Default": [cards[0]], "Later::Maybe": [cards[1], single]}
    assert "Later" in stocked.ok("deckNames")
    assert sorted(stocked.ok("cardsToNotes", cards=[single, *cards, 1])) == sorted(
        [nid, other])


def test_delete_decks_needs_cards_too_and_takes_their_cards(stocked: Connect) -> None:
    stocked.ok("createDeck", deck="Old::Child")
    _, [card] = _add(stocked, "gone", deck="Old::Child")
    kept, _ = _add(stocked, "kept")
    assert stocked.error("deleteDecks", decks=["Old"]) == (
        "Since Anki 2.1.28 it's not possible to delete decks without deleting cards as well")
    assert "Old" in stocked.ok("deckNames")
    assert stocked.ok("deleteDecks", decks=["Old", "No such deck"], cardsToo=True) is None
    assert stocked.ok("deckNames") == ["Default"]
    assert stocked.ok("cardsInfo", cards=[card]) == [{}]
    assert stocked.ok("findNotes", query="") == [kept]


def test_modification_times_tags_and_styling(stocked: Connect) -> None:
    nid, [card] = _add(stocked, "timed")
    (info,) = stocked.ok("notesInfo", notes=[nid])
    assert stocked.ok("notesModTime", notes=[nid, 1]) == [{"noteId": nid, "mod": info["mod"]},
                                                         {}]
    (card_info,) = stocked.ok("cardsInfo", cards=[card])
    assert stocked.ok("cardsModTime", cards=[card, 1]) == [
        {"cardId": card, "mod": card_info["mod"]}, {}]
    assert stocked.ok("getNoteTags", note=nid) == ["a", "b::c"]
    assert stocked.error("getNoteTags", note=1) == "Note was not found: 1"
    css = stocked.ok("modelStyling", modelName="Basic")
    assert set(css) == {"css"} and ".card" in css["css"]
    assert stocked.error("modelStyling", modelName="Nope") == "model was not found: Nope"


def test_bad_input_changes_nothing(stocked: Connect) -> None:
    _, [card] = _add(stocked, "stays")
    bad: list[tuple[str, dict[str, Any]]] = [
        ("changeDeck", {"cards": [card], "deck": 5}), ("changeDeck", {"cards": "x", "deck": "D"}),
        ("changeDeck", {"cards": [card], "deck": ""}),
        ("deleteDecks", {"decks": "Default", "cardsToo": True}),
        ("deleteDecks", {"decks": [1], "cardsToo": True}),
        ("deleteDecks", {"decks": ["Default"], "cardsToo": "yes"}),
        ("getDecks", {"cards": None}), ("cardsToNotes", {"cards": [1.5]}),
        ("notesModTime", {"notes": "1"}), ("cardsModTime", {"cards": [True]}),
        ("getNoteTags", {"note": "1"}), ("modelStyling", {"modelName": None}),
    ]
    for action, params in bad:
        answer = stocked.request(action, **params)
        assert answer["result"] is None and answer["error"], (action, params, answer)
    assert stocked.ok("deckNames") == ["Default"]
    assert stocked.ok("getDecks", cards=[card]) == {"Default": [card]}
