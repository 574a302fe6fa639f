"""sanityCheck2 counts what `finish` will leave without applying, where that is exact.

For any staged batch, `counts_after_applying` either declines (graves, note types, decks
or presets staged: only applying can tell) or equals the counts after really applying
it. Rows overlap live ids, repeat across chunks, and come with tags and config.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.memory.store import InMemoryStore
from domain.model import Card, Credentials, Note, RevlogEntry, UserId
from domain.new_collection import new_collection
from domain.sync.apply import apply_staged, counts_after_applying
from domain.sync.server import SyncServer
from domain.sync.values import Chunk, Graves, StartRequest, UnchunkedChanges
from tests.support.fakes import FakeClock

USER = UserId(3)
ME = Credentials(USER)  # the device calling the server
SKEY = "prop"
IDS = st.integers(min_value=1, max_value=12)  # a small pool, so staged ids hit live ones


def note(nid: int, mid: int, mod: int) -> Note:
    return Note(nid, f"g{nid}", mid, mod, -1, "", "front\x1fback", "", 0, 0, "")


def card(cid: int, mod: int) -> Card:
    return Card(cid, 1, 1, 0, mod, -1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, "{}")


def revlog(rid: int) -> RevlogEntry:
    return RevlogEntry(rid, 1, -1, 3, 1, 0, 2500, 1000, 1)


rows = st.tuples(st.lists(IDS, max_size=6), st.lists(IDS, max_size=6),
                 st.lists(IDS, max_size=6), st.integers(min_value=0, max_value=300))


@given(live=rows, chunks=st.lists(rows, max_size=3), tags=st.booleans(),
       config=st.booleans(), graves=st.lists(IDS, max_size=3))
def test_counts_without_applying_equal_counts_after_applying(
    live: tuple[list[int], list[int], list[int], int],
    chunks: list[tuple[list[int], list[int], list[int], int]],
    tags: bool, config: bool, graves: list[int],
) -> None:
    clock = FakeClock()
    store = InMemoryStore()
    server = SyncServer(uow=store, clock=clock)
    with store() as uow:
        uow.collections.create(USER, new_collection(clock.now_ms()))
        uow.commit()
    mid = next(iter(store.state.collections[USER].notetypes))

    def chunk(spec: tuple[list[int], list[int], list[int], int], done: bool) -> Chunk:
        nids, cids, rids, mod = spec
        return Chunk(done=done, revlog=tuple(revlog(i) for i in rids),
                     cards=tuple(card(i, mod) for i in cids),
                     notes=tuple(note(i, mid, mod) for i in nids))

    # The live collection: one finished sync of `live`.
    server.start(ME, SKEY, StartRequest(0, True))
    server.apply_changes(ME, SKEY, UnchunkedChanges())
    while not server.chunk(ME, SKEY).done:
        pass
    server.apply_chunk(ME, SKEY, chunk(live, True))
    with store() as uow:  # finish, without the client's sanity check
        col, session = uow.sessions.lock_with_collection(USER)
        assert col is not None and session is not None
        apply_staged(uow, USER, col, session, clock.now_ms())
        uow.staging.discard(USER)
        uow.sessions.delete(USER)
        uow.commit()

    # The batch under test.
    usn = store.state.collections[USER].meta.usn
    server.start(ME, SKEY, StartRequest(usn, True))
    if graves:
        server.apply_graves(ME, SKEY, Graves(cards=(), notes=tuple(graves), decks=()))
    server.apply_changes(ME, SKEY, UnchunkedChanges(
        tags=("t1", "t2") if tags else (),
        config={"k": 1} if config else None,
    ))
    while not server.chunk(ME, SKEY).done:
        pass
    for i, spec in enumerate(chunks):
        server.apply_chunk(ME, SKEY, chunk(spec, i == len(chunks) - 1))

    with store() as uow:
        col, session = uow.sessions.lock_with_collection(USER)
        assert col is not None and session is not None
        counted = counts_after_applying(uow, USER, session.staged, uow.collections.counts(USER))
        with uow.scratch():
            apply_staged(uow, USER, col, session, clock.now_ms())
            applied = uow.collections.counts(USER)
    if graves:
        assert counted is None
    else:
        assert counted == applied
