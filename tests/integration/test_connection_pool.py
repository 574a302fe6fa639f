"""Pooled connections: a connection the database dropped while idle is replaced unseen,
and the units of work of one request share a connection without mixing transactions."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from adapters.sql import dialects
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.model import UserId

PG = ("postgres", "citus")  # Citus is PostgreSQL to these tests


def _backend_pid(conn: object, backend: str) -> int:
    query = "SELECT pg_backend_pid()" if backend in PG else "SELECT CONNECTION_ID()"
    return int(conn.execute(text(query)).scalar_one())  # type: ignore[attr-defined]


def _kill(admin: object, backend: str, pid: int) -> None:
    query = f"SELECT pg_terminate_backend({pid})" if backend in PG else f"KILL {pid}"
    admin.execute(text(query))  # type: ignore[attr-defined]


def test_an_idle_connection_the_server_dropped_is_replaced(
    db_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite has no server to drop connections")
    monkeypatch.setattr(dialects, "PING_AFTER_IDLE_S", 0.0)
    engine = dialects.build_engine(db_url, pool_size=1, max_overflow=0)
    admin = dialects.build_engine(db_url).connect()
    try:
        with engine.connect() as conn:
            pid = _backend_pid(conn, backend)
        _kill(admin, backend, pid)
        with engine.connect() as conn:  # the same pooled connection, found dead and replaced
            assert _backend_pid(conn, backend) != pid
    finally:
        admin.close()
        engine.dispose()


def test_a_busy_connection_is_not_pinged(db_url: str, backend: str) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite connections are never pinged")
    engine = dialects.build_engine(db_url, pool_size=1, max_overflow=0)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    try:
        for _ in range(3):
            with engine.connect() as conn:
                conn.execute(text("SELECT 2"))
        assert statements == ["SELECT 2"] * 3
    finally:
        engine.dispose()


def test_a_thread_keeps_its_connection_from_one_request_to_the_next(
    db_url: str, backend: str
) -> None:
    engine = dialects.build_engine(db_url)
    factory = SqlUnitOfWorkFactory(engine)
    checkouts: list[object] = []
    event.listen(engine, "checkout", lambda *args: checkouts.append(args[0]))
    try:
        for _ in range(3):
            with factory.request_scope(), factory(write=False) as uow:
                uow.collections.meta(UserId(1))
        assert len(checkouts) == 1
        factory.release_connections()
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()


def test_a_kept_connection_the_server_dropped_while_idle_is_replaced(
    db_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite has no server to drop connections")
    monkeypatch.setattr(dialects, "PING_AFTER_IDLE_S", 0.0)
    engine = dialects.build_engine(db_url)
    admin = dialects.build_engine(db_url).connect()
    factory = SqlUnitOfWorkFactory(engine)
    try:
        with factory.request_scope(), factory(write=False) as uow:
            pid = _backend_pid(uow._conn, backend)
        _kill(admin, backend, pid)
        with factory.request_scope(), factory() as uow:  # found dead, replaced unseen
            assert _backend_pid(uow._conn, backend) != pid
            uow.collections.meta(UserId(1))
    finally:
        factory.release_connections()
        admin.close()
        engine.dispose()


def test_units_of_work_in_one_request_share_a_connection_and_isolation(
    db_url: str, backend: str
) -> None:
    engine = dialects.build_engine(db_url)
    factory = SqlUnitOfWorkFactory(engine)
    try:
        with factory.request_scope():
            with factory(write=False) as reader:
                first = reader._conn
                levels = [_isolation(reader, backend)]
            with factory() as writer:
                assert writer._conn is first
                levels.append(_isolation(writer, backend))
                with factory(write=False) as nested:  # while the writer is open: its own
                    assert nested._conn is not first
            with factory(write=False) as reader:
                levels.append(_isolation(reader, backend))
            with factory(write=False, snapshot=False) as lookup:  # no level switch
                assert lookup._conn is first
                levels.append(_isolation(lookup, backend))
                # PostgreSQL: a single lookup needs no transaction at all.
                assert _in_transaction(lookup) == (backend not in PG)
            with factory() as writer:
                levels.append(_isolation(writer, backend))
                assert _in_transaction(writer)
        factory.release_connections()  # the thread kept it for its next request
        if backend == "mysql":
            assert levels == ["repeatable read", "read committed", "repeatable read",
                              "repeatable read", "read committed"]
        if backend in PG:  # the lookup ran outside a transaction: the default level
            assert levels == ["repeatable read", "read committed", "repeatable read",
                              "read committed", "read committed"]
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()


def _isolation(uow: object, backend: str) -> str:
    conn = uow._conn  # type: ignore[attr-defined]
    if backend == "sqlite":
        return ""
    query = ("SHOW transaction_isolation" if backend in PG
             else "SELECT @@tx_isolation")
    return str(conn.execute(text(query)).scalar_one()).replace("-", " ").lower()


def _in_transaction(uow: object) -> bool:
    """Whether the unit of work's statements run inside a transaction of its own."""
    dbapi = uow._conn.connection.dbapi_connection  # type: ignore[attr-defined]
    if hasattr(dbapi, "get_autocommit"):  # PyMySQL: `autocommit` is a method
        return not dbapi.get_autocommit()
    if hasattr(dbapi, "get_transaction_status"):  # psycopg2, after the statement above
        return bool(dbapi.get_transaction_status() != 0)
    return bool(dbapi.in_transaction)  # sqlite3


def test_only_units_of_work_that_may_lose_their_commit_skip_the_wait_for_disk(
    db_url: str, backend: str
) -> None:
    if backend not in PG:
        pytest.skip("only PostgreSQL commits without waiting per transaction")
    engine = dialects.build_engine(db_url)
    factory = SqlUnitOfWorkFactory(engine)
    try:
        seen = {}
        for durable in (True, False):
            with factory(durable=durable) as uow:
                seen[durable] = uow._conn.execute(text("SHOW synchronous_commit")).scalar()
        with factory() as uow:  # the next one on the same connection is durable again
            seen["after"] = uow._conn.execute(text("SHOW synchronous_commit")).scalar()
        assert seen == {True: "on", False: "off", "after": "on"}
    finally:
        engine.dispose()
