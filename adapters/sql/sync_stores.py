"""Sync sessions and staged client data in SQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.engine import Connection

from adapters.sql.tables import sync_sessions, sync_staging
from domain.model import UserId
from domain.sync.session import ChunkStage, Phase, SyncSession
from domain.sync.staging import StagedItem, StageKind

BATCH = 500


class SqlSessionStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, user: UserId) -> SyncSession | None:
        return self._get(user, lock=False)

    def get_for_update(self, user: UserId) -> SyncSession | None:
        return self._get(user, lock=True)

    def _get(self, user: UserId, *, lock: bool) -> SyncSession | None:
        query = select(sync_sessions).where(sync_sessions.c.user_id == user)
        if lock:
            query = query.with_for_update()
        r = self._conn.execute(query).mappings().first()
        if r is None:
            return None
        return SyncSession(
            skey=r["skey"], phase=Phase(r["phase"]), server_usn=r["server_usn"],
            client_usn=r["client_usn"], client_is_newer=bool(r["client_is_newer"]),
            touched_ms=r["touched_ms"], chunk_stage=ChunkStage(r["chunk_stage"]),
            chunk_after=None if r["chunk_after_id"] is None
            else (r["chunk_after_usn"], r["chunk_after_id"]),
            client_done=bool(r["client_done"]),
        )

    def save(self, user: UserId, session: SyncSession) -> None:
        self.delete(user)
        self._conn.execute(insert(sync_sessions).values(
            user_id=user, skey=session.skey, phase=int(session.phase),
            server_usn=session.server_usn, client_usn=session.client_usn,
            client_is_newer=session.client_is_newer, touched_ms=session.touched_ms,
            chunk_stage=int(session.chunk_stage),
            chunk_after_usn=None if session.chunk_after is None else session.chunk_after[0],
            chunk_after_id=None if session.chunk_after is None else session.chunk_after[1],
            client_done=session.client_done,
        ))

    def delete(self, user: UserId) -> None:
        self._conn.execute(delete(sync_sessions).where(sync_sessions.c.user_id == user))


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
        s = sync_staging.c
        result = self._conn.execute(
            select(s.okey, s.payload).where(s.user_id == user, s.kind == int(kind))
            .order_by(s.okey)
        )
        # Read whole: callers query other tables while they consume the items.
        return iter([StagedItem(kind, str(r.okey), str(r.payload)) for r in result.all()])

    def keys(self, user: UserId, kind: StageKind) -> set[str]:
        s = sync_staging.c
        result = self._conn.execute(
            select(s.okey).where(s.user_id == user, s.kind == int(kind))
        )
        return {str(r[0]) for r in result}

    def discard(self, user: UserId) -> None:
        self._conn.execute(delete(sync_staging).where(sync_staging.c.user_id == user))
