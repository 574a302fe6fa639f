"""Sync sessions and staged client data in SQL."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, tuple_, update
from sqlalchemy.engine import Connection

from adapters.sql import rows
from adapters.sql.tables import collections, sync_sessions, sync_staging
from domain.model import CollectionMeta, UserId
from domain.sync.session import ChunkStage, Phase, SyncSession
from domain.sync.staging import StagedItem, StageKind

BATCH = 500

# Statements every sync step runs, built once (building one costs more than running it).
_s, _st = sync_sessions.c, sync_staging.c
GET_SESSION = select(sync_sessions).where(_s.user_id == bindparam("user"))
UPDATE_SESSION = update(sync_sessions).where(_s.user_id == bindparam("user"))
DELETE_SESSION = delete(sync_sessions).where(_s.user_id == bindparam("user"))
READ_STAGED = (select(_st.okey, _st.payload)
               .where(_st.user_id == bindparam("user"), _st.kind == bindparam("kind"))
               .order_by(_st.okey))
STAGED_KEYS = select(_st.okey).where(_st.user_id == bindparam("user"),
                                     _st.kind == bindparam("kind"))
STAGED_KINDS = select(_st.kind).where(_st.user_id == bindparam("user")).distinct()
DISCARD_STAGED = delete(sync_staging).where(_st.user_id == bindparam("user"))
_col = collections.c
# MySQL and SQLite read the session row as it is once the lock is granted (InnoDB's
# locking reads see the latest commit; SQLite writers start only after the lock).
LOCK_WITH_COLLECTION = (
    select(_col.crt, _col.mtime, _col.scm, _col.ver, _col.dty, _col.usn, _col.ls,
           *[c.label(c.name) for c in sync_sessions.c if c.name not in ("user_id", "usn")])
    .select_from(collections.outerjoin(sync_sessions, _s.user_id == _col.user_id))
    .where(_col.user_id == bindparam("user"))
    .with_for_update()
)
# PostgreSQL reads every row of a statement from the snapshot taken when the statement
# began, before it waited for the lock: a joined session row would be the one the
# previous lock holder replaced. So it locks the collection row, then reads the session
# in a statement of its own (READ COMMITTED: a new snapshot, after the lock).
LOCK_COLLECTION_PG = (
    select(_col.crt, _col.mtime, _col.scm, _col.ver, _col.dty, _col.usn, _col.ls)
    .where(_col.user_id == bindparam("user"))
    .with_for_update()
)


class SqlSessionStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, user: UserId) -> SyncSession | None:
        r = self._conn.execute(GET_SESSION, {"user": user}).mappings().first()
        return None if r is None else _session(r)

    def lock_with_collection(
        self, user: UserId
    ) -> tuple[CollectionMeta | None, SyncSession | None]:
        if self._conn.dialect.name == "postgresql":
            locked = self._conn.execute(LOCK_COLLECTION_PG, {"user": user}).mappings().first()
            if locked is None:
                return None, None
            return rows.meta_from_row(locked), self.get(user)
        r = self._conn.execute(LOCK_WITH_COLLECTION, {"user": user}).mappings().first()
        if r is None:
            return None, None
        return rows.meta_from_row(r), None if r["skey"] is None else _session(r)

    def save(self, user: UserId, session: SyncSession) -> None:
        values = dict(
            skey=session.skey, phase=int(session.phase),
            server_usn=session.server_usn, client_usn=session.client_usn,
            client_is_newer=session.client_is_newer, touched_ms=session.touched_ms,
            chunk_stage=int(session.chunk_stage),
            chunk_after_usn=None if session.chunk_after is None else session.chunk_after[0],
            chunk_after_id=None if session.chunk_after is None else session.chunk_after[1],
            client_done=session.client_done,
            staged_kinds=None if session.staged is None
            else sum(1 << int(kind) for kind in session.staged),
        )
        # Every step saves the session: one UPDATE, an INSERT only when a sync starts.
        updated = self._conn.execute(UPDATE_SESSION, {"user": user, **values})
        if updated.rowcount == 0:
            self._conn.execute(insert(sync_sessions).values(user_id=user, **values))

    def delete(self, user: UserId) -> None:
        self._conn.execute(DELETE_SESSION, {"user": user})


class SqlStagingStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, user: UserId, items: Sequence[StagedItem]) -> None:
        s = sync_staging.c
        iterator = iter(items)
        while batch := list(islice(iterator, BATCH)):
            keys = [(int(i.kind), i.key) for i in batch]
            self._conn.execute(
                delete(sync_staging).where(s.user_id == user, tuple_(s.kind, s.okey).in_(keys))
            )
            unique = {(int(i.kind), i.key): i for i in batch}
            self._conn.execute(insert(sync_staging), [
                {"user_id": user, "kind": kind, "okey": key, "payload": item.payload}
                for (kind, key), item in unique.items()
            ])

    def read(self, user: UserId, kind: StageKind) -> Iterator[StagedItem]:
        result = self._conn.execute(READ_STAGED, {"user": user, "kind": int(kind)})
        # Read whole: callers query other tables while they consume the items.
        return iter([StagedItem(kind, str(r.okey), str(r.payload)) for r in result.all()])

    def kinds(self, user: UserId) -> set[StageKind]:
        result = self._conn.execute(STAGED_KINDS, {"user": user})
        return {StageKind(r[0]) for r in result}

    def keys(self, user: UserId, kind: StageKind) -> set[str]:
        result = self._conn.execute(STAGED_KEYS, {"user": user, "kind": int(kind)})
        return {str(r[0]) for r in result}

    def discard(self, user: UserId) -> None:
        self._conn.execute(DISCARD_STAGED, {"user": user})


def _session(r: Mapping[Any, Any]) -> SyncSession:
    return SyncSession(
        skey=r["skey"], phase=Phase(r["phase"]), server_usn=r["server_usn"],
        client_usn=r["client_usn"], client_is_newer=bool(r["client_is_newer"]),
        touched_ms=r["touched_ms"], chunk_stage=ChunkStage(r["chunk_stage"]),
        chunk_after=None if r["chunk_after_id"] is None
        else (r["chunk_after_usn"], r["chunk_after_id"]),
        client_done=bool(r["client_done"]),
        staged=_kinds(r["staged_kinds"]),
    )


def _kinds(bits: int | None) -> frozenset[StageKind] | None:
    if bits is None:
        return None
    return frozenset(kind for kind in StageKind if bits & (1 << int(kind)))
