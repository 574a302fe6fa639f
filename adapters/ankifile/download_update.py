"""A full download made from a kept file of the same collection plus what changed since.

A kept file (see `download_cache`) holds the collection as it was at its `col.usn`, U.
Every write since stamped the rows and graves it wrote with a usn of at least U, and
every deletion left a grave, so the file is brought up to date with the rows and graves
of usn U or more and a new `col` row (note types, decks, presets, config and tags, which
are small). The result is a schema-11 file, which every client opens. At the end the
file's row counts are compared with the stored ones: a file that does not add up is not
sent (`OutOfStep`), and the caller builds the download from the database instead.

The kept file is copied and changed in place; a schema-18 file (a current client's
upload) is first turned into schema 11 as Anki itself does it. A file with triggers (our
writes would fire them) or views has its rows copied by SQLite into a new file of
ankiserv's own schema instead.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from adapters.ankifile.sqlite_file import unicase
from adapters.ankifile.writer import (
    DDL,
    INDEXES,
    SCHEMA_LEGACY,
    batches,
    connect_new,
    create,
    grave_row,
    insert_col,
)
from domain.model import Grave, GraveKind
from ports.collection import StoredContents

# Named, never positional: an uploaded file may order its columns differently.
_COLUMNS = {
    "notes": "id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data",
    "cards": "id, nid, did, ord, mod, usn, type, queue, due, ivl, factor, reps, lapses, "
             "left, odue, odid, flags, data",
    "revlog": "id, cid, usn, ease, ivl, lastIvl, factor, time, type",
    "graves": "usn, oid, type",
}
_SCHEMA18_ONLY = ("config", "deck_config", "tags", "fields", "templates", "notetypes", "decks")
_ROWS_OF_GRAVE = {GraveKind.NOTE: "notes", GraveKind.CARD: "cards"}


class OutOfStep(Exception):
    """The kept file is not an earlier state of the stored collection."""


def update_copy(
    base: IO[bytes], base_schema: int, contents: StoredContents, path: Path, scratch: Path
) -> None:
    """Write at `path` the collection `contents` as a schema-11 file, from `base`, a kept
    file of an earlier version of it (in `base_schema`). `scratch` is a free path beside
    `path` for a copy of `base`. Raises `OutOfStep` or `sqlite3.Error` if that fails."""
    _copy(base, path)
    con = connect_new(path)
    try:
        con.create_collation("unicase", unicase)  # schema-18 name indexes use it
        if _plain(con):
            since = _usn(con)
            if base_schema != SCHEMA_LEGACY:
                _downgrade(con)
            _bring_up_to_date(con, since, contents)
            return
    finally:
        con.close()
    path.replace(scratch)
    since = _copy_rows(scratch, path)
    con = connect_new(path)
    try:
        _bring_up_to_date(con, since, contents)
    finally:
        con.close()


def _plain(con: sqlite3.Connection) -> bool:
    """Whether the file holds no triggers (which our writes would fire) and no views
    (which renaming a table checks)."""
    found = con.execute("SELECT 1 FROM sqlite_master WHERE type IN ('trigger', 'view')")
    return found.fetchone() is None


def _downgrade(con: sqlite3.Connection) -> None:
    """Turn a schema-18 file into schema 11 in place, as Anki does before it sends a file
    to an older client: graves without their key, and no tables for what the `col` row
    holds as JSON (written afterwards)."""
    con.execute("BEGIN")
    con.execute("ALTER TABLE graves RENAME TO graves18")
    con.execute("CREATE TABLE graves (usn integer NOT NULL, oid integer NOT NULL,"
                " type integer NOT NULL)")
    con.execute("INSERT INTO graves (usn, oid, type) SELECT usn, oid, type FROM graves18")
    for table in ("graves18", *_SCHEMA18_ONLY):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    for index in ("idx_cards_odid", "idx_notes_mid"):
        con.execute(f"DROP INDEX IF EXISTS {index}")
    con.execute("COMMIT")


def _copy(source: IO[bytes], path: Path) -> None:
    with path.open("wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)


def _usn(con: sqlite3.Connection, schema: str = "main") -> int:
    found = con.execute(f"SELECT usn FROM {schema}.col").fetchall()
    if len(found) != 1 or not isinstance(found[0][0], int):
        raise OutOfStep("the kept file's col row does not fit")
    return found[0][0]


def _copy_rows(source: Path, path: Path) -> int:
    """Create a schema-11 file at `path` holding the rows of the file at `source`;
    return the usn of `source`."""
    path.unlink(missing_ok=True)
    con = connect_new(path)
    try:
        con.execute("BEGIN")
        create(con, DDL + INDEXES)  # indexes first: SQLite then copies their pages too
        con.execute("COMMIT")
        con.execute("ATTACH DATABASE ? AS base", (str(source),))
        since = _usn(con, "base")
        con.execute("BEGIN")
        for table, columns in _COLUMNS.items():
            con.execute(f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM base.{table}")
        con.execute("COMMIT")
        con.execute("DETACH DATABASE base")
    finally:
        con.close()
    return since


def _bring_up_to_date(con: sqlite3.Connection, since: int, contents: StoredContents) -> None:
    if since > contents.meta().usn:
        raise OutOfStep("the kept file is newer than the stored collection")
    con.execute("BEGIN")
    _bury(con, list(contents.graves_since(since)))
    rows: Iterable[tuple[str, Iterable[tuple[Any, ...]]]] = (
        ("notes", contents.notes_since(since)),
        ("cards", contents.cards_since(since)),
        ("revlog", contents.revlog_since(since)),
    )
    for table, changed in rows:
        columns = _COLUMNS[table]
        marks = ",".join("?" * (columns.count(",") + 1))
        for batch in batches(changed):
            con.executemany(f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({marks})", batch)
    con.execute("DELETE FROM col")
    insert_col(con, contents)
    counts = contents.row_counts()
    for table, expected in (("notes", counts.notes), ("cards", counts.cards),
                            ("revlog", counts.revlog)):
        if con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] != expected:
            raise OutOfStep(f"{table}: the kept file and the changes do not add up")
    con.execute("COMMIT")


def _bury(con: sqlite3.Connection, graves: list[Grave]) -> None:
    """Delete what `graves` name and record them, replacing older graves of the same."""
    if not graves:
        return
    for kind, table in _ROWS_OF_GRAVE.items():
        ids = [(g.oid,) for g in graves if g.kind == kind]
        con.executemany(f"DELETE FROM {table} WHERE id = ?", ids)
    # The graves table has no index: one pass over it, not one per grave.
    con.execute("CREATE TEMP TABLE buried (oid integer, type integer)")
    con.executemany("INSERT INTO temp.buried VALUES (?,?)", [(g.oid, int(g.kind)) for g in graves])
    con.execute("DELETE FROM graves WHERE (oid, type) IN (SELECT oid, type FROM temp.buried)")
    con.execute("DROP TABLE temp.buried")
    con.executemany(f"INSERT INTO graves ({_COLUMNS['graves']}) VALUES (?,?,?)",
                    map(grave_row, graves))
