"""Decks, deck presets and note types through /api/v1."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.model import GraveKind
from tests.api.conftest import IGNORE_DISTINCT_WARNING, User


def parents_exist(names: dict[int, str]) -> bool:
    known = {n.casefold() for n in names.values()}
    return all(n.rpartition("::")[0].casefold() in known
               for n in names.values() if "::" in n)


# -- reading -----------------------------------------------------------------------------


def test_new_collection_has_the_default_deck_preset_and_note_type(alice: User) -> None:
    (deck,) = alice.ok("GET", "/decks")["items"]
    assert (deck["id"], deck["name"], deck["dyn"]) == (1, "Default", 0)
    assert alice.ok("GET", "/decks/1") == deck
    (preset,) = alice.ok("GET", "/deck-configs")["items"]
    assert alice.ok("GET", f"/deck-configs/{preset['id']}") == preset
    assert preset["new"]["perDay"] == 20
    (basic,) = alice.ok("GET", "/notetypes")["items"]
    assert alice.ok("GET", f"/notetypes/{basic['id']}") == basic
    assert [f["name"] for f in basic["flds"]] == ["Front", "Back"]


def test_unknown_objects_are_404(alice: User) -> None:
    for path in ("/decks/2", "/deck-configs/2", "/notetypes/1", "/decks/0", "/decks/-1"):
        result = alice.get(path)
        assert result.status_code == 404, path
        assert set(result.json) == {"title", "description"}


# -- creating ----------------------------------------------------------------------------


def test_create_deck_makes_missing_parents(alice: User) -> None:
    made = alice.ok("POST", "/decks", {"name": "Lang::German::Verbs"}, status=201)
    assert made["name"] == "Lang::German::Verbs"
    assert (made["dyn"], made["conf"]) == (0, 1)
    names = alice.deck_names()
    assert sorted(names.values()) == ["Default", "Lang", "Lang::German", "Lang::German::Verbs"]
    assert alice.ok("GET", f"/decks/{made['id']}") == made
    alice.add_deck("Lang::French")
    assert sorted(alice.deck_names().values()).count("Lang") == 1


def test_create_deck_trims_the_parts_of_its_name(alice: User) -> None:
    made = alice.ok("POST", "/decks", {"name": "  Top :: Sub "}, status=201)
    assert made["name"] == "Top::Sub"


def test_duplicate_deck_name_is_400_ignoring_case(alice: User) -> None:
    alice.add_deck("Spanish::Verbs")
    for name in ("Spanish::Verbs", "spanish::VERBS", "SPANISH", "default"):
        result = alice.post("/decks", {"name": name})
        assert result.status_code == 400, name
        assert "exists" in result.json["description"]
    assert len(alice.deck_names()) == 3


def test_invalid_deck_names_are_400(alice: User) -> None:
    for body in ({"name": ""}, {"name": "   "}, {"name": "::"}, {"name": "A::"},
                 {"name": "::A"}, {"name": "A:: ::B"}, {"name": "x" * 1001}, {"name": 5},
                 {}, {"name": "ok", "dyn": 1}, ["ok"]):
        result = alice.post("/decks", body)
        assert result.status_code == 400, (body, result.text)
    assert alice.deck_names() == {1: "Default"}


# -- renaming ----------------------------------------------------------------------------


def test_rename_moves_the_subdecks(alice: User) -> None:
    top = alice.add_deck("Old")
    child = alice.add_deck("Old::Child::Grandchild")
    alice.add_deck("Older")
    renamed = alice.ok("PATCH", f"/decks/{top}", {"name": "New::Place"})
    assert renamed["name"] == "New::Place"
    names = alice.deck_names()
    assert names[top] == "New::Place"
    assert names[child] == "New::Place::Child::Grandchild"
    assert "Older" in names.values() and "Old" not in names.values()
    assert "New" in names.values()
    assert parents_exist(names)


def test_rename_may_change_only_the_case(alice: User) -> None:
    did = alice.add_deck("lower")
    assert alice.ok("PATCH", f"/decks/{did}", {"name": "LOWER"})["name"] == "LOWER"


def test_rename_refusals(alice: User) -> None:
    a, b = alice.add_deck("A"), alice.add_deck("B")
    assert alice.patch(f"/decks/{a}", {"name": "b"}).status_code == 400
    assert alice.patch(f"/decks/{a}", {"name": "A::"}).status_code == 400
    assert alice.patch(f"/decks/{a}", {}).status_code == 400
    assert alice.patch("/decks/31337", {"name": "Z"}).status_code == 404
    assert alice.deck_names() == {1: "Default", a: "A", b: "B"}


def test_rename_under_itself_keeps_the_tree_whole(alice: User) -> None:
    did = alice.add_deck("A")
    result = alice.patch(f"/decks/{did}", {"name": "A::B"})
    assert result.status_code == 400 or parents_exist(alice.deck_names())


# -- deleting ----------------------------------------------------------------------------


@IGNORE_DISTINCT_WARNING
def test_delete_removes_subdecks_their_cards_and_emptied_notes(stocked: User) -> None:
    stocked.set_usn(3)
    top, sub = stocked.add_deck("Gone"), stocked.add_deck("Gone::Sub")
    keep_deck = stocked.add_deck("Gone Not")
    # The two-card note first (see test_api_notes' multi-card batch bug).
    (split,) = stocked.add_notes({"notetype_id": stocked.notetype_id("Basic (and reversed card)"),
                                  "fields": {"Front": "f", "Back": "b"}, "deck_id": sub})
    in_top = stocked.add_basic("top", deck_id=top)
    in_sub = stocked.add_basic("sub", deck_id=sub)
    kept = stocked.add_basic("kept", deck_id=keep_deck)
    split_cards = stocked.cards_of(split)
    stocked.ok("POST", "/cards/move", {"ids": [split_cards[1]["id"]], "deck_id": keep_deck})
    doomed_cards = {c["id"] for n in (in_top, in_sub) for c in stocked.cards_of(n)}
    doomed_cards.add(split_cards[0]["id"])

    assert stocked.delete(f"/decks/{top}").status_code == 204

    assert stocked.deck_names() == {1: "Default", keep_deck: "Gone Not"}
    assert stocked.note_ids() == [split, kept]
    assert [c["id"] for c in stocked.cards_of(split)] == [split_cards[1]["id"]]
    assert not doomed_cards & set(stocked.stored_cards())
    graves = {(g.oid, g.kind) for g in stocked.graves_since(3)}
    assert graves == ({(top, GraveKind.DECK), (sub, GraveKind.DECK)}
                      | {(c, GraveKind.CARD) for c in doomed_cards}
                      | {(in_top, GraveKind.NOTE), (in_sub, GraveKind.NOTE)})
    assert {g.usn for g in stocked.graves_since(3)} == {3}


def test_default_deck_cannot_be_deleted(alice: User) -> None:
    nid = alice.add_basic("stays")
    result = alice.delete("/decks/1")
    assert result.status_code == 400
    assert "default" in result.json["description"]
    assert alice.deck_names() == {1: "Default"}
    assert alice.note_ids() == [nid]


def test_deleting_an_unknown_deck_is_404(alice: User) -> None:
    assert alice.delete("/decks/4040").status_code == 404
    assert alice.delete("/decks/4040").status_code == 404


def filtered_deck(did: int, name: str) -> dict[str, Any]:
    return {"id": did, "name": name, "mod": 1, "usn": 0, "dyn": 1, "desc": "",
            "collapsed": False, "browserCollapsed": False, "lrnToday": [0, 0],
            "revToday": [0, 0], "newToday": [0, 0], "timeToday": [0, 0],
            "terms": [["deck:Home", 100, 0]], "resched": True, "delays": None,
            "previewDelay": 10, "separate": True}


def pull_into_filtered(user: User, nid: int, home: int) -> tuple[int, int]:
    """A device built filtered deck "Cram" from `home` and synced it: (deck id, card id)."""
    cram = 1_700_000_000_999
    user.add_deck_object(filtered_deck(cram, "Cram"))
    (card,) = user.cards_of(nid)
    user.update_card(card["id"], did=cram, odid=home, odue=card["due"], due=-100_000)
    return cram, card["id"]


@IGNORE_DISTINCT_WARNING
@pytest.mark.xfail(strict=True, reason=(
    "BUG: domain/api/service.py delete_deck deletes the cards that sit in a filtered deck "
    "(and their notes); Anki returns them to their home deck (odid/odue) instead"))
def test_deleting_a_filtered_deck_returns_its_cards_home(alice: User) -> None:
    home = alice.add_deck("Home")
    nid = alice.add_basic("borrowed", deck_id=home)
    cram, cid = pull_into_filtered(alice, nid, home)
    assert alice.delete(f"/decks/{cram}").status_code == 204
    card = alice.ok("GET", f"/cards/{cid}")
    assert (card["deck_id"], card["original_deck_id"], card["queue"]) == (home, 0, 0)


@IGNORE_DISTINCT_WARNING
@pytest.mark.xfail(strict=True, reason=(
    "BUG: domain/api/service.py delete_deck selects cards by `did` only; a card of the "
    "deleted deck that is borrowed by a filtered deck (odid = deleted deck) survives with "
    "odid pointing at a deck that no longer exists. Anki deletes did = deck OR odid = deck"))
def test_deleting_a_deck_deletes_its_cards_borrowed_by_a_filtered_deck(alice: User) -> None:
    home = alice.add_deck("Home")
    nid = alice.add_basic("borrowed", deck_id=home)
    _, cid = pull_into_filtered(alice, nid, home)
    assert alice.delete(f"/decks/{home}").status_code == 204
    assert alice.get(f"/cards/{cid}").status_code == 404
    assert alice.get(f"/notes/{nid}").status_code == 404


def test_cards_cannot_be_moved_into_a_filtered_deck(alice: User) -> None:
    home = alice.add_deck("Home")
    nid = alice.add_basic("x", deck_id=home)
    other = alice.add_basic("y")
    cram, _ = pull_into_filtered(alice, nid, home)
    (card,) = alice.cards_of(other)
    result = alice.post("/cards/move", {"ids": [card["id"]], "deck_id": cram})
    assert result.status_code == 400
    assert alice.ok("GET", f"/cards/{card['id']}")["deck_id"] == 1


@pytest.mark.xfail(strict=True, reason=(
    "BUG: domain/api/service.py move_cards only sets `did`; a card in a filtered deck "
    "keeps odid/odue, so it is 'in' the new deck and still borrowed. Anki's set_deck "
    "first returns it home (remove_from_filtered_deck_restoring_queue)"))
def test_moving_a_borrowed_card_takes_it_out_of_the_filtered_deck(alice: User) -> None:
    home, target = alice.add_deck("Home"), alice.add_deck("Target")
    nid = alice.add_basic("x", deck_id=home)
    _, cid = pull_into_filtered(alice, nid, home)
    alice.ok("POST", "/cards/move", {"ids": [cid], "deck_id": target})
    card = alice.ok("GET", f"/cards/{cid}")
    assert (card["deck_id"], card["original_deck_id"], card["original_due"]) == (target, 0, 0)
    assert card["due"] > 0


def test_stored_deck_json_round_trips(alice: User) -> None:
    did = alice.add_deck("Stored")
    stored = alice.stored_deck(did)
    assert stored is not None
    assert json.loads(stored.json) == alice.ok("GET", f"/decks/{did}")
