"""API writes keep the collection consistent with sync.

Every write bumps `mod` (so devices notice), stamps the collection's current usn on
what it touches (so the next normal sync sends it), writes graves for deletions, and
is refused with 409 while a device's sync session is open, changing nothing. A write
that finds nothing to change changes nothing either, `mod` included: a newer `mod`
alone makes every device sync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from domain.model import Credentials, GraveKind, ObjectKind, RowKind, UserId
from domain.sync.values import StartRequest
from tests.api.conftest import User

USN = 11


@dataclass
class Fixture:
    """A collection with a deck, notes and cards, as if devices had synced USN times."""

    user: User
    deck: int
    nid: int
    cid: int
    other_nid: int


@pytest.fixture
def seeded(alice: User) -> Fixture:
    deck = alice.add_deck("Seed")
    nid = alice.add_basic("seed", tags=("seed",), deck_id=deck)
    other = alice.add_basic("other", tags=("seed",))
    alice.set_usn(USN)
    return Fixture(alice, deck, nid, alice.cards_of(nid)[0]["id"], other)


WRITES: dict[str, Callable[[Fixture], tuple[str, str, Any]]] = {
    "add note": lambda f: ("POST", "/notes", {"notes": [
        {"notetype_id": f.user.notetype_id("Basic"), "fields": {"Front": "new"}}]}),
    "update note": lambda f: ("PATCH", f"/notes/{f.nid}", {"fields": {"Back": "edited"}}),
    "delete note": lambda f: ("DELETE", f"/notes/{f.nid}", None),
    "delete notes": lambda f: ("POST", "/notes/delete", {"ids": [f.other_nid]}),
    "add deck": lambda f: ("POST", "/decks", {"name": "Fresh::Child"}),
    "rename deck": lambda f: ("PATCH", f"/decks/{f.deck}", {"name": "Renamed"}),
    "delete deck": lambda f: ("DELETE", f"/decks/{f.deck}", None),
    "move cards": lambda f: ("POST", "/cards/move", {"ids": [f.cid], "deck_id": 1}),
    "suspend": lambda f: ("POST", "/cards/suspend", {"ids": [f.cid]}),
    "rename tag": lambda f: ("POST", "/tags/rename", {"old": "seed", "new": "sprout"}),
}


def call(f: Fixture, write: str) -> Any:
    method, path, body = WRITES[write](f)
    return f.user.http.simulate_request(method, f"/api/v1{path}", headers=f.user.auth,
                                        json=body)


def snapshot(f: Fixture) -> dict[str, Any]:
    user = f.user
    return {"notes": [user.stored_note(n) for n in (f.nid, f.other_nid)],
            "cards": user.stored_cards(), "decks": user.deck_names(),
            "tags": user.ok("GET", "/tags")["tags"], "graves": user.graves_since(-1),
            "meta": user.meta(), "all_notes": user.note_ids()}


def stamped(f: Fixture, usn: int) -> set[str]:
    """Which kinds of rows carry `usn` (everything else has an older one)."""
    user, found = f.user, set()
    with user.api.services.api.uow(write=False) as uow:
        me = UserId(user.id)
        if uow.collections.rows_page(me, RowKind.NOTE, usn, None, 100):
            found.add("notes")
        if uow.collections.rows_page(me, RowKind.CARD, usn, None, 100):
            found.add("cards")
        if uow.collections.objects_since(me, ObjectKind.DECK, usn):
            found.add("decks")
        if uow.collections.tags_since(me, usn):
            found.add("tags")
        if uow.collections.graves_since(me, usn):
            found.add("graves")
    return found


EXPECTED_STAMPS = {
    "add note": {"notes", "cards"},
    "update note": {"notes"},
    "delete note": {"graves"},
    "delete notes": {"graves"},
    "add deck": {"decks"},
    "rename deck": {"decks"},
    "delete deck": {"graves"},
    "move cards": {"cards"},
    "suspend": {"cards"},
    "rename tag": {"notes", "tags"},
}


# An order in which every write still finds what it changes.
ORDER = ["add deck", "rename deck", "add note", "update note", "move cards", "suspend",
         "rename tag", "delete notes", "delete note", "delete deck"]


def test_every_write_bumps_mod_and_stamps_the_current_usn(seeded: Fixture) -> None:
    """Each write in turn, one usn apart, so each one's stamps can be told apart."""
    assert sorted(ORDER) == sorted(WRITES)
    user = seeded.user
    for usn, write in enumerate(ORDER, start=USN + 1):
        user.set_usn(usn)
        before = user.meta()
        assert stamped(seeded, usn) == set(), write
        result = call(seeded, write)
        assert result.status_code in (200, 201, 204), (write, result.text)
        after = user.meta()
        assert after.mod > before.mod, write
        assert after.usn == usn, "only a finished sync moves the usn"
        assert stamped(seeded, usn) == EXPECTED_STAMPS[write], write


# Writes that find nothing to change, with the status they answer.
NO_OPS: dict[str, tuple[Callable[[Fixture], tuple[str, str, Any]], int]] = {
    "delete an unknown note": (lambda f: ("DELETE", "/notes/12345", None), 404),
    "delete unknown notes": (lambda f: ("POST", "/notes/delete", {"ids": [12345, 6789]}), 200),
    "update a note to what it is": (lambda f: (
        "PATCH", f"/notes/{f.nid}", {"fields": {"Front": "seed"}, "tags": ["seed"]}), 200),
    "rename a deck to its name": (lambda f: ("PATCH", f"/decks/{f.deck}", {"name": "Seed"}),
                                  200),
    "move cards where they are": (lambda f: (
        "POST", "/cards/move", {"ids": [f.cid], "deck_id": f.deck}), 200),
    "unsuspend a card that is not": (lambda f: (
        "POST", "/cards/unsuspend", {"ids": [f.cid]}), 200),
    "rename a tag no note has": (lambda f: (
        "POST", "/tags/rename", {"old": "nothing", "new": "x"}), 200),
    "delete an unknown deck": (lambda f: ("DELETE", "/decks/4040", None), 404),
}


@pytest.mark.parametrize("write", list(NO_OPS))
def test_a_write_that_changes_nothing_leaves_mod_alone(seeded: Fixture, write: str) -> None:
    request, status = NO_OPS[write]
    method, path, body = request(seeded)
    before = snapshot(seeded)
    result = seeded.user.http.simulate_request(method, f"/api/v1{path}",
                                               headers=seeded.user.auth, json=body)
    assert result.status_code == status, result.text
    assert snapshot(seeded) == before


def test_writes_during_a_sync_are_409_and_change_nothing(seeded: Fixture) -> None:
    server, me = seeded.user.api.services.server, UserId(seeded.user.id)
    server.start(Credentials(me), "skey", StartRequest(USN, True))
    before = snapshot(seeded)
    for write in WRITES:
        result = call(seeded, write)
        assert result.status_code == 409, (write, result.text)
        assert set(result.json) == {"title", "description"}
        assert "sync" in result.json["description"]
    assert snapshot(seeded) == before
    server.abort(Credentials(me), "skey")
    for write in ORDER:
        assert call(seeded, write).status_code in (200, 201, 204), write


def test_reads_work_during_a_sync(seeded: Fixture) -> None:
    device = Credentials(UserId(seeded.user.id))
    seeded.user.api.services.server.start(device, "k", StartRequest(USN, False))
    assert seeded.user.note_ids() == [seeded.nid, seeded.other_nid]
    assert seeded.user.ok("GET", f"/cards/{seeded.cid}")["id"] == seeded.cid


def test_another_users_sync_does_not_block_writes(seeded: Fixture, bob: User) -> None:
    bob.api.services.server.start(Credentials(UserId(bob.id)), "bob", StartRequest(0, True))
    assert call(seeded, "add note").status_code == 201
    assert bob.post("/decks", {"name": "x"}).status_code == 409


def test_graves_reach_the_next_normal_sync(seeded: Fixture) -> None:
    """What a device that last synced at USN is told to delete when it starts a sync."""
    user = seeded.user
    second = user.add_basic("to go", deck_id=seeded.deck)
    gone_cards = [c["id"] for n in (seeded.nid, second) for c in user.cards_of(n)]
    user.delete(f"/notes/{seeded.nid}")
    user.delete(f"/decks/{seeded.deck}")
    device = Credentials(UserId(user.id))
    graves = user.api.services.server.start(device, "device", StartRequest(USN, False))
    user.api.services.server.abort(device, "device")
    assert sorted(graves.notes) == sorted([seeded.nid, second])
    assert sorted(graves.cards) == sorted(gone_cards)
    assert graves.decks == (seeded.deck,)
    up_to_date = user.api.services.server.start(device, "d2", StartRequest(USN + 1, False))
    assert len(up_to_date) == 0
    assert {g.kind for g in user.graves_since(USN)} == {GraveKind.NOTE, GraveKind.CARD,
                                                        GraveKind.DECK}
