"""Every user's rows as files, and back: the database half of `ankiserv backup`/`restore`.

All tables are read in one read-only snapshot, so a sync that finishes meanwhile is
either wholly in or wholly out; syncs in progress (sessions, staged rows) and failed
logins are left out. Rows are written as JSON lines, one gzip file per table, with the
values SQLAlchemy hands out, so a backup of one database kind restores into another.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, insert, select, text, update

from adapters.sql import dialects, schema, tables

# Not part of a backup: conversations in progress and throttling state.
TRANSIENT = {"sync_sessions", "sync_staging", "login_failures"}
BATCH_ROWS, BATCH_BYTES = 500, 4 * 1024 * 1024


class RestoreRefused(Exception):
    """The target database cannot take a restore; the message says why."""


def backed_up_tables() -> list[Table]:
    """Every table a backup holds, parents before children."""
    return [t for t in tables.metadata.sorted_tables if t.name not in TRANSIENT]


def dump(engine: Engine, folder: Path, on_rows: Callable[[int], None] = lambda _: None
         ) -> tuple[str, dict[str, int], set[tuple[int, str]]]:
    """Write every backed-up table to `folder/<table>.jsonl.gz` from one snapshot.

    Returns the schema revision, the row count of each table, and the (user, sha1) of
    every media file the snapshot holds."""
    folder.mkdir(parents=True)
    counts: dict[str, int] = {}
    blobs: set[tuple[int, str]] = set()
    with engine.connect() as conn:
        _begin_snapshot(conn)
        revision = schema.revision_on(conn)
        for table in backed_up_tables():
            with gzip.open(folder / f"{table.name}.jsonl.gz", "wt", encoding="utf-8") as out:
                counts[table.name] = 0
                for row in _rows(conn, table):
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                    counts[table.name] += 1
                    if counts[table.name] % 1000 == 0:
                        on_rows(1000)
                    if table is tables.media_files and row[2]:
                        blobs.add((int(row[0]), str(row[2])))
        conn.rollback()
    if revision is None:
        raise RestoreRefused("the database has no ankiserv schema")
    return revision, counts, blobs


def _begin_snapshot(conn: Connection) -> None:
    """One snapshot for every read that follows, taken by the first (no write lock)."""
    if dialects.is_sqlite(conn):
        conn.info["begin_sql"] = "BEGIN"
    else:
        conn.execution_options(isolation_level=dialects.READER_LEVEL)
    conn.begin()


def _rows(conn: Connection, table: Table) -> Iterator[list[Any]]:
    query = select(*table.columns).order_by(*table.primary_key.columns)
    result = conn.execution_options(yield_per=1000).execute(query)
    for row in result:
        yield list(row)


def check_empty(engine: Engine) -> str | None:
    """The schema revision of a database a restore may fill (None: no schema yet);
    raises `RestoreRefused` if it holds users."""
    current = schema.revision(engine)
    if current is None:
        return None
    with engine.connect() as conn:
        if conn.execute(select(func.count()).select_from(tables.users)).scalar():
            raise RestoreRefused("the database holds users already: restore into an empty"
                                 " database")
    return current


def load(engine: Engine, folder: Path, revision: str, counts: dict[str, int],
         on_rows: Callable[[int], None] = lambda _: None) -> None:
    """Create the schema at `revision`, insert every table's rows in one transaction,
    then bring the schema up to date. Raises `RestoreRefused`."""
    current = check_empty(engine)
    if current is not None and current != revision:
        raise RestoreRefused(f"the database has schema revision {current}, the backup"
                             f" {revision}: restore into a new, empty database")
    schema.upgrade(engine, revision)
    with engine.connect() as conn, conn.execution_options(
            isolation_level=dialects.WRITER_LEVEL if not dialects.is_sqlite(conn)
            else "SERIALIZABLE").begin():
        for table in backed_up_tables():
            path = folder / f"{table.name}.jsonl.gz"
            if not path.exists():
                raise RestoreRefused(f"{path.name} is missing from the backup")
            loaded = _insert_all(conn, table, path, on_rows)
            if loaded != counts.get(table.name, 0):
                raise RestoreRefused(f"{path.name} holds {loaded} rows, the manifest says"
                                     f" {counts.get(table.name, 0)}")
        if conn.dialect.name == "postgresql":  # explicit ids left the sequence behind
            conn.execute(text("SELECT setval(pg_get_serial_sequence('users', 'user_id'),"
                              " coalesce((SELECT max(user_id) FROM users), 0) + 1, false)"))
    schema.upgrade(engine)


def _insert_all(conn: Connection, table: Table, path: Path,
                on_rows: Callable[[int], None]) -> int:
    names = [c.name for c in table.columns]
    batch: list[dict[str, Any]] = []
    size = loaded = 0
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            values = json.loads(line)
            if not isinstance(values, list) or len(values) != len(names):
                raise RestoreRefused(f"{path.name}: a row does not match the table")
            batch.append(dict(zip(names, values, strict=True)))
            size += len(line)
            if len(batch) >= BATCH_ROWS or size >= BATCH_BYTES:
                conn.execute(insert(table), batch)
                loaded += len(batch)
                on_rows(len(batch))
                batch, size = [], 0
    if batch:
        conn.execute(insert(table), batch)
        loaded += len(batch)
        on_rows(len(batch))
    return loaded


def require_full_syncs(engine: Engine, now_ms: int) -> None:
    """Mark every collection's schema changed, so each device is asked for a full sync
    (one that synced after the backup was taken would otherwise miss changes)."""
    with engine.begin() as conn:
        conn.execute(update(tables.collections).values(scm=now_ms))
