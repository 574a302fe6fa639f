"""Bulk inserts for full uploads: COPY on PostgreSQL, the driver's executemany elsewhere.

Going through SQLAlchemy's executemany costs more Python per row than reading the row
from the uploaded file; both paths here take rows as tuples in the table's column order,
convert each value once and stream, so memory stays bounded whatever the upload's size.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Boolean, Integer, Table
from sqlalchemy.engine import Connection

from adapters.sql.transaction import observed, run_raw
from adapters.sql.verbatim import VerbatimText, escape_nul

BATCH = 2000
# COPY's text format: these characters are written as backslash escapes.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})

Values = tuple[Any, ...]


def insert_rows(conn: Connection, table: Table, rows: Iterable[Values]) -> int:
    """Insert every row (values in the table's column order); return how many."""
    if conn.dialect.name == "postgresql":
        return _copy(conn, table, rows)
    return _executemany(conn, table, rows)


def _target(conn: Connection, table: Table) -> str:
    """`table (col, ...)`, quoted for the connection's database."""
    quote = conn.dialect.identifier_preparer.quote
    return f"{quote(table.name)} ({', '.join(quote(c.name) for c in table.columns)})"


def _executemany(conn: Connection, table: Table, rows: Iterable[Values]) -> int:
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {_target(conn, table)} VALUES ({', '.join([marker] * len(table.columns))})"
    convert = _bind_converter(conn, table)
    count = 0
    iterator = iter(rows if convert is None else map(convert, rows))
    while batch := list(islice(iterator, BATCH)):
        conn.exec_driver_sql(sql, batch)
        count += len(batch)
    return count


def _bind_converter(conn: Connection, table: Table) -> Callable[[Values], Values] | None:
    """What the column types would do to a row's values on the way in (the driver's own
    executemany skips them): e.g. MySQL's binary keys. None when no column converts."""
    dialect = conn.dialect
    processors = [(i, p) for i, c in enumerate(table.columns)
                  if (p := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None]
    if not processors:
        return None

    def convert(row: Values) -> Values:
        values = list(row)
        for i, process in processors:
            values[i] = process(values[i])
        return tuple(values)

    return convert


def _copy_formatter(column: Any) -> Callable[[Any], str]:
    if isinstance(column.type, Boolean):
        return lambda v: "\\N" if v is None else ("t" if v else "f")
    if isinstance(column.type, VerbatimText):
        return lambda v: "\\N" if v is None else escape_nul(v).translate(_COPY_ESCAPES)
    return lambda v: "\\N" if v is None else str(v).translate(_COPY_ESCAPES)


class _CopySource(io.TextIOBase):
    """A read()-able stream of COPY text lines, produced as the driver asks for them."""

    def __init__(self, lines: Iterator[str],
                 rows_in: Callable[[str], int] = lambda line: 1) -> None:
        self._lines = lines
        self._rows_in = rows_in
        self._buffer = ""
        self._pos = 0  # what of `_buffer` was read already (never sliced off: a line may
        # be megabytes, and copying its rest at every read would be quadratic)
        self.count = 0
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        want = 1 << 16 if size is None or size < 0 else size
        parts: list[str] = []
        have = 0
        try:
            # Pull lines only while short of `want`, and hand out at most `want`.
            while have < want:
                if self._pos >= len(self._buffer):
                    line = next(self._lines, None)
                    if line is None:
                        break
                    self._buffer, self._pos = line, 0
                    self.count += self._rows_in(line)
                piece = self._buffer[self._pos:self._pos + want - have]
                self._pos += len(piece)
                parts.append(piece)
                have += len(piece)
        except BaseException as e:
            self.error = e  # the driver reports it as a cancelled COPY; keep the cause
            raise
        return "".join(parts)


def _copy_line(table: Table) -> Callable[[Values], str]:
    """Format a row as a COPY text line: NOT NULL integers (most values of a collection)
    go straight into a %-template, only the other columns through their formatters."""
    fields: list[str] = []
    special: list[tuple[int, Callable[[Any], str]]] = []
    for i, column in enumerate(table.columns):
        if isinstance(column.type, Integer) and not column.nullable:
            fields.append("%d")
        else:
            fields.append("%s")
            special.append((i, _copy_formatter(column)))
    template = "\t".join(fields) + "\n"
    width = len(fields)

    def line(row: Values) -> str:
        if len(row) != width:
            raise ValueError(f"{len(row)} values for {width} columns of {table.name}")
        if not special:
            return template % row
        values = list(row)
        for i, fmt in special:
            values[i] = fmt(values[i])
        return template % tuple(values)

    return line


@runtime_checkable
class CopyText(Protocol):
    """Contents that can give a table's rows ready as PostgreSQL COPY text (an uploaded
    file does, formatting them in SQLite), or None to be read as records."""

    def copy_lines(self, table: str, user: int) -> Iterator[str | None] | None:
        """The table's rows as COPY text; a None among them ends them: some row is not
        plainly of its type, and the table must be read as records."""
        ...


class NotPlainRows(Exception):
    """`copy_text` met the None a `CopyText` gives for a row it cannot format."""


@runtime_checkable
class SizedNotes(Protocol):
    """Contents that can tell the size of their biggest note (an uploaded file)."""

    def largest_note_bytes(self) -> int: ...


@runtime_checkable
class SqliteRows(Protocol):
    """Contents held in an SQLite file (an upload) whose record rows a SQLite database
    can read itself: `sqlite_select` gives a table's SELECT list, or None to be read as
    records."""

    path: Path

    def sqlite_select(self, table: str) -> str | None: ...


# The uploaded file, attached to the SQLite backend's connection while it is read. SQLite
# cannot detach a file read in the open transaction: it is detached after the commit.
ATTACHED = "ankiserv_upload"


def insert_from_file(conn: Connection, table: Table, user: int, path: Path,
                     select: str) -> int:
    """Copy `table`'s rows from the SQLite file at `path` (columns `select`, the user's
    id in front) into the same table of this SQLite database; return the count."""
    raw = conn.connection.driver_connection
    assert raw is not None
    attached = {str(r[1]): str(r[2]) for r in raw.execute("PRAGMA database_list")}
    if attached.get(ATTACHED) != str(path):
        if ATTACHED in attached:
            raw.execute(f"DETACH DATABASE {ATTACHED}")
        raw.execute(f"ATTACH DATABASE ? AS {ATTACHED}", (str(path),))
    sql = f"INSERT INTO main.{_target(conn, table)} SELECT ?, {select} FROM {ATTACHED}.{table.name}"
    with observed(sql):
        cursor = raw.execute(sql, (user,))
    return int(cursor.rowcount)


def detach_file(conn: Connection) -> None:
    """Let go of a file `insert_from_file` attached (outside any transaction)."""
    raw = conn.connection.driver_connection
    if raw is not None and any(r[1] == ATTACHED for r in raw.execute("PRAGMA database_list")):
        raw.execute(f"DETACH DATABASE {ATTACHED}")


def copy_text(conn: Connection, table: Table, lines: Iterator[str | None]) -> int:
    """COPY text (whole lines, any number per string) into `table`; return the count.
    A None among the lines raises `NotPlainRows` (what was copied stays in the aborted
    transaction, for the caller to roll back to a savepoint)."""

    def checked() -> Iterator[str]:
        for chunk in lines:
            if chunk is None:
                raise NotPlainRows(table.name)
            yield chunk

    return _run_copy(conn, table, _CopySource(checked(), lambda chunk: chunk.count("\n")))


def _copy(conn: Connection, table: Table, rows: Iterable[Values]) -> int:
    line = _copy_line(table)

    def lines() -> Iterator[str]:
        for row in rows:
            yield line(row)

    return _run_copy(conn, table, _CopySource(lines()))


def _run_copy(conn: Connection, table: Table, source: _CopySource) -> int:
    sql = f"COPY {_target(conn, table)} FROM STDIN"

    def copy(cursor: Any) -> None:
        try:
            with observed(sql):
                cursor.copy_expert(sql, source, size=1 << 16)
        except Exception:
            if source.error is not None:
                raise source.error from None  # e.g. UploadRejected from the file being read
            raise

    run_raw(conn, copy)
    return source.count
