"""Bulk inserts (COPY on PostgreSQL, driver executemany elsewhere) keep every value exactly."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, Table, delete, select

from adapters.sql import bulk, tables

TRICKY = [
    "plain", "", "tab\there", "new\nline", "carriage\rreturn", "back\\slash", "\\N",
    "nul\x00inside", "\ue000private\ue001use\ue002", "ünïcödé 漢字 🙂", "\\.", "end\\",
    "x" * 100_000, "quote \" and ' and ,", "\x1f field separator",
]


@pytest.fixture
def user_id() -> int:
    return 2**40 + uuid.uuid4().int % 2**30


def round_trip(engine: Engine, table: Table, rows: list[dict[str, Any]], order: str
               ) -> list[dict[str, Any]]:
    """Bulk-insert `rows` (all of one user), read them back ordered by `order`, delete them."""
    user_id = rows[0]["user_id"]
    with engine.begin() as conn:
        assert bulk.insert_rows(conn, table, (tuple(r.values()) for r in rows)) == len(rows)
    try:
        with engine.connect() as conn:
            got = conn.execute(select(table).where(table.c.user_id == user_id)
                               .order_by(table.c[order])).mappings().all()
        return [dict(r) for r in got]
    finally:
        with engine.begin() as conn:
            conn.execute(delete(table).where(table.c.user_id == user_id))


def test_every_string_survives_a_bulk_insert(engine: Engine, user_id: int) -> None:
    rows = [
        {"user_id": user_id, "id": i, "guid": text[:200], "mid": 1, "mtime": 2, "usn": -1,
         "tags": text, "flds": text, "sfld": text, "csum": 2**31 + i, "flags": 0, "data": text}
        for i, text in enumerate(TRICKY)
    ]
    assert round_trip(engine, tables.notes, rows, "id") == rows


def test_booleans_and_many_batches(engine: Engine, user_id: int) -> None:
    rows = [{"user_id": user_id, "tag": f"tag{i}", "usn": i, "collapsed": i % 2 == 0}
            for i in range(bulk.BATCH * 2 + 7)]
    assert round_trip(engine, tables.tags, rows, "usn") == rows


def test_an_error_raised_while_streaming_rows_is_the_one_reported(
    engine: Engine, user_id: int
) -> None:
    class Broken(Exception):
        pass

    def rows():
        yield (user_id, "fine", 0, False)
        raise Broken("the upload was corrupt")

    with pytest.raises(Broken), engine.begin() as conn:
        bulk.insert_rows(conn, tables.tags, rows())
    with engine.connect() as conn:
        assert conn.execute(select(tables.tags).where(tables.tags.c.user_id == user_id)).all() == []


def test_copy_source_buffers_at_most_one_read_and_one_line() -> None:
    """Lines (or batches of lines) longer than the driver's reads must not pile up."""
    chunks = iter(["x" * 200_000 + "\n"] * 50)
    source = bulk._CopySource(chunks, lambda chunk: chunk.count("\n"))
    read, biggest = [], 0
    while data := source.read(1 << 16):
        read.append(data)
        biggest = max(biggest, len(source._buffer))
    assert "".join(read) == ("x" * 200_000 + "\n") * 50
    assert source.count == 50
    assert biggest < 200_001 + (1 << 16)


def test_copy_source_hands_out_long_lines_without_copying_their_rest() -> None:
    """A line of megabytes (a note with a big field) is handed out piece by piece from
    where the last read stopped: every read is at most what the driver asked for, and the
    line itself is never re-copied (that made a 100 MB upload take minutes)."""
    line = "y" * (8 << 20) + "\n"
    source = bulk._CopySource(iter([line, "short\n", line]))
    pieces = []
    while data := source.read(1 << 16):
        assert len(data) <= 1 << 16
        assert source._buffer is line or source._buffer == "short\n"  # the line itself
        pieces.append(data)
    assert "".join(pieces) == line + "short\n" + line
    assert source.count == 3
