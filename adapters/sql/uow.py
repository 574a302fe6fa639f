"""SqlUnitOfWork: one transaction per unit of work, on a pooled connection.

Inside `SqlUnitOfWorkFactory.request_scope()` (one per HTTP request) the units of
work share one connection, so a request that checks a host key and then runs a
sync step checks a connection out of the pool once, not twice.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from adapters.sql import dialects
from adapters.sql.collection_store import SqlCollectionStore
from adapters.sql.media_index import SqlMediaIndex
from adapters.sql.queries import SqlCollectionQueries
from adapters.sql.sync_stores import SqlSessionStore, SqlStagingStore
from adapters.sql.transaction import Transaction
from adapters.sql.user_store import SqlUserStore
from domain.errors import Retryable


@dataclass
class _Pinned:
    """The connection a request's units of work share, and its isolation level."""

    conn: Connection | None = None
    busy: bool = False
    level: str | None = None
    idle_since: float = 0.0


_pinned: ContextVar[_Pinned | None] = ContextVar("ankiserv_pinned_connection", default=None)


class SqlUnitOfWork:
    def __init__(
        self, engine: Engine, *, write: bool = True, snapshot: bool = True,
        durable: bool = True,
    ) -> None:
        self._engine = engine
        self._write = write
        self._snapshot = snapshot
        self._durable = durable
        self._conn: Connection | None = None
        self._tx: Transaction
        self._pin: _Pinned | None = None

    def __enter__(self) -> SqlUnitOfWork:
        pin = _pinned.get()
        if pin is not None and not pin.busy:
            if pin.conn is None:
                pin.conn = self._engine.connect()
            conn, self._pin = pin.conn, pin
            pin.busy = True
        else:
            conn = self._engine.connect()
        try:
            tx, level = dialects.open_transaction(
                conn, write=self._write, snapshot=self._snapshot, durable=self._durable,
                level=None if self._pin is None else self._pin.level)
        except BaseException:
            self._release(conn)
            raise
        if self._pin is not None:
            self._pin.level = level
        self._conn, self._tx = conn, tx
        # Stores are made when first used: a sync step uses two or three of the six.
        self._users: SqlUserStore | None = None
        self._collections: SqlCollectionStore | None = None
        self._sessions: SqlSessionStore | None = None
        self._staging: SqlStagingStore | None = None
        self._media: SqlMediaIndex | None = None
        self._queries: SqlCollectionQueries | None = None
        return self

    def _bound(self) -> tuple[Connection, Transaction]:
        assert self._conn is not None, "store used outside the unit of work"
        return self._conn, self._tx

    @property
    def queries(self) -> SqlCollectionQueries:
        if self._queries is None:
            self._queries = SqlCollectionQueries(self._bound()[0])
        return self._queries

    @property
    def media(self) -> SqlMediaIndex:
        if self._media is None:
            self._media = SqlMediaIndex(self._bound()[0])
        return self._media

    @property
    def sessions(self) -> SqlSessionStore:
        if self._sessions is None:
            self._sessions = SqlSessionStore(*self._bound())
        return self._sessions

    @property
    def staging(self) -> SqlStagingStore:
        if self._staging is None:
            self._staging = SqlStagingStore(*self._bound())
        return self._staging

    @contextmanager
    def scratch(self) -> Iterator[None]:
        assert self._conn is not None, "scratch outside the unit of work"
        owed = self.collections.owed()
        savepoint = self._conn.begin_nested()
        try:
            yield
        except BaseException:
            # The database may have ended the whole transaction (a deadlock does on
            # MySQL); then the savepoint is gone and only the original error matters.
            self._tx.discard()
            if savepoint.is_active:
                with contextlib.suppress(DBAPIError):
                    savepoint.rollback()
            raise
        finally:
            self.collections.restore_owed(owed)
        self._tx.discard()  # writes still waiting would be undone at once
        savepoint.rollback()

    @property
    def users(self) -> SqlUserStore:
        if self._users is None:
            self._users = SqlUserStore(*self._bound())
        return self._users

    @property
    def collections(self) -> SqlCollectionStore:
        if self._collections is None:
            self._collections = SqlCollectionStore(*self._bound())
        return self._collections

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            self._tx.close()
            if self._collections is not None:
                self._collections.after_transaction()
        finally:
            self._release(conn)
        if exc is not None and dialects.is_retryable(exc):
            raise Retryable(f"database conflict, operation may be retried: {exc}") from exc

    def commit(self) -> None:
        assert self._conn is not None, "commit outside the unit of work"
        if self._collections is not None:
            self._collections.before_commit()
        self._tx.commit()

    def _release(self, conn: Connection) -> None:
        pin, self._pin = self._pin, None
        if pin is None:
            conn.close()
        elif conn.invalidated:
            # A lost connection: let the next unit of work of this request check out anew.
            pin.conn, pin.level, pin.busy = None, None, False
            conn.close()
        else:
            pin.busy = False


class SqlUnitOfWorkFactory:
    """Opens `SqlUnitOfWork`s on one engine; what `SyncServer` and `Accounts` are given."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._threads = threading.local()

    def __call__(
        self, *, write: bool = True, snapshot: bool = True, durable: bool = True
    ) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write=write, snapshot=snapshot, durable=durable)

    @contextmanager
    def request_scope(self) -> Iterator[None]:
        """Let the units of work opened inside (one thread) share one connection.

        The thread keeps that connection for its next request: taking one from the pool
        and giving it back costs more than a small request's own work. One that sat idle
        is checked before use, as the pool checks the connections it hands out."""
        pin: _Pinned | None = getattr(self._threads, "pin", None)
        if pin is None or pin.busy or _pinned.get() is not None:
            pin = _Pinned()  # a scope inside a scope gets its own
        elif pin.conn is not None and not _still_usable(pin):
            pin.conn.close()
            pin.conn, pin.level = None, None
        self._threads.pin = pin
        token = _pinned.set(pin)
        try:
            yield
        finally:
            _pinned.reset(token)
            pin.idle_since = time.monotonic()

    def release_connections(self) -> None:
        """Give this thread's kept connection back to the pool."""
        pin: _Pinned | None = getattr(self._threads, "pin", None)
        if pin is not None and pin.conn is not None and not pin.busy:
            pin.conn.close()
            pin.conn, pin.level = None, None


def _still_usable(pin: _Pinned) -> bool:
    """Whether a kept connection may serve the next request (pinged after idling)."""
    conn = pin.conn
    assert conn is not None
    if conn.invalidated or conn.closed:
        return False
    if time.monotonic() - pin.idle_since < dialects.PING_AFTER_IDLE_S:
        return True
    return dialects.ping(conn)
