"""CollectionApi on the in-memory adapter: writes are stamped for sync and refused mid-sync."""

from __future__ import annotations

import pytest

from adapters.memory.store import InMemoryStore
from domain.api.service import CollectionApi, NewNote, SyncInProgress
from domain.model import Credentials, UserId
from domain.new_collection import new_collection
from domain.sync.note_text import field_checksum
from domain.sync.server import SyncServer
from domain.sync.values import StartRequest
from ports.queries import CardFilter, NoteFilter
from tests.support.fakes import CountingTokens, FakeClock

USER = UserId(3)


@pytest.fixture
def store() -> InMemoryStore:
    store = InMemoryStore()
    with store() as uow:
        uow.collections.create(USER, new_collection(FakeClock().now_ms()))
        uow.commit()
    return store


def test_added_note_gets_cards_usn_and_moves_mod(store: InMemoryStore) -> None:
    clock = FakeClock()
    api = CollectionApi(uow=store, clock=clock, tokens=CountingTokens())
    mid = next(iter(store.state.collections[USER].notetypes))
    before = store.state.collections[USER].meta
    clock.tick(5000)
    [nid] = api.add_notes(USER, [NewNote(mid, {"Front": "q", "Back": "a"}, ("t",))])
    note = api.notes(USER, NoteFilter(text="Q"), None, 10)[0]
    cards = api.cards(USER, CardFilter(note_ids=(nid,)), None, 10)
    after = store.state.collections[USER].meta
    assert note.id == nid and note.usn == before.usn and note.tags == " t "
    assert [c.ord for c in cards] == [0] and cards[0].usn == before.usn
    assert after.mod > before.mod and api.tags(USER) == ["t"]


def test_writes_are_refused_while_a_device_syncs(store: InMemoryStore) -> None:
    clock = FakeClock()
    api = CollectionApi(uow=store, clock=clock, tokens=CountingTokens())
    SyncServer(uow=store, clock=clock).start(Credentials(USER), "s", StartRequest(0, True))
    with pytest.raises(SyncInProgress):
        api.add_deck(USER, "Blocked")
    assert all(d.name != "Blocked" for d in store.state.collections[USER].decks.values())


def test_notes_by_checksum_finds_notes_sharing_a_first_field(store: InMemoryStore) -> None:
    api = CollectionApi(uow=store, clock=FakeClock(), tokens=CountingTokens())
    mid = next(iter(store.state.collections[USER].notetypes))
    cat, dog, _ = api.add_notes(USER, [NewNote(mid, {"Front": f, "Back": "a"})
                                       for f in ("<b>cat</b>", "dog", "cow")])
    found = api.notes_by_checksum(USER, [field_checksum("cat"), field_checksum("dog"), 1])
    assert [(n.id, decks) for n, decks in found] == [(cat, {1}), (dog, {1})]
    assert api.notes(USER, NoteFilter(checksums=(field_checksum("dog"),)), None, 9)[0].id == dog
