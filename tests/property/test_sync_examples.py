"""Hand-picked syncs between replicas that random runs reach too rarely.

Same-second edits are where the protocol's tie rules show, and where the
convergence machine can only check "one of the values written": a device's
pending copy beats the other side's only when it is strictly newer. These pin
the exact outcome, which is Anki's (devices can stay different), and the usn
boundary (`usn >= minUsn` is "changed by another device"). The rest checks the
250-object boundaries of chunks and grave batches in both directions.
"""

from __future__ import annotations

import itertools
from typing import Any, cast

import pytest

from adapters.memory.store import InMemoryStore
from domain.model import UserId
from domain.sync.server import SyncServer
from tests.support.fakes import FakeClock
from tests.support.replica import ClientReplica, ServerTime, SyncOutcome, server_content

USER = UserId(1)


class Recorder:
    """Wraps a SyncServer and records (method, result) of every call the client makes."""

    def __init__(self, server: SyncServer) -> None:
        self.server = server
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.server, name)

        def call(*args: Any) -> Any:
            result = method(*args)
            self.calls.append((name, args[-1] if name.startswith("apply") else result))
            return result

        return call

    def take(self, name: str) -> list[Any]:
        found = [value for method, value in self.calls if method == name]
        self.calls.clear()
        return found


class World:
    """A server and replicas a and b (b sends graves in `start` if told), after full syncs."""

    def __init__(self, legacy_b: bool = False) -> None:
        self.clock = FakeClock()
        self.store = InMemoryStore()
        self.recorder = Recorder(SyncServer(uow=self.store, clock=ServerTime(self.clock)))
        self.server = cast(SyncServer, self.recorder)
        ids = itertools.count(self.clock.now_ms() * 1000).__next__
        self.a = ClientReplica("a", self.clock, ids)
        self.b = ClientReplica("b", self.clock, ids, graves_in_start=legacy_b)
        self.a.full_upload(self.server, USER)
        self.b.full_download(self.server, USER)
        self.recorder.calls.clear()
        self.clock.tick(1000)

    def same_everywhere(self) -> None:
        server = server_content(self.store, USER)
        assert self.a.content().differences(server) == self.b.content().differences(server) == []

    def sync(self, *replicas: ClientReplica) -> None:
        for replica in replicas:
            assert replica.sync(self.server, USER) is SyncOutcome.FINISHED
            assert not replica.pending()


def test_same_second_note_edits_keep_each_devices_copy() -> None:
    w = World()
    nid, _ = w.a.add_note(["front", "back"])
    w.clock.tick(1000)
    w.sync(w.a, w.b)
    w.clock.tick(1000)
    w.a.edit_note(nid, ["by a", ""])
    w.b.edit_note(nid, ["by b", ""])
    # a's sync stamps exactly b's minUsn, so for b the server's copy is "changed elsewhere":
    # on a tie neither side yields (Anki's rule), and no later sync sends it again.
    w.sync(w.a, w.b, w.a)
    flds = {
        who: c.notes[nid][4]
        for who, c in (
            ("server", server_content(w.store, USER)),
            ("a", w.a.content()),
            ("b", w.b.content()),
        )
    }
    assert flds == {"server": "by a\x1f", "a": "by a\x1f", "b": "by b\x1f"}


def test_same_second_deck_edits_take_the_incoming_copy() -> None:
    w = World()
    w.clock.tick(1000)
    w.a.edit_object("decks", 1, {"desc": "by a"})
    w.b.edit_object("decks", 1, {"desc": "by b"})
    # b takes a's deck from the server, the server takes b's: a tie lets the incoming copy win.
    w.sync(w.a, w.b, w.a)
    desc = {
        who: c.decks[1]
        for who, c in (
            ("server", server_content(w.store, USER)),
            ("a", w.a.content()),
            ("b", w.b.content()),
        )
    }
    assert {who: '"desc": "by b"' in text for who, text in desc.items()} == {
        "server": True,
        "a": True,
        "b": False,
    }


def test_a_newer_edit_wins_on_both_sides_whoever_syncs_first() -> None:
    w = World()
    nid, cid = w.a.add_note(["front", "back"])
    w.sync(w.a, w.b)
    w.clock.tick(1000)
    w.b.edit_note(nid, ["older", ""])
    w.a.review_card(cid, 3)
    w.clock.tick(1000)
    w.a.edit_note(nid, ["newer", ""])
    w.b.review_card(cid, 1)
    w.sync(w.b, w.a, w.b)
    note = {c.notes[nid][4] for c in (server_content(w.store, USER), w.a.content(), w.b.content())}
    card = {c.cards[cid] for c in (server_content(w.store, USER), w.a.content(), w.b.content())}
    assert note == {"newer\x1f"}
    assert card == {w.b.content().cards[cid]} and w.b.content().cards[cid][10] == 1


@pytest.mark.parametrize(
    ("notes", "sizes"),
    [
        (124, [248]),
        (125, [250, 0]),
        (126, [250, 2]),
    ],
)
def test_chunks_hold_at_most_250_rows_and_end_when_the_rows_run_out(
    notes: int, sizes: list[int]
) -> None:
    w = World()
    for i in range(notes):
        w.a.add_note([f"note {i}", ""])
    w.sync(w.a)
    assert [len(c) for c in w.recorder.take("apply_chunk")] == sizes
    w.sync(w.b)
    received = w.recorder.take("chunk")
    assert [len(c) for c in received] == sizes
    assert [c.done for c in received] == [False] * (len(sizes) - 1) + [True]
    w.same_everywhere()


@pytest.mark.parametrize("legacy_b", [False, True])
def test_more_than_250_deletions_reach_the_other_device(legacy_b: bool) -> None:
    w = World(legacy_b=legacy_b)
    sender, receiver = w.b, w.a
    nids = [sender.add_note([f"note {i}", ""])[0] for i in range(130)]
    w.sync(sender, receiver)
    w.clock.tick(1000)
    for nid in nids:
        sender.delete_note(nid)
    w.recorder.calls.clear()
    w.sync(sender)
    batches = w.recorder.take("apply_graves")
    if legacy_b:
        assert batches == []
    else:
        assert [(len(g.cards), len(g.notes)) for g in batches] == [(130, 120), (0, 10)]
    w.sync(receiver)
    assert receiver.content().notes == {} == receiver.content().cards
    w.same_everywhere()


@pytest.mark.parametrize("what", ["note", "card", "deck"])
def test_deleting_what_another_device_just_changed_deletes_it_everywhere(what: str) -> None:
    w = World()
    did = w.a.add_deck()
    nid, cid = w.a.add_note(["front", "back"], deck_id=did)
    w.sync(w.a, w.b)
    w.clock.tick(1000)
    if what == "note":
        w.b.edit_note(nid, ["edited", ""])
    elif what == "card":
        w.b.review_card(cid, 3)
    else:
        w.b.edit_object("decks", did, {"desc": "edited"})
    # The edit reaches the server first, so the server would send it back to the deleting
    # device in this very sync, unless it leaves out what that device's graves remove.
    w.sync(w.b)
    if what == "deck":
        w.a.delete_deck(did)
    else:
        w.a.delete_note(nid)
    w.sync(w.a, w.b)
    contents = (server_content(w.store, USER), w.a.content(), w.b.content())
    assert [did in c.decks for c in contents] == [what != "deck"] * 3
    assert [(nid in c.notes, cid in c.cards) for c in contents] == [(False, False)] * 3
