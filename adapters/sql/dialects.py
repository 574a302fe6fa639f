"""Everything that differs between SQLite, PostgreSQL and MySQL/MariaDB lives here."""

from __future__ import annotations

import itertools
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError

from adapters.sql.transaction import (
    TX_KEY,
    DriverTransaction,
    PgTransaction,
    Transaction,
    install,
)

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """Add what each backend needs to keep text verbatim (utf8mb4 on MySQL)."""
    parsed = make_url(url)
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        if parsed.drivername in ("mysql", "mariadb"):
            parsed = parsed.set(drivername=f"{parsed.drivername}+pymysql")
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    if parsed.drivername in ("postgres", "postgresql"):
        # SQLAlchemy 2.1 defaults to psycopg 3; ankiserv ships psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def build_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the per-backend settings ankiserv relies on."""
    url = normalise_url(url)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if parsed.database not in (None, "", ":memory:"):
        # The connection used last is taken first: it has the statements prepared and its
        # caches warm, and the others stay idle and can be let go.
        kwargs.setdefault("pool_use_lifo", True)
    if backend == "sqlite":
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    if backend in ("mysql", "mariadb"):
        # Writers of one user serialise on the collection row lock; READ COMMITTED spares
        # InnoDB's gap locks, which otherwise make different users' syncs deadlock.
        kwargs.setdefault("isolation_level", "READ COMMITTED")
    engine = create_engine(url, **kwargs)
    _ping_idle_connections(engine)
    if backend == "postgresql":
        install(engine)
    return engine


PING_AFTER_IDLE_S = 2.0


def _ping_idle_connections(engine: Engine) -> None:
    """Check a pooled connection before use only if it sat idle: a database restart is
    noticed without a ping per request (what `pool_pre_ping` would cost under load)."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["ankiserv_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("ankiserv_idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            if _in_implicit_transaction(dbapi_conn):
                dbapi_conn.rollback()  # end the transaction the ping began
        except Exception as e:
            # The pool replaces the connection and tries the checkout again.
            raise DisconnectionError("stale pooled connection") from e


def ping(conn: Connection) -> bool:
    """Whether a connection still answers (a database restart drops idle ones)."""
    try:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
    except Exception:
        return False
    raw: Any = conn.connection.driver_connection
    if _in_implicit_transaction(raw):
        raw.rollback()  # end the transaction the ping began
    return True


def _in_implicit_transaction(raw: Any) -> bool:
    """Whether a driver began a transaction of its own for the last statement."""
    if hasattr(raw, "get_autocommit"):  # PyMySQL
        return not raw.get_autocommit()
    if hasattr(raw, "get_transaction_status"):  # psycopg2
        return bool(raw.get_transaction_status() != 0)
    return False  # sqlite3 here runs without implicit transactions


MYSQL_RETRYABLE = {1205, 1213}  # lock wait timeout, deadlock
POSTGRES_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock


def is_retryable(error: BaseException) -> bool:
    """Whether the database rolled the transaction back for a conflict worth retrying."""
    if not isinstance(error, DBAPIError) or error.orig is None:
        return False
    orig = error.orig
    if getattr(orig, "pgcode", None) in POSTGRES_RETRYABLE:
        return True
    args = getattr(orig, "args", ())
    if args and args[0] in MYSQL_RETRYABLE:
        return True
    return "database is locked" in str(orig)


def is_sqlite(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "sqlite"


def streaming_cursor(conn: Connection) -> Any:
    """A DB-API cursor on `conn`'s connection (in its transaction) that fetches rows from
    the server as they are asked for, not all at once: memory stays bounded on big reads."""
    raw: Any = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        tx = conn.info.get(TX_KEY)
        if tx is not None:
            tx.raw_cursor_ready()
        # Server-side; psycopg2 wants WITH HOLD in autocommit mode (the transaction is
        # ours, begun above: the cursor is closed before it ends).
        return raw.cursor(name=f"ankiserv_stream_{next(_CURSOR_NUMBERS)}",
                          withhold=bool(raw.autocommit))
    if conn.dialect.name in ("mysql", "mariadb"):
        from pymysql.cursors import SSCursor  # type: ignore[import-untyped]

        return raw.cursor(SSCursor)
    return raw.cursor()  # sqlite3 steps through the result as it is fetched


_CURSOR_NUMBERS = itertools.count()

WRITER_LEVEL = "READ COMMITTED"  # PostgreSQL's default; set on MySQL engines
READER_LEVEL = "REPEATABLE READ"


def open_transaction(
    conn: Connection, *, write: bool, snapshot: bool = True, durable: bool = True,
    level: str | None = None,
) -> tuple[Transaction, str | None]:
    """Begin a unit of work's transaction: writers take SQLite's lock up front; readers
    get a snapshot, except single lookups (`snapshot=False`), which need none. On
    PostgreSQL a writer that need not be `durable` commits without waiting for its WAL
    to reach the disk (it still reaches it in order: see `UnitOfWorkFactory`); the other
    databases have no such setting per transaction.

    `level` is the isolation level a MySQL connection is known to be in (None: a fresh
    checkout, at the writers' level); returns the transaction and the level it is in now.
    """
    if conn.dialect.name == "postgresql":
        # The isolation level rides on BEGIN; single lookups run without a transaction.
        begin: str | None
        if write:
            begin = f"BEGIN ISOLATION LEVEL {WRITER_LEVEL}"
            if not durable:
                begin = f"{begin}; SET LOCAL synchronous_commit TO OFF"
        elif snapshot:
            begin = f"BEGIN ISOLATION LEVEL {READER_LEVEL}"
        else:
            begin = None
        return PgTransaction(conn, begin), None
    if is_sqlite(conn):
        conn.info["begin_sql"] = "BEGIN IMMEDIATE" if write else "BEGIN"
        conn.begin()
        return DriverTransaction(conn), None
    if write:
        wanted = WRITER_LEVEL
    elif snapshot:
        wanted = READER_LEVEL  # e.g. a full download: one snapshot across many queries
    else:
        # Switching levels costs more than a single lookup: stay at the current one.
        wanted = level or WRITER_LEVEL
    if wanted != (level or WRITER_LEVEL):
        conn.execution_options(isolation_level=wanted)
    conn.begin()
    return DriverTransaction(conn), wanted


SQLITE_LOWER = "ankiserv_lower"


def _unicode_lower(text: str | None) -> str | None:
    return None if text is None else text.lower()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's BEGIN below, not the driver, decide when transactions start.
        dbapi_conn.isolation_level = None
        # SQLite's lower() folds only ASCII; searches use this one, as PostgreSQL and
        # MariaDB's lower() fold every script's case.
        dbapi_conn.create_function(SQLITE_LOWER, 1, _unicode_lower, deterministic=True)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # On the driver's connection: SQLAlchemy's execution path costs more than BEGIN.
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute(conn.info.pop("begin_sql", "BEGIN IMMEDIATE"))
