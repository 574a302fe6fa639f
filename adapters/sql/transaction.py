"""The transaction of a unit of work, and how hot-path statements run inside it.

PostgreSQL (`PgTransaction`): the psycopg2 connection is switched to autocommit while a
unit of work holds it, and the transaction is driven by SQL text, so that BEGIN rides on
the first statement and COMMIT on the last instead of costing a round trip each. Writes
whose result nobody reads (`write`) wait and go out together, as one statement whose
WITH clauses hold all but the last, when the next read, or the commit, needs them.
Statements are prepared once per connection. A small sync request costs one round trip
per statement it really needs, and the server plans each statement once.

SQLite and MySQL/MariaDB (`DriverTransaction`): SQLAlchemy begins and ends the
transaction as before; hot-path statements still run on the driver's cursor.
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from adapters.sql.statements import Compiled, Statement, combined_body, pg_literal

T = TypeVar("T")
Rows = list[tuple[Any, ...]]
Params = Mapping[str, Any]
TX_KEY = "ankiserv_transaction"


class Transaction(Protocol):
    def fetch(self, stmt: Statement, params: Params) -> Rows:
        """Run a statement now and return its rows."""
        ...

    def write(self, stmt: Statement, params: Params) -> None:
        """Run a write whose result is not needed: it may wait for the next read."""
        ...

    def write_rows(self, stmt: Statement, common: Params, rows: Sequence[Params]) -> None:
        """`write` once per row (`common` holds the values every row shares)."""
        ...

    def execute(self, stmt: Statement, params: Params) -> int:
        """Run a write now and return how many rows it touched."""
        ...

    def flush(self) -> None:
        """Send the writes that are waiting."""
        ...

    def discard(self) -> None:
        """Forget the writes that are waiting (a savepoint rollback would undo them)."""
        ...

    def commit(self) -> None: ...

    def close(self) -> None:
        """Roll back whatever was not committed."""
        ...


# Callbacks told the SQL text and duration of every statement run on the driver's cursor
# (tests and benchmarks count statements with them; SQLAlchemy's events do not see these).
OBSERVERS: list[Callable[[str, float], None]] = []
# Prepared statement names and their text, for those callbacks to show.
PREPARED_TEXT: dict[str, str] = {}


class _Driver:
    """Runs compiled statements on the DB-API connection under `conn`, turning driver
    errors into SQLAlchemy's (so retries, integrity errors and lost connections are
    handled as for statements SQLAlchemy runs)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect
        self.raw: Any = conn.connection.driver_connection

    def run(self, sql: str, args: Sequence[Any] | None, fetch: bool) -> tuple[Rows, int]:
        started = time.perf_counter() if OBSERVERS else 0.0
        cursor = self.raw.cursor()
        try:
            cursor.execute(sql, args)
            rows = cursor.fetchall() if fetch else []
            return rows, cursor.rowcount
        except self.dialect.loaded_dbapi.Error as e:
            raise self._wrapped(e, sql, args, cursor) from e
        finally:
            cursor.close()
            if OBSERVERS:
                _observed(sql, started)

    def run_many(self, sql: str, args: list[list[Any]]) -> None:
        started = time.perf_counter() if OBSERVERS else 0.0
        cursor = self.raw.cursor()
        try:
            cursor.executemany(sql, args)
        except self.dialect.loaded_dbapi.Error as e:
            raise self._wrapped(e, sql, args, cursor) from e
        finally:
            cursor.close()
            if OBSERVERS:
                # PyMySQL sends an INSERT for many rows as one statement; else one per row.
                batched = self.dialect.name in ("mysql", "mariadb") and sql.startswith("INSERT")
                for _ in args[:1] if batched else args:
                    _observed(sql, started)

    def _wrapped(self, error: Any, sql: str, args: Any, cursor: Any) -> DBAPIError:
        lost = self.dialect.is_disconnect(error, self.raw, cursor)
        if lost:
            self.conn.invalidate(error)
        wrapped = DBAPIError.instance(sql, args, error, self.dialect.loaded_dbapi.Error,
                                      connection_invalidated=lost, dialect=self.dialect)
        return cast(DBAPIError, wrapped)


def _observed(sql: str, started: float) -> None:
    took = time.perf_counter() - started
    for observe in OBSERVERS:
        observe(sql, took)


@contextmanager
def observed(sql: str) -> Iterator[None]:
    """Tell OBSERVERS about `sql`, run on a driver's cursor inside the block by other code
    than `_Driver` (a streaming read, COPY, SQLite's INSERT from an attached file)."""
    if not OBSERVERS:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        _observed(sql, started)


class DriverTransaction:
    """SQLite, MySQL/MariaDB: SQLAlchemy owns the transaction (already begun)."""

    def __init__(self, conn: Connection) -> None:
        self._driver = _Driver(conn)
        self._conn = conn

    def fetch(self, stmt: Statement, params: Params) -> Rows:
        c = stmt.compiled(self._driver.dialect)
        return c.rows(self._driver.run(c.sql, c.args(params), fetch=True)[0])

    def write(self, stmt: Statement, params: Params) -> None:
        self.execute(stmt, params)

    def write_rows(self, stmt: Statement, common: Params, rows: Sequence[Params]) -> None:
        if rows:
            c = stmt.compiled(self._driver.dialect)
            self._driver.run_many(c.sql, [c.args({**common, **row}) for row in rows])

    def execute(self, stmt: Statement, params: Params) -> int:
        c = stmt.compiled(self._driver.dialect)
        return self._driver.run(c.sql, c.args(params), fetch=False)[1]

    def flush(self) -> None:
        pass

    def discard(self) -> None:
        pass

    def commit(self) -> None:
        self._conn.commit()

    def close(self) -> None:
        if self._conn.in_transaction() and not self._conn.invalidated:
            self._conn.rollback()


# The statements prepared on each PostgreSQL connection (a connection that is replaced
# starts with none).
_PREPARED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
# Combinations of waiting writes sent as one statement: names of the parts -> (name, body).
_COMBINED: dict[tuple[str, ...], tuple[str, str]] = {}
_COMBINED_NUMBERS = itertools.count()
_REGISTRY_LOCK = threading.Lock()
def _execute_sql(name: str, args: Sequence[Any]) -> str:
    """EXECUTE with its arguments written as literals (no driver interpolation)."""
    if not args:
        return f"EXECUTE {name}"
    return f"EXECUTE {name}({', '.join(map(pg_literal, args))})"


class PgTransaction:
    """PostgreSQL: a transaction driven by SQL text on a connection in autocommit mode.

    `begin_sql` None runs every statement on its own (single lookups need no snapshot).
    """

    def __init__(self, conn: Connection, begin_sql: str | None) -> None:
        self._driver = _Driver(conn)
        self._conn = conn
        self._begin_sql = begin_sql
        self._begun = False
        self._pending: list[tuple[Statement, list[Any]]] = []
        self._pending_tables: set[str] = set()
        raw = self._driver.raw
        if not raw.autocommit:
            if raw.get_transaction_status() != _IDLE:
                raw.rollback()
            raw.autocommit = True
        with _REGISTRY_LOCK:
            self._prepared = _PREPARED.setdefault(raw, set())
        conn.info[TX_KEY] = self

    # -- hot-path statements -------------------------------------------------------------

    def fetch(self, stmt: Statement, params: Params) -> Rows:
        self.flush()
        c = stmt.compiled(self._driver.dialect)
        args = c.args(params)
        rows, _ = self._run(stmt.name, c, args, fetch=True)
        return c.rows(rows)

    def write(self, stmt: Statement, params: Params) -> None:
        c = stmt.compiled(self._driver.dialect)
        self._defer(stmt, c.args(params))

    def write_rows(self, stmt: Statement, common: Params, rows: Sequence[Params]) -> None:
        """PostgreSQL statements for many rows take one array per column (unnest)."""
        if not rows:
            return
        columns = {key: [row[key] for row in rows] for key in rows[0]}
        self.write(stmt, {**common, **columns})

    def execute(self, stmt: Statement, params: Params) -> int:
        self.flush()
        c = stmt.compiled(self._driver.dialect)
        return self._run(stmt.name, c, c.args(params), fetch=False)[1]

    def _defer(self, stmt: Statement, args: list[Any]) -> None:
        if stmt.tables & self._pending_tables:
            self.flush()
        self._pending.append((stmt, args))
        self._pending_tables |= stmt.tables

    def flush(self, suffix: str = "") -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        self._pending_tables = set()
        dialect = self._driver.dialect
        if len(pending) == 1:
            stmt, args = pending[0]
            name, body = stmt.name, stmt.compiled(dialect).pg_body
        else:
            name, body = _combined([stmt for stmt, _ in pending], dialect)
            args = [arg for _, part in pending for arg in part]
        self._ensure_prepared(name, body)
        self._send(_execute_sql(name, args) + suffix, fetch=False)

    def discard(self) -> None:
        self._pending, self._pending_tables = [], set()

    def _run(self, name: str, c: Compiled, args: list[Any], fetch: bool) -> tuple[Rows, int]:
        self._ensure_prepared(name, c.pg_body)
        return self._send(_execute_sql(name, args), fetch)

    def _ensure_prepared(self, name: str, body: str) -> None:
        if name not in self._prepared:
            # On its own: a statement prepared inside a failed batch may or may not exist.
            self._driver.run(f"PREPARE {name} AS {body}", None, fetch=False)
            self._prepared.add(name)
            PREPARED_TEXT.setdefault(name, body)

    def _send(self, sql: str, fetch: bool) -> tuple[Rows, int]:
        """Run SQL text as it is (its values are literals already)."""
        if self._begin_sql is not None and not self._begun:
            self._begun = True
            sql = f"{self._begin_sql}; {sql}"
        return self._driver.run(sql, None, fetch)

    # -- statements SQLAlchemy runs (the rest of the adapter) ----------------------------

    def before_sqlalchemy(self, statement: str, executemany: bool) -> str:
        """Flush waiting writes, and begin the transaction, before SQLAlchemy runs one."""
        self.flush()
        if self._begin_sql is None or self._begun:
            return statement
        self._begun = True
        if executemany:
            self._driver.run(self._begin_sql, None, fetch=False)
            return statement
        return f"{self._begin_sql}; {statement}"

    def raw_cursor_ready(self) -> None:
        """Flush and begin: the caller runs statements on the driver's cursor itself."""
        self.flush()
        if self._begin_sql is not None and not self._begun:
            self._begun = True
            self._driver.run(self._begin_sql, None, fetch=False)

    # -- end -----------------------------------------------------------------------------

    def commit(self) -> None:
        if self._pending:
            self.flush("; COMMIT" if self._begun or self._begin_sql is not None else "")
        elif self._begun:
            self._driver.run("COMMIT", None, fetch=False)
        self._begun = False
        self._conn.commit()  # SQLAlchemy's own bookkeeping; nothing reaches the server

    def close(self) -> None:
        self._pending, self._pending_tables = [], set()
        self._conn.info.pop(TX_KEY, None)
        self._begun = False
        if self._conn.invalidated:
            return
        raw = self._driver.raw
        if raw.closed:
            return
        if raw.get_transaction_status() != _IDLE:
            self._driver.run("ROLLBACK", None, fetch=False)
        if self._conn.in_transaction():
            self._conn.rollback()


def _combined(parts: list[Statement], dialect: Any) -> tuple[str, str]:
    key = tuple(stmt.name for stmt in parts)
    found = _COMBINED.get(key)
    if found is None:
        body, _ = combined_body([stmt.compiled(dialect).pg_body for stmt in parts])
        with _REGISTRY_LOCK:
            found = _COMBINED.setdefault(key, (f"ankiserv_c{next(_COMBINED_NUMBERS)}", body))
    return found


_IDLE = 0  # psycopg2.extensions.TRANSACTION_STATUS_IDLE


def install(engine: Engine) -> None:
    """Let `PgTransaction`s see the statements SQLAlchemy runs on their connection, and
    hand connections back to the pool as psycopg2 expects them (not in autocommit)."""

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _before(conn: Connection, _cursor: Any, statement: str, parameters: Any,
                _context: Any, executemany: bool) -> tuple[str, Any]:
        tx = conn.info.get(TX_KEY)
        if tx is not None:
            statement = tx.before_sqlalchemy(statement, executemany)
        return statement, parameters

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Statement arguments are written as literals (see `pg_literal`), which needs
        # backslashes to be plain characters in string literals, as on any server since 9.1.
        if dbapi_conn.info.parameter_status("standard_conforming_strings") != "on":
            raise RuntimeError("ankiserv needs standard_conforming_strings = on")

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_conn: Any, _record: Any) -> None:
        if dbapi_conn is None or getattr(dbapi_conn, "closed", True):
            return
        if dbapi_conn.autocommit:
            if dbapi_conn.get_transaction_status() != _IDLE:
                with _cursor(dbapi_conn) as cursor:
                    cursor.execute("ROLLBACK")
            dbapi_conn.autocommit = False


@contextmanager
def _cursor(dbapi_conn: Any) -> Iterator[Any]:
    cursor = dbapi_conn.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def run_raw(conn: Connection, body: Callable[[Any], T]) -> T:
    """Run `body(cursor)` on the driver's cursor inside the unit of work's transaction
    (flushed and begun first on PostgreSQL)."""
    tx = conn.info.get(TX_KEY)
    if tx is not None:
        tx.raw_cursor_ready()
    with _cursor(conn.connection.driver_connection) as cursor:
        return body(cursor)
