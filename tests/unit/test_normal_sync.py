"""The normal-sync steps of SyncServer on the in-memory adapter."""

from __future__ import annotations

import copy
import json

import pytest

from adapters.memory.store import InMemoryStore
from domain.errors import SessionConflict, SyncRejected
from domain.model import Card, Credentials, Note, RevlogEntry, UserId
from domain.new_collection import new_collection
from domain.sync.server import SyncServer
from domain.sync.staging import StageKind
from domain.sync.values import Chunk, Graves, SanityCounts, StartRequest, UnchunkedChanges
from tests.support.fakes import FakeClock

USER = UserId(7)
ME = Credentials(USER)  # the device calling the server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> InMemoryStore:
    store = InMemoryStore()
    with store() as uow:
        uow.collections.create(USER, new_collection(clock.now_ms()))
        uow.commit()
    return store


@pytest.fixture
def server(store: InMemoryStore, clock: FakeClock) -> SyncServer:
    return SyncServer(uow=store, clock=clock)


def notetype_id(store: InMemoryStore) -> int:
    return next(iter(store.state.collections[USER].notetypes))


def note(nid: int, mid: int, mod: int = 100, front: str = "front", usn: int = 0) -> Note:
    return Note(nid, f"g{nid}", mid, mod, usn, "", f"{front}\x1fback", "", 0, 0, "")


def card(cid: int, nid: int, mod: int = 100, usn: int = 0) -> Card:
    return Card(cid, nid, 1, 0, mod, usn, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, "{}")


def counts(store: InMemoryStore) -> SanityCounts:
    c = store.state.collections[USER]
    return SanityCounts((0, 0, 0), len(c.cards), len(c.notes), len(c.revlog), 0,
                        len(c.notetypes), len(c.decks), len(c.deck_configs))


def sync_up(server: SyncServer, store: InMemoryStore, chunk: Chunk, skey: str = "s1") -> int:
    """A whole client-to-server sync sending one chunk; returns finish's mod."""
    col = store.state.collections[USER].meta
    server.start(ME, skey, StartRequest(col.usn, True))
    server.apply_changes(ME, skey, UnchunkedChanges())
    while not server.chunk(ME, skey).done:
        pass
    server.apply_chunk(ME, skey, chunk)
    expected, c = counts(store), store.state.collections[USER]
    after = SanityCounts(
        expected.due, expected.cards + len({x.id for x in chunk.cards} - set(c.cards)),
        expected.notes + len({n.id for n in chunk.notes} - set(c.notes)),
        expected.revlog + len({e.id for e in chunk.revlog} - set(c.revlog)),
        0, expected.notetypes, expected.decks, expected.deck_configs)
    assert server.sanity_check(ME, skey, after).ok
    return server.finish(ME, skey)


def test_a_sync_applies_the_clients_rows_and_bumps_usn_once(
    server: SyncServer, store: InMemoryStore, clock: FakeClock
) -> None:
    mid = notetype_id(store)
    clock.tick(5000)
    mod = sync_up(server, store, Chunk(True, (RevlogEntry(9, 2, 0, 3, 1, 0, 2500, 800, 1),),
                                       (card(2, 1),), (note(1, mid),)))
    col = store.state.collections[USER]
    assert mod == clock.now_ms() and col.meta.mod == mod and col.meta.usn == 1
    assert col.notes[1].usn == 0 and col.cards[2].usn == 0 and col.revlog[9].usn == 0
    assert col.notes[1].sfld == "front" and col.notes[1].csum != 0


def test_the_session_records_the_kinds_it_staged(
    server: SyncServer, store: InMemoryStore
) -> None:
    server.start(ME, "s", StartRequest(0, True))
    server.apply_graves(ME, "s", Graves(notes=(5,)))
    server.apply_changes(ME, "s", UnchunkedChanges(tags=("x",)))
    server.chunk(ME, "s")
    server.apply_chunk(ME, "s", Chunk(True, (), (card(2, 1),), ()))
    staged = {kind for (kind, _) in store.state.staging[USER]}
    assert staged == store.state.sessions[USER].staged == {
        StageKind.GRAVE_NOTE, StageKind.TAG, StageKind.CARD}


def test_nothing_is_visible_before_finish(server: SyncServer, store: InMemoryStore) -> None:
    before = copy.deepcopy(store.state.collections[USER])
    server.start(ME, "s", StartRequest(0, True))
    server.apply_graves(ME, "s", Graves(decks=(1,)))
    server.apply_changes(ME, "s", UnchunkedChanges(tags=("x",), crt=5))
    server.chunk(ME, "s")
    server.apply_chunk(ME, "s", Chunk(True, (), (), (note(1, notetype_id(store)),)))
    assert store.state.collections[USER] == before


def test_aborting_is_idempotent(server: SyncServer, store: InMemoryStore) -> None:
    before = copy.deepcopy(store.state.collections[USER])
    server.start(ME, "s", StartRequest(0, True))
    server.abort(ME, "s")
    server.abort(ME, "s")
    server.abort(ME, "other")
    assert store.state.collections[USER] == before
    assert store.state.sessions == {}
    with pytest.raises(SessionConflict):
        server.apply_graves(ME, "s", Graves())


def test_abort_with_another_key_keeps_the_active_session(server: SyncServer) -> None:
    server.start(ME, "mine", StartRequest(0, True))
    server.abort(ME, "someone-else")
    server.apply_graves(ME, "mine", Graves(cards=(1,)))


def test_new_start_cancels_previous_session(server: SyncServer, store: InMemoryStore) -> None:
    server.start(ME, "first", StartRequest(0, True))
    server.start(ME, "second", StartRequest(0, True))
    with pytest.raises(SessionConflict):
        server.apply_changes(ME, "first", UnchunkedChanges())
    server.apply_changes(ME, "second", UnchunkedChanges())


def test_meta_ends_a_sync_in_progress(server: SyncServer) -> None:
    from domain.sync.meta import MetaRequest

    server.start(ME, "s", StartRequest(0, True))
    server.meta(ME, MetaRequest(11, ""))
    with pytest.raises(SessionConflict):
        server.apply_graves(ME, "s", Graves())


def test_failed_sanity_check_leaves_server_unchanged_and_blocks_finish(
    server: SyncServer, store: InMemoryStore
) -> None:
    before = copy.deepcopy(store.state.collections[USER])
    server.start(ME, "s", StartRequest(0, True))
    server.apply_changes(ME, "s", UnchunkedChanges())
    server.chunk(ME, "s")
    server.apply_chunk(ME, "s", Chunk(True, (), (), (note(1, notetype_id(store)),)))
    result = server.sanity_check(ME, "s", SanityCounts((0, 0, 0), 99, 1, 0, 0, 1, 1, 1))
    assert not result.ok and result.server is not None and result.server.notes == 1
    with pytest.raises(SyncRejected):
        server.finish(ME, "s")
    assert store.state.collections[USER] == before


def test_steps_out_of_order_are_rejected_and_end_the_session(server: SyncServer) -> None:
    server.start(ME, "s", StartRequest(0, True))
    with pytest.raises(SyncRejected):
        server.finish(ME, "s")
    with pytest.raises(SessionConflict):
        server.apply_graves(ME, "s", Graves())


def test_a_sanity_check_before_the_last_chunk_is_refused_and_ends_the_session(
    server: SyncServer, store: InMemoryStore
) -> None:
    """A session that lost its last chunk (a database crash may undo the commits of the
    steps before finish, the latest first) must not reach finish with what it kept."""
    mid = notetype_id(store)
    server.start(ME, "s", StartRequest(0, True))
    server.apply_changes(ME, "s", UnchunkedChanges())
    server.chunk(ME, "s")
    server.apply_chunk(ME, "s", Chunk(False, (), (), (note(1, mid),)))
    before = copy.deepcopy(store.state.collections[USER])
    with pytest.raises(SyncRejected):
        server.sanity_check(ME, "s", counts(store))
    assert store.state.sessions.get(USER) is None
    assert store.state.collections[USER] == before


def test_missing_session_key_is_rejected(server: SyncServer) -> None:
    with pytest.raises(SyncRejected):
        server.start(ME, "", StartRequest(0, True))


def test_note_of_unknown_notetype_is_rejected_and_session_dropped(server: SyncServer) -> None:
    server.start(ME, "s", StartRequest(0, True))
    server.apply_changes(ME, "s", UnchunkedChanges())
    with pytest.raises(SyncRejected):
        server.apply_chunk(ME, "s", Chunk(True, (), (), (note(1, 424242),)))
    with pytest.raises(SessionConflict):
        server.chunk(ME, "s")


def test_note_with_wrong_field_count_is_rejected(server: SyncServer, store: InMemoryStore) -> None:
    server.start(ME, "s", StartRequest(0, True))
    server.apply_changes(ME, "s", UnchunkedChanges())
    bad = Note(1, "g", notetype_id(store), 1, 0, "", "only one field", "", 0, 0, "")
    with pytest.raises(SyncRejected):
        server.apply_chunk(ME, "s", Chunk(True, (), (), (bad,)))


def test_server_changes_are_computed_before_client_changes_are_applied(
    server: SyncServer, store: InMemoryStore
) -> None:
    server.start(ME, "s", StartRequest(0, True))
    deck = {"id": 55, "name": "Client deck", "mod": 10, "usn": 0, "dyn": 0, "conf": 1}
    ours = server.apply_changes(ME, "s", UnchunkedChanges(decks=(deck,), tags=("t",)))
    assert all(d["id"] != 55 for d in ours.decks) and "t" not in ours.tags
    assert ours.config is None and ours.crt is None  # the client is newer


def test_server_sends_conf_and_crt_when_client_is_not_newer(server: SyncServer) -> None:
    server.start(ME, "s", StartRequest(0, False))
    ours = server.apply_changes(ME, "s", UnchunkedChanges())
    assert ours.config is not None and ours.config["curDeck"] == 1
    assert ours.crt is not None


def test_graves_delete_rows_and_are_sent_to_other_devices(
    server: SyncServer, store: InMemoryStore, clock: FakeClock
) -> None:
    mid = notetype_id(store)
    sync_up(server, store, Chunk(True, (), (card(2, 1),), (note(1, mid),)))
    usn = store.state.collections[USER].meta.usn
    server.start(ME, "d", StartRequest(usn, True))
    server.apply_graves(ME, "d", Graves(cards=(2,), notes=(1,)))
    server.apply_changes(ME, "d", UnchunkedChanges())
    assert server.chunk(ME, "d").done
    server.apply_chunk(ME, "d", Chunk(True))
    assert server.sanity_check(ME, "d", counts(store).comparable()).ok is False
    server.abort(ME, "d")
    server.start(ME, "d2", StartRequest(usn, True))
    server.apply_graves(ME, "d2", Graves(cards=(2,), notes=(1,)))
    server.apply_changes(ME, "d2", UnchunkedChanges())
    server.chunk(ME, "d2")
    server.apply_chunk(ME, "d2", Chunk(True))
    c = counts(store)
    after = SanityCounts(c.due, c.cards - 1, c.notes - 1, c.revlog, 0, c.notetypes, c.decks,
                         c.deck_configs)
    assert server.sanity_check(ME, "d2", after).ok
    server.finish(ME, "d2")
    col = store.state.collections[USER]
    assert not col.notes and not col.cards
    graves = server.start(ME, "other", StartRequest(0, False))
    assert graves == Graves(cards=(2,), notes=(1,))


def test_cards_tie_keeps_the_servers_pending_copy_newer_client_copy_wins(
    server: SyncServer, store: InMemoryStore
) -> None:
    mid = notetype_id(store)
    sync_up(server, store, Chunk(True, (), (), (note(1, mid, mod=100, front="server"),)))
    # Another device last synced at usn 0, so the server's copy (usn 0) is pending for it.
    server.start(ME, "x", StartRequest(0, True))
    server.apply_changes(ME, "x", UnchunkedChanges())
    sent = server.chunk(ME, "x")
    assert [n.id for n in sent.notes] == [1]
    server.apply_chunk(ME, "x", Chunk(True, (), (), (note(1, mid, mod=100, front="tie"),)))
    server.sanity_check(ME, "x", counts(store).comparable())
    server.finish(ME, "x")
    assert store.state.collections[USER].notes[1].flds.startswith("server")
    sync_up(server, store, Chunk(True, (), (), (note(1, mid, mod=101, front="newer"),)))
    assert store.state.collections[USER].notes[1].flds.startswith("newer")


def test_objects_tie_takes_the_incoming_copy_and_names_stay_unique(
    server: SyncServer, store: InMemoryStore
) -> None:
    server.start(ME, "s", StartRequest(0, True))
    clash = {"id": 77, "name": "default", "mod": 0, "usn": 0, "dyn": 0, "conf": 1}
    same_mod = {**json.loads(store.state.collections[USER].decks[1].json), "desc": "tie"}
    server.apply_changes(ME, "s", UnchunkedChanges(decks=(clash, same_mod)))
    server.chunk(ME, "s")
    server.apply_chunk(ME, "s", Chunk(True))
    c = counts(store)
    server.sanity_check(ME, "s", SanityCounts(c.due, c.cards, c.notes, c.revlog, 0,
                                                c.notetypes, c.decks + 1, c.deck_configs))
    server.finish(ME, "s")
    decks = store.state.collections[USER].decks
    assert json.loads(decks[1].json)["desc"] == "tie"
    assert decks[77].name == "default+"
    assert json.loads(decks[77].json)["usn"] == 0


def test_string_grave_ids_are_accepted() -> None:
    from adapters.http.sync_schemas import GravesSchema

    graves = GravesSchema().load({"cards": ["12", 13], "notes": [], "decks": ["-1"]})
    assert graves == Graves(cards=(12, 13), decks=(-1,))


def test_chunks_hold_at_most_250_and_done_only_when_exhausted(
    server: SyncServer, store: InMemoryStore
) -> None:
    mid = notetype_id(store)
    notes = tuple(note(i, mid) for i in range(1, 251))
    sync_up(server, store, Chunk(True, (), (), notes))
    server.start(ME, "r", StartRequest(0, False))
    server.apply_changes(ME, "r", UnchunkedChanges())
    first = server.chunk(ME, "r")
    second = server.chunk(ME, "r")
    third = server.chunk(ME, "r")
    assert (len(first), first.done) == (250, False)
    assert (len(second), second.done) == (0, True)
    assert third.done


def sync_config(server: SyncServer, store: InMemoryStore, config: dict[str, object],
                device: Credentials = ME) -> None:
    col = store.state.collections[USER].meta
    server.start(device, "cfg", StartRequest(col.usn, True))
    server.apply_changes(device, "cfg", UnchunkedChanges(config=config))
    while not server.chunk(device, "cfg").done:
        pass
    server.apply_chunk(device, "cfg", Chunk(True))
    assert server.sanity_check(device, "cfg", counts(store)).ok
    server.finish(device, "cfg")


def test_config_values_the_client_did_not_change_keep_their_usn(
    server: SyncServer, store: InMemoryStore, clock: FakeClock
) -> None:
    sync_config(server, store, {"a": 1, "b": [1, 2], "gone": "x"})
    first = dict(store.state.collections[USER].config)
    clock.tick(5000)
    sync_config(server, store, {"b": [1, 2], "a": 2, "new": None})
    second = store.state.collections[USER].config
    assert set(second) == {"a", "b", "new"}
    assert second["b"] == first["b"]  # unchanged: same usn and mtime
    assert second["a"].json == "2" and second["a"].usn > first["a"].usn
    assert second["new"].json == "null"
    clock.tick(5000)
    sync_config(server, store, {"a": 2, "b": [1, 2], "new": None})
    assert store.state.collections[USER].config == second


def test_the_study_device_does_not_set_the_users_time_zone(
    server: SyncServer, store: InMemoryStore, clock: FakeClock
) -> None:
    # Anki on the server records the server's time zone; the user's devices record theirs.
    sync_config(server, store, {"a": 1, "localOffset": -540})
    recorded = store.state.collections[USER].config["localOffset"]
    study = Credentials(USER, "study", yields=True)
    with store() as uow:
        uow.users.add_host_key(USER, "study", clock.now_ms())
        uow.commit()
    clock.tick(5000)
    sync_config(server, store, {"a": 2, "localOffset": 0}, study)
    config = store.state.collections[USER].config
    assert config["a"].json == "2"  # its other settings are taken
    assert config["localOffset"] == recorded
    # Where no device has recorded a time zone, it records none either.
    clock.tick(5000)
    sync_config(server, store, {"a": 2})
    clock.tick(5000)
    sync_config(server, store, {"a": 3, "localOffset": 0}, study)
    assert set(store.state.collections[USER].config) == {"a"}
