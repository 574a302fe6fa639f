"""Sync sessions and staged client data in SQL.

Every sync request runs these statements: each is a `Statement`, compiled once per
dialect and, on PostgreSQL, prepared once per connection. Writes go through
`Transaction.write` and, on PostgreSQL, leave together with the request's commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from itertools import islice
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ClauseElement, FromClause

from adapters.sql import tables
from adapters.sql.statements import Statement
from adapters.sql.tables import collections, host_keys, sync_sessions, sync_staging
from adapters.sql.transaction import Transaction
from adapters.sql.upserts import upsert
from domain.model import CollectionMeta, Counts, Credentials, KeyKind, KeyUse, RowKind, UserId
from domain.sync.session import ChunkStage, Phase, SessionPeek, SyncLock, SyncSession
from domain.sync.staging import ROW_STAGES, StagedItem, StageKind

BATCH = 500

_USER = bindparam("user", type_=BigInteger)
_s, _st, _col = sync_sessions.c, sync_staging.c, collections.c
COLLECTION_COLUMNS = (_col.crt, _col.mtime, _col.scm, _col.ver, _col.dty, _col.usn, _col.ls,
                      _col.n_cards, _col.n_notes, _col.n_revlog, _col.n_notetypes,
                      _col.n_decks, _col.n_deck_configs, _col.graves_usn)
SESSION_COLUMNS = tuple(c for c in sync_sessions.c if c.name != "user_id")
_AUTHORIZED = exists().where(host_keys.c.user_id == _USER,
                             host_keys.c.key_hash == bindparam("digest")).label("authorized")
_N_COL, _N_SESSION = len(COLLECTION_COLUMNS), len(SESSION_COLUMNS)
_GRAVES_USN_AT = next(i for i, c in enumerate(COLLECTION_COLUMNS) if c is _col.graves_usn)


def _new_rows_counts() -> list[Any]:
    """Per row kind, how many staged ids no live row has (what applying them adds)."""
    return [select(func.count()).where(
                _st.user_id == _USER, _st.kind == literal_column(str(int(kind))),
                ~exists().where(table.c.user_id == _USER, table.c.id == _st.oid))
            .scalar_subquery() for kind, (table, _) in _LIVE_ROWS.items()]


def _lock_sync(new_rows: bool) -> Statement:
    """The collection row, the session and the host key check, locked in one query (with
    the new-row counts the sanity check needs, if asked).

    PostgreSQL reads every row of a statement as it was when the statement began, before
    it waited for a lock, except the rows it locks, which it reads again once they are
    locked: so it locks both rows (collection first, the order every writer takes them)
    and needs a session to exist (the caller falls back to `LOCK_COLLECTION` and a read of
    the session). The other rows it reads (host keys; staged and live rows for the counts)
    do not change under a live session. MySQL's locking reads and SQLite's writers see
    the latest commit."""

    def build(dialect: str) -> ClauseElement:
        extra = _new_rows_counts() if new_rows else []
        columns = (*COLLECTION_COLUMNS, *SESSION_COLUMNS, *extra, _AUTHORIZED)
        if dialect == "postgresql":
            joined = collections.join(sync_sessions, _s.user_id == _col.user_id)
        else:
            joined = collections.outerjoin(sync_sessions, _s.user_id == _col.user_id)
        return select(*columns).select_from(joined).where(_col.user_id == _USER).with_for_update()

    return Statement(build, tables=["collections", "sync_sessions", "host_keys", "sync_staging",
                                    "revlog", "cards", "notes"])


# A session read without a lock, with which tables hold rows the device has not seen:
# what the server's first chunk needs to know, when that chunk has nothing to send.
PEEK_SESSION = Statement(
    lambda _d: select(*SESSION_COLUMNS, *(
        exists().where(t.c.user_id == _USER, t.c.usn >= _s.client_usn)
        for t in (tables.revlog, tables.cards, tables.notes)), _AUTHORIZED)
    .where(_s.user_id == _USER),
    tables=["sync_sessions", "revlog", "cards", "notes", "host_keys"])


LOCK_COLLECTION = Statement(
    lambda _d: select(*COLLECTION_COLUMNS, _AUTHORIZED).where(_col.user_id == _USER)
    .with_for_update(), tables=["collections", "host_keys"])
HAS_HOST_KEY = Statement(lambda _d: select(_AUTHORIZED), tables=["host_keys"])
KEY_USE = Statement(lambda _d: select(host_keys.c.last_used, host_keys.c.client,
                                      host_keys.c.kind).where(
    host_keys.c.user_id == _USER, host_keys.c.key_hash == bindparam("digest")),
    tables=["host_keys"])


def key_use_of(last_used: int | None, client: str | None, kind: str | None = None) -> KeyUse:
    return KeyUse(int(last_used or 0), client or "", KeyKind(kind or KeyKind.SYNC))
GET_SESSION = Statement(lambda _d: select(*SESSION_COLUMNS).where(_s.user_id == _USER),
                        tables=["sync_sessions"])
DELETE_SESSION = Statement(lambda _d: delete(sync_sessions).where(_s.user_id == _USER),
                           tables=["sync_sessions"])


def _save_session(dialect: str) -> ClauseElement:
    values = {c.name: bindparam(c.name, type_=c.type) for c in SESSION_COLUMNS}
    if dialect in ("mysql", "mariadb"):
        my = mysql.insert(sync_sessions).values(user_id=_USER, **values)
        return my.on_duplicate_key_update({name: my.inserted[name] for name in values})
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(sync_sessions).values(user_id=_USER, **values)
    return stmt.on_conflict_do_update(index_elements=["user_id"],
                                      set_={name: stmt.excluded[name] for name in values})


SAVE_SESSION = Statement(_save_session, tables=["sync_sessions"])

STAGE = upsert(sync_staging, ["user_id", "kind", "okey"], ["payload", "oid"])
DISCARD_STAGED = Statement(lambda _d: delete(sync_staging).where(_st.user_id == _USER),
                           tables=["sync_staging"])
READ_STAGED = Statement(
    lambda _d: select(_st.okey, _st.payload)
    .where(_st.user_id == _USER, _st.kind == bindparam("kind", type_=Integer))
    .order_by(_st.okey), tables=["sync_staging"])
STAGED_KEYS = Statement(
    lambda _d: select(_st.okey)
    .where(_st.user_id == _USER, _st.kind == bindparam("kind", type_=Integer)),
    tables=["sync_staging"])

_ROW_KIND_RANGE = (int(ROW_STAGES[0]), int(ROW_STAGES[-1]))
assert list(ROW_STAGES) == list(range(_ROW_KIND_RANGE[0], _ROW_KIND_RANGE[1] + 1))
_LIVE_ROWS = {StageKind.REVLOG: (tables.revlog, "id"), StageKind.CARD: (tables.cards, "mtime"),
              StageKind.NOTE: (tables.notes, "mtime")}


def _read_rows(after: bool) -> Statement:
    """Staged rows with the (mod, usn) of the live row they would replace, if any."""

    def build(_dialect: str) -> ClauseElement:
        live = {kind: table.alias(f"live_{kind.name.lower()}")
                for kind, (table, _) in _LIVE_ROWS.items()}
        joined: FromClause = sync_staging
        for kind, alias in live.items():
            joined = joined.outerjoin(alias, and_(
                _st.kind == int(kind), alias.c.user_id == _st.user_id, alias.c.id == _st.oid))
        mods = [live[kind].c[column] for kind, (_, column) in _LIVE_ROWS.items()]
        usns = [alias.c.usn for alias in live.values()]
        query = (select(_st.kind, _st.okey, _st.payload, func.coalesce(*mods),
                        func.coalesce(*usns))
                 .select_from(joined)
                 .where(_st.user_id == _USER, _st.kind.between(*_ROW_KIND_RANGE)))
        if after:
            query = query.where(tuple_(_st.kind, _st.okey) > tuple_(
                bindparam("after_kind", type_=Integer),
                bindparam("after_key", type_=sync_staging.c.okey.type)))
        return query.order_by(_st.kind, _st.okey).limit(bindparam("limit", type_=Integer))

    return Statement(build, tables=["sync_staging", "revlog", "cards", "notes"])


READ_ROWS_FIRST, READ_ROWS_AFTER = _read_rows(False), _read_rows(True)
LOCK_SYNC, LOCK_SYNC_COUNTING = _lock_sync(False), _lock_sync(True)


class SqlSessionStore:
    def __init__(self, conn: Connection, tx: Transaction) -> None:
        self._conn, self._tx = conn, tx

    def get(self, user: UserId) -> SyncSession | None:
        found = self._tx.fetch(GET_SESSION, {"user": user})
        return _session(found[0]) if found else None

    def lock_with_collection(
        self, user: UserId
    ) -> tuple[CollectionMeta | None, SyncSession | None]:
        params = {"user": user, "digest": None}
        if self._conn.dialect.name != "postgresql":
            found = self._tx.fetch(LOCK_SYNC, params)
            if not found:
                return None, None
            row = found[0]
            return _meta(row), None if row[_N_COL] is None else _session(row[_N_COL:-1])
        # Mostly there is no session (API writes): lock, then read it under the lock.
        found = self._tx.fetch(LOCK_COLLECTION, params)
        return (_meta(found[0]), self.get(user)) if found else (None, None)

    def lock(
        self, credentials: Credentials, *, with_session: bool = True, new_rows: bool = False
    ) -> SyncLock:
        params = {"user": credentials.user, "digest": credentials.digest}
        if with_session:
            found = self._tx.fetch(LOCK_SYNC_COUNTING if new_rows else LOCK_SYNC, params)
            if found:
                row = found[0]
                session = None if row[_N_COL] is None else _session(row[_N_COL:])
                counted = dict(zip(ROW_STAGES, (int(n) for n in row[_N_COL + _N_SESSION:-1]),
                                   strict=True)) if new_rows else None
                return SyncLock(_meta(row), _counts(row), session, bool(row[-1]), counted,
                                int(row[_GRAVES_USN_AT]))
            if self._conn.dialect.name != "postgresql":
                return self._no_collection(params)
        found = self._tx.fetch(LOCK_COLLECTION, params)
        if not found:
            return self._no_collection(params)
        row = found[0]
        # PostgreSQL, no session when the lock was asked for: read it now that it is held.
        session = self.get(credentials.user) if with_session else None
        return SyncLock(_meta(row), _counts(row), session, bool(row[-1]), None,
                        int(row[_GRAVES_USN_AT]))

    def peek(self, credentials: Credentials) -> SessionPeek:
        found = self._tx.fetch(PEEK_SESSION, {"user": credentials.user,
                                              "digest": credentials.digest})
        if not found:
            authorized = bool(self._tx.fetch(HAS_HOST_KEY, {
                "user": credentials.user, "digest": credentials.digest})[0][0])
            return SessionPeek(None, frozenset(), authorized)
        row = found[0]
        kinds = frozenset(k for k, present in zip(
            (RowKind.REVLOG, RowKind.CARD, RowKind.NOTE), row[_N_SESSION:-1], strict=True)
            if present)
        return SessionPeek(_session(row), kinds, bool(row[-1]))

    def _no_collection(self, params: dict[str, Any]) -> SyncLock:
        authorized = bool(self._tx.fetch(HAS_HOST_KEY, params)[0][0])
        return SyncLock(None, None, None, authorized)

    def save(self, user: UserId, session: SyncSession) -> None:
        self._tx.write(SAVE_SESSION, {
            "user": user, "skey": session.skey, "phase": int(session.phase),
            "server_usn": session.server_usn, "client_usn": session.client_usn,
            "client_is_newer": session.client_is_newer, "touched_ms": session.touched_ms,
            "chunk_stage": int(session.chunk_stage),
            "chunk_after_usn": None if session.chunk_after is None else session.chunk_after[0],
            "chunk_after_id": None if session.chunk_after is None else session.chunk_after[1],
            "client_done": session.client_done,
            "staged_kinds": sum(1 << int(kind) for kind in session.staged),
        })

    def delete(self, user: UserId) -> None:
        self._tx.write(DELETE_SESSION, {"user": user})


class SqlStagingStore:
    def __init__(self, conn: Connection, tx: Transaction) -> None:
        self._conn, self._tx = conn, tx

    def add(self, user: UserId, items: Sequence[StagedItem]) -> None:
        iterator = iter(items)
        while batch := list(islice(iterator, BATCH)):
            # One row per key (a batch may not touch a row twice), the last copy winning.
            unique = {(int(i.kind), i.key): i for i in batch}
            self._tx.write_rows(STAGE, {"user_id": user}, [
                {"kind": kind, "okey": key, "payload": item.payload,
                 "oid": int(key) if item.kind in ROW_STAGES else None}
                for (kind, key), item in unique.items()])

    def read(self, user: UserId, kind: StageKind) -> list[StagedItem]:
        found = self._tx.fetch(READ_STAGED, {"user": user, "kind": int(kind)})
        return [StagedItem(kind, str(key), str(payload)) for key, payload in found]

    def read_rows(
        self, user: UserId, after: tuple[StageKind, str] | None, limit: int
    ) -> list[StagedItem]:
        params: dict[str, Any] = {"user": user, "limit": limit}
        if after is None:
            found = self._tx.fetch(READ_ROWS_FIRST, params)
        else:
            params.update(after_kind=int(after[0]), after_key=after[1])
            found = self._tx.fetch(READ_ROWS_AFTER, params)
        return [StagedItem(StageKind(kind), str(key), str(payload),
                           None if mod is None else (int(mod), int(usn)))
                for kind, key, payload, mod, usn in found]

    def keys(self, user: UserId, kind: StageKind) -> set[str]:
        found = self._tx.fetch(STAGED_KEYS, {"user": user, "kind": int(kind)})
        return {str(r[0]) for r in found}

    def discard(self, user: UserId) -> None:
        self._tx.write(DISCARD_STAGED, {"user": user})


def _meta(r: Sequence[Any]) -> CollectionMeta:
    return CollectionMeta(crt=r[0], mod=r[1], scm=r[2], ver=r[3], dty=r[4], usn=r[5], ls=r[6])


def _counts(r: Sequence[Any]) -> Counts:
    return Counts(cards=int(r[7]), notes=int(r[8]), revlog=int(r[9]), notetypes=int(r[10]),
                  decks=int(r[11]), deck_configs=int(r[12]))


def _session(r: Sequence[Any]) -> SyncSession:
    # SESSION_COLUMNS order: skey, phase, server_usn, client_usn, client_is_newer,
    # touched_ms, chunk_stage, chunk_after_usn, chunk_after_id, client_done, staged_kinds.
    (skey, phase, server_usn, client_usn, client_is_newer, touched_ms, chunk_stage,
     after_usn, after_id, client_done, staged) = r[:_N_SESSION]
    return SyncSession(
        skey=skey, phase=Phase(phase), server_usn=server_usn, client_usn=client_usn,
        client_is_newer=bool(client_is_newer), touched_ms=touched_ms,
        chunk_stage=ChunkStage(chunk_stage),
        chunk_after=None if after_id is None else (after_usn, after_id),
        client_done=bool(client_done), staged=_kinds(staged),
    )


@cache
def _kinds(bits: int | None) -> frozenset[StageKind]:
    bits = bits or 0
    return frozenset(kind for kind in StageKind if bits & (1 << int(kind)))
