"""Write `CollectionContents` as a schema-11 Anki collection file, which every client opens."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from domain.model import ConfigEntry, Grave, JsonObject
from ports.collection import CollectionContents

SCHEMA_LEGACY = 11
BATCH = 5000

# The schema-11 file format (column order is also the sync wire order).
DDL = """
CREATE TABLE col (id integer PRIMARY KEY, crt integer NOT NULL, mod integer NOT NULL,
  scm integer NOT NULL, ver integer NOT NULL, dty integer NOT NULL, usn integer NOT NULL,
  ls integer NOT NULL, conf text NOT NULL, models text NOT NULL, decks text NOT NULL,
  dconf text NOT NULL, tags text NOT NULL);
CREATE TABLE notes (id integer PRIMARY KEY, guid text NOT NULL, mid integer NOT NULL,
  mod integer NOT NULL, usn integer NOT NULL, tags text NOT NULL, flds text NOT NULL,
  sfld integer NOT NULL, csum integer NOT NULL, flags integer NOT NULL, data text NOT NULL);
CREATE TABLE cards (id integer PRIMARY KEY, nid integer NOT NULL, did integer NOT NULL,
  ord integer NOT NULL, mod integer NOT NULL, usn integer NOT NULL, type integer NOT NULL,
  queue integer NOT NULL, due integer NOT NULL, ivl integer NOT NULL, factor integer NOT NULL,
  reps integer NOT NULL, lapses integer NOT NULL, left integer NOT NULL, odue integer NOT NULL,
  odid integer NOT NULL, flags integer NOT NULL, data text NOT NULL);
CREATE TABLE revlog (id integer PRIMARY KEY, cid integer NOT NULL, usn integer NOT NULL,
  ease integer NOT NULL, ivl integer NOT NULL, lastIvl integer NOT NULL,
  factor integer NOT NULL, time integer NOT NULL, type integer NOT NULL);
CREATE TABLE graves (usn integer NOT NULL, oid integer NOT NULL, type integer NOT NULL);
"""
# Built after the rows are in: one sort per index instead of a B-tree insert per row.
INDEXES = """
CREATE INDEX ix_notes_usn ON notes (usn);
CREATE INDEX ix_cards_usn ON cards (usn);
CREATE INDEX ix_revlog_usn ON revlog (usn);
CREATE INDEX ix_cards_nid ON cards (nid);
CREATE INDEX ix_cards_sched ON cards (did, queue, due);
CREATE INDEX ix_revlog_cid ON revlog (cid);
CREATE INDEX ix_notes_csum ON notes (csum);
"""


def objects_json(objects: Iterable[JsonObject]) -> str:
    """`{"<id>": <object>, ...}` assembled from the stored JSON text, not re-encoded."""
    return "{" + ",".join(f'"{o.id}":{o.json}' for o in objects) + "}"


def config_json(entries: Iterable[ConfigEntry]) -> str:
    return "{" + ",".join(f"{json.dumps(e.key)}:{e.json}" for e in entries) + "}"


def grave_row(g: Grave) -> tuple[Any, ...]:
    return (g.usn, g.oid, int(g.kind))


def batches(rows: Iterable[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, BATCH)):
        yield batch


def connect_new(path: Path) -> sqlite3.Connection:
    """Open a collection file being made for a download (created if missing)."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA trusted_schema=OFF")
    con.execute("PRAGMA page_size=4096")
    con.execute("PRAGMA journal_mode=delete")
    # A new file that is sent and then deleted: a crash loses nothing worth syncing.
    con.execute("PRAGMA synchronous=OFF")
    return con


def write_collection(contents: CollectionContents, path: Path) -> None:
    """Create a schema-11 collection file at `path` holding `contents`."""
    con = connect_new(path)
    try:
        con.execute("BEGIN")
        create(con, DDL)
        insert_col(con, contents)
        inserts = (
            # Notes, cards and revlog entries are tuples in the tables' column order.
            ("INSERT INTO notes VALUES (?,?,?,?,?,?,?,?,?,?,?)", contents.notes()),
            ("INSERT INTO cards VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", contents.cards()),
            ("INSERT INTO revlog VALUES (?,?,?,?,?,?,?,?,?)", contents.revlog()),
            ("INSERT INTO graves VALUES (?,?,?)", map(grave_row, contents.graves())),
        )
        for sql, rows in inserts:
            for batch in batches(rows):
                con.executemany(sql, batch)
        create(con, INDEXES)
        con.execute("COMMIT")
    finally:
        con.close()


def create(con: sqlite3.Connection, ddl: str) -> None:
    for statement in ddl.split(";"):
        if statement.strip():
            con.execute(statement)


def insert_col(con: sqlite3.Connection, contents: CollectionContents) -> None:
    m = contents.meta()
    models = objects_json(contents.notetypes())
    decks = objects_json(contents.decks())
    dconf = objects_json(contents.deck_configs())
    conf = config_json(contents.config())
    tags = json.dumps({t.name: t.usn for t in contents.tags()}, ensure_ascii=False)
    con.execute(
        "INSERT INTO col VALUES (1,?,?,?,?,?,?,?,?,?,?,?,?)",
        (m.crt, m.mod, m.scm, SCHEMA_LEGACY, m.dty, m.usn, m.ls, conf, models, decks, dconf,
         tags),
    )
