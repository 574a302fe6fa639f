"""Bulk inserts (COPY on PostgreSQL, driver executemany elsewhere) keep every value exactly."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, delete, select

from adapters.sql import bulk, tables

TRICKY = [
    "plain", "", "tab\there", "new\nline", "carriage\rreturn", "back\\slash", "\\N",
    "nul\x00inside", "\ue000private\ue001use\ue002", "ünïcödé 漢字 🙂", "\\.", "end\\",
    "x" * 100_000, "quote \" and ' and ,", "\x1f field separator",
]


@pytest.fixture
def user_id() -> int:
    return 2**40 + uuid.uuid4().int % 2**30


def test_every_string_survives_a_bulk_insert(engine: Engine, user_id: int) -> None:
    rows = [
        {"user_id": user_id, "id": i, "guid": text[:200], "mid": 1, "mtime": 2, "usn": -1,
         "tags": text, "flds": text, "sfld": text, "csum": 2**31 + i, "flags": 0, "data": text}
        for i, text in enumerate(TRICKY)
    ]
    with engine.begin() as conn:
        assert bulk.insert_rows(conn, tables.notes, [tuple(r.values()) for r in rows]) == len(rows)
    try:
        with engine.connect() as conn:
            got = conn.execute(select(tables.notes).where(tables.notes.c.user_id == user_id)
                               .order_by(tables.notes.c.id)).mappings().all()
        assert [dict(r) for r in got] == rows
    finally:
        with engine.begin() as conn:
            conn.execute(delete(tables.notes).where(tables.notes.c.user_id == user_id))


def test_booleans_and_many_batches(engine: Engine, user_id: int) -> None:
    rows = [{"user_id": user_id, "tag": f"tag{i}", "usn": i, "collapsed": i % 2 == 0}
            for i in range(bulk.BATCH * 2 + 7)]
    with engine.begin() as conn:
        assert bulk.insert_rows(conn, tables.tags, (tuple(r.values()) for r in rows)) == len(rows)
    try:
        with engine.connect() as conn:
            got = conn.execute(select(tables.tags).where(tables.tags.c.user_id == user_id)
                               .order_by(tables.tags.c.usn)).mappings().all()
        assert [dict(r) for r in got] == rows
    finally:
        with engine.begin() as conn:
            conn.execute(delete(tables.tags).where(tables.tags.c.user_id == user_id))


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
