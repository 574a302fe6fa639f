"""sanityCheck2 counts what `finish` will leave without applying, where that is exact.

For any staged batch, `counts_after_applying` (from the counts the sync lock reads, new
staged rows included) either declines (graves, note types, decks or presets staged: only
applying can tell) or equals the counts after really applying it. Rows overlap live ids,
repeat across chunks, and come with tags and config. On the in-memory store and on each
SQL backend (where the lock query counts the new rows itself).
"""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from adapters.memory.store import InMemoryStore
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.model import Card, Credentials, Note, ObjectKind, RevlogEntry, UserId
from domain.new_collection import new_collection
from domain.sync.apply import apply_staged, counts_after_applying
from domain.sync.server import SyncServer
from domain.sync.values import Chunk, Graves, StartRequest, UnchunkedChanges
from ports.stores import UnitOfWorkFactory
from tests.support.fakes import FakeClock

USER = UserId(3)
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


Spec = tuple[list[int], list[int], list[int], int]
BATCHES = {"live": rows, "chunks": st.lists(rows, max_size=3), "tags": st.booleans(),
           "config": st.booleans(), "graves": st.lists(IDS, max_size=3)}


@given(**BATCHES)
def test_counts_without_applying_equal_counts_after_applying(
    live: Spec, chunks: list[Spec], tags: bool, config: bool, graves: list[int],
) -> None:
    check_counts(InMemoryStore(), USER, live, chunks, tags, config, graves)


def test_counts_without_applying_equal_counts_after_applying_on_sql(engine: Engine) -> None:
    """The same on each SQL backend, with fewer examples; each is a new user."""
    factory = SqlUnitOfWorkFactory(engine)

    @settings(max_examples=max(10, settings.default.max_examples // 4), deadline=None)
    @given(**BATCHES)
    def run(live: Spec, chunks: list[Spec], tags: bool, config: bool,
            graves: list[int]) -> None:
        check_counts(factory, UserId(uuid.uuid4().int >> 66), live, chunks, tags, config,
                     graves)

    run()


def check_counts(store: UnitOfWorkFactory, user: UserId, live: Spec, chunks: list[Spec],
                 tags: bool, config: bool, graves: list[int]) -> None:
    clock = FakeClock()
    me = Credentials(user)
    server = SyncServer(uow=store, clock=clock)
    with store() as uow:
        uow.collections.create(user, new_collection(clock.now_ms()))
        uow.commit()
    with store() as uow:
        mid = next(iter(uow.collections.object_names(user, ObjectKind.NOTETYPE)))

    def chunk(spec: tuple[list[int], list[int], list[int], int], done: bool) -> Chunk:
        nids, cids, rids, mod = spec
        return Chunk(done=done, revlog=tuple(revlog(i) for i in rids),
                     cards=tuple(card(i, mod) for i in cids),
                     notes=tuple(note(i, mid, mod) for i in nids))

    # The live collection: one finished sync of `live`.
    server.start(me, SKEY, StartRequest(0, True))
    server.apply_changes(me, SKEY, UnchunkedChanges())
    while not server.chunk(me, SKEY).done:
        pass
    server.apply_chunk(me, SKEY, chunk(live, True))
    with store() as uow:  # finish, without the client's sanity check
        col, session = uow.sessions.lock_with_collection(user)
        assert col is not None and session is not None
        col = apply_staged(uow, user, col, session, clock.now_ms())
        uow.collections.update_meta(user, col)
        uow.staging.discard(user)
        uow.sessions.delete(user)
        uow.commit()

    # The batch under test.
    with store() as uow:
        meta = uow.collections.meta(user)
        assert meta is not None
    server.start(me, SKEY, StartRequest(meta.usn, True))
    if graves:
        server.apply_graves(me, SKEY, Graves(cards=(), notes=tuple(graves), decks=()))
    server.apply_changes(me, SKEY, UnchunkedChanges(
        tags=("t1", "t2") if tags else (),
        config={"k": 1} if config else None,
    ))
    while not server.chunk(me, SKEY).done:
        pass
    for i, spec in enumerate(chunks):
        server.apply_chunk(me, SKEY, chunk(spec, i == len(chunks) - 1))

    with store() as uow:
        lock = uow.sessions.lock(me, new_rows=True)
        col, session = lock.col, lock.session
        assert col is not None and session is not None
        assert lock.counts is not None and lock.new_rows is not None
        counted = counts_after_applying(session.staged, lock.counts, lock.new_rows)
        with uow.scratch():
            apply_staged(uow, user, col, session, clock.now_ms())
            applied = uow.collections.counts(user)
    if graves:
        assert counted is None
    else:
        assert counted == applied
