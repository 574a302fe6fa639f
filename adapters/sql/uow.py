"""SqlUnitOfWork: one connection and one transaction per unit of work."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from adapters.sql import dialects
from adapters.sql.collection_store import SqlCollectionStore
from adapters.sql.media_index import SqlMediaIndex
from adapters.sql.queries import SqlCollectionQueries
from adapters.sql.sync_stores import SqlSessionStore, SqlStagingStore
from adapters.sql.user_store import SqlUserStore
from domain.errors import Retryable


class SqlUnitOfWork:
    def __init__(self, engine: Engine, *, write: bool = True) -> None:
        self._engine = engine
        self._write = write
        self._conn: Connection | None = None

    def __enter__(self) -> SqlUnitOfWork:
        conn = self._engine.connect()
        try:
            dialects.begin(conn, write=self._write)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._users = SqlUserStore(conn)
        self._collections = SqlCollectionStore(conn)
        self._sessions = SqlSessionStore(conn)
        self._staging = SqlStagingStore(conn)
        self._media = SqlMediaIndex(conn)
        self._queries = SqlCollectionQueries(conn)
        return self

    @property
    def queries(self) -> SqlCollectionQueries:
        return self._queries

    @property
    def media(self) -> SqlMediaIndex:
        return self._media

    @property
    def sessions(self) -> SqlSessionStore:
        return self._sessions

    @property
    def staging(self) -> SqlStagingStore:
        return self._staging

    @contextmanager
    def scratch(self) -> Iterator[None]:
        assert self._conn is not None, "scratch outside the unit of work"
        savepoint = self._conn.begin_nested()
        try:
            yield
        except BaseException:
            # The database may have ended the whole transaction (a deadlock does on
            # MySQL); then the savepoint is gone and only the original error matters.
            if savepoint.is_active:
                with contextlib.suppress(DBAPIError):
                    savepoint.rollback()
            raise
        savepoint.rollback()

    @property
    def users(self) -> SqlUserStore:
        return self._users

    @property
    def collections(self) -> SqlCollectionStore:
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
            if conn.in_transaction():
                conn.rollback()
        finally:
            conn.close()
        if exc is not None and dialects.is_retryable(exc):
            raise Retryable(f"database conflict, operation may be retried: {exc}") from exc

    def commit(self) -> None:
        assert self._conn is not None, "commit outside the unit of work"
        self._conn.commit()


class SqlUnitOfWorkFactory:
    """Opens `SqlUnitOfWork`s on one engine; what `SyncServer` and `Accounts` are given."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, *, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write=write)
