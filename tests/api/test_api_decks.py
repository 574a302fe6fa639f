"""Decks, deck presets and note types through /api/v1."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.model import GraveKind
from tests.api.conftest import User


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
    assert result.status_code == 400
    assert alice.deck_names() == {1: "Default", did: "A"}


# -- deleting ----------------------------------------------------------------------------


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


def test_deleting_a_filtered_deck_returns_its_cards_home(alice: User) -> None:
    home = alice.add_deck("Home")
    nid = alice.add_basic("borrowed", deck_id=home)
    cram, cid = pull_into_filtered(alice, nid, home)
    assert alice.delete(f"/decks/{cram}").status_code == 204
    card = alice.ok("GET", f"/cards/{cid}")
    assert (card["deck_id"], card["original_deck_id"], card["queue"]) == (home, 0, 0)


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


def test_moving_a_borrowed_card_takes_it_out_of_the_filtered_deck(alice: User) -> None:
    home, target = alice.add_deck("Home"), alice.add_deck("Target")
    nid = alice.add_basic("x", deck_id=home)
    _, cid = pull_into_filtered(alice, nid, home)
    alice.ok("POST", "/cards/move", {"ids": [cid], "deck_id": target})
    card = alice.ok("GET", f"/cards/{cid}")
    assert (card["deck_id"], card["original_deck_id"], card["original_due"]) == (target, 0, 0)
    assert card["due"] > 0


CRAM = 1_700_000_000_999  # the filtered deck pull_into_filtered makes


def card_id(user: User, nid: int) -> int:
    return int(user.cards_of(nid)[0]["id"])


def borrow(user: User, cram: int, cid: int, **home: Any) -> None:
    """Give a card the state `home` in its deck, then pull it into filtered deck `cram` as
    Anki's rebuild does: odid and odue keep the home deck and due; the queue stays."""
    card = user.stored_cards()[cid]._replace(**home)
    user.update_card(cid, **{**home, "did": cram, "odid": card.did, "odue": card.due,
                             "due": -100_000})


# home state of a borrowed card -> its queue once it is back home (Anki's
# restore_queue_from_type; a suspended or buried card keeps its queue).
BORROWED = {
    "new": ({"type": 0, "queue": 0}, 0),
    "review": ({"type": 2, "queue": 2, "due": 400, "ivl": 10}, 2),
    "learning": ({"type": 1, "queue": 1, "due": 1_800_000_000, "left": 2}, 1),
    "day learning": ({"type": 1, "queue": 3, "due": 401, "left": 1}, 3),
    "relearning": ({"type": 3, "queue": 1, "due": 1_800_000_500, "left": 1}, 1),
    "suspended review": ({"type": 2, "queue": -1, "due": 402, "ivl": 3}, -1),
    "buried new": ({"type": 0, "queue": -3}, -3),
}


def assert_home(user: User, cid: int, did: int, due: int, queue: int) -> None:
    card = user.ok("GET", f"/cards/{cid}")
    assert (card["deck_id"], card["original_deck_id"], card["original_due"]) == (did, 0, 0)
    assert (card["due"], card["queue"]) == (due, queue)


def test_deleting_a_filtered_deck_returns_the_cards_of_every_home_deck(alice: User) -> None:
    homes = [alice.add_deck("A"), alice.add_deck("B"), 1]
    alice.add_deck_object(filtered_deck(CRAM, "Cram"))
    expected = {}
    for i, (name, (home, queue)) in enumerate(BORROWED.items()):
        did = homes[i % len(homes)]
        cid = card_id(alice, alice.add_basic(name, deck_id=did))
        due = home.get("due", alice.stored_cards()[cid].due)
        borrow(alice, CRAM, cid, **home)
        expected[cid] = (did, due, queue)
    alice.set_usn(4)
    assert alice.delete(f"/decks/{CRAM}").status_code == 204
    for cid, (did, due, queue) in expected.items():
        assert_home(alice, cid, did, due, queue)
    assert {alice.stored_cards()[cid].usn for cid in expected} == {4}
    assert [(g.oid, g.kind) for g in alice.graves_since(4)] == [(CRAM, GraveKind.DECK)]
    assert len(alice.note_ids()) == len(BORROWED)


def test_deleting_a_home_deck_leaves_the_filtered_decks_other_cards(stocked: User) -> None:
    a, b = stocked.add_deck("A"), stocked.add_deck("B")
    stocked.add_deck_object(filtered_deck(CRAM, "Cram"))
    # One card of this note lives in A, the other in B; both are borrowed.
    (split,) = stocked.add_notes({"notetype_id": stocked.notetype_id("Basic (and reversed card)"),
                                  "fields": {"Front": "f", "Back": "b"}, "deck_id": a})
    split_a, split_b = (c["id"] for c in stocked.cards_of(split))
    stocked.ok("POST", "/cards/move", {"ids": [split_b], "deck_id": b})
    only_a, only_b = stocked.add_basic("a", deck_id=a), stocked.add_basic("b", deck_id=b)
    card_a, card_b = card_id(stocked, only_a), card_id(stocked, only_b)
    for cid in (split_a, split_b, card_a, card_b):
        borrow(stocked, CRAM, cid)
    stocked.set_usn(6)

    assert stocked.delete(f"/decks/{a}").status_code == 204

    assert stocked.deck_names() == {1: "Default", b: "B", CRAM: "Cram"}
    assert stocked.note_ids() == [split, only_b]
    left = {c["id"]: (c["deck_id"], c["original_deck_id"])
            for n in (split, only_b) for c in stocked.cards_of(n)}
    assert left == {split_b: (CRAM, b), card_b: (CRAM, b)}
    graves = {(g.oid, g.kind) for g in stocked.graves_since(6)}
    assert graves == {(a, GraveKind.DECK), (split_a, GraveKind.CARD), (card_a, GraveKind.CARD),
                      (only_a, GraveKind.NOTE)}


def test_deleting_a_parent_with_a_filtered_child(alice: User) -> None:
    """The parent's own cards go, borrowed or not; the child's other cards go home."""
    parent, other = alice.add_deck("P"), alice.add_deck("Other")
    child = CRAM + 1
    alice.add_deck_object(filtered_deck(child, "P::Cram"))
    mine, theirs = alice.add_basic("mine", deck_id=parent), alice.add_basic("o", deck_id=other)
    kept_due = alice.stored_cards()[card_id(alice, theirs)].due
    for nid in (mine, theirs):
        borrow(alice, child, card_id(alice, nid))
    assert alice.delete(f"/decks/{parent}").status_code == 204
    assert alice.deck_names() == {1: "Default", other: "Other"}
    assert alice.note_ids() == [theirs]
    assert_home(alice, card_id(alice, theirs), other, kept_due, 0)


def test_a_filtered_card_without_a_home_goes_to_the_default_deck(alice: User) -> None:
    """Anki never leaves a card in a filtered deck with odid 0; if a device did, deleting
    the deck must not leave the card in a deck that no longer exists."""
    home = alice.add_deck("Home")
    nid = alice.add_basic("x", deck_id=home)
    cram, cid = pull_into_filtered(alice, nid, home)
    alice.update_card(cid, odid=0, odue=0)
    assert alice.delete(f"/decks/{cram}").status_code == 204
    assert alice.ok("GET", f"/cards/{cid}")["deck_id"] == 1


def test_moving_a_mix_of_borrowed_and_normal_cards(alice: User) -> None:
    home, target = alice.add_deck("Home"), alice.add_deck("Target")
    borrowed, plain, there = (alice.add_basic(f, deck_id=d)
                              for f, d in (("b", home), ("p", None), ("t", target)))
    due = alice.stored_cards()[card_id(alice, borrowed)].due
    pull_into_filtered(alice, borrowed, home)
    before = alice.stored_cards()[card_id(alice, there)]
    alice.set_usn(2)
    ids = [card_id(alice, n) for n in (borrowed, plain, there)]
    assert alice.ok("POST", "/cards/move", {"ids": ids, "deck_id": target}) == {"count": 2}
    assert_home(alice, ids[0], target, due, 0)
    assert alice.ok("GET", f"/cards/{ids[1]}")["deck_id"] == target
    assert alice.stored_cards()[ids[2]] == before
    assert {alice.stored_cards()[c].usn for c in ids[:2]} == {2}


@pytest.mark.parametrize("state", list(BORROWED))
def test_a_moved_borrowed_card_gets_its_due_and_queue_back(alice: User, state: str) -> None:
    home_state, queue = BORROWED[state]
    home, target = alice.add_deck("Home"), alice.add_deck("Target")
    alice.add_deck_object(filtered_deck(CRAM, "Cram"))
    cid = card_id(alice, alice.add_basic("x", deck_id=home))
    due = home_state.get("due", alice.stored_cards()[cid].due)
    borrow(alice, CRAM, cid, **home_state)
    assert alice.ok("POST", "/cards/move", {"ids": [cid], "deck_id": target}) == {"count": 1}
    assert_home(alice, cid, target, due, queue)


def test_moving_a_borrowed_card_to_its_home_deck_returns_it(alice: User) -> None:
    home = alice.add_deck("Home")
    nid = alice.add_basic("x", deck_id=home)
    due = alice.stored_cards()[card_id(alice, nid)].due
    _, cid = pull_into_filtered(alice, nid, home)
    assert alice.ok("POST", "/cards/move", {"ids": [cid], "deck_id": home}) == {"count": 1}
    assert_home(alice, cid, home, due, 0)


def test_stored_deck_json_round_trips(alice: User) -> None:
    did = alice.add_deck("Stored")
    stored = alice.stored_deck(did)
    assert stored is not None
    assert json.loads(stored.json) == alice.ok("GET", f"/decks/{did}")
