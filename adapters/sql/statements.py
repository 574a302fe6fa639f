"""Hot-path statements: compiled once per dialect, run on the driver's own cursor.

For a small statement SQLAlchemy's execution machinery (cache lookup, parameter and
result objects, events) costs more CPU than the database spends running it, and a sync
request runs a handful of them. A `Statement` is a SQLAlchemy construct compiled once per
dialect into the driver's SQL with positional parameters; `Transaction`s (see
`transaction.py`) run it on the DB-API cursor and apply the column types' bind and
result processing themselves. On PostgreSQL the text is also prepared once per
connection (PREPARE/EXECUTE), which spares the server parsing and planning it again.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import CompoundSelect, Select

Processor = Callable[[Any], Any]
Build = Callable[[str], ClauseElement]

_NUMBERS = itertools.count()
_ALL: list[Statement] = []
_PYFORMAT = re.compile(r"%\((\w+)\)s")
_PG_PARAM = re.compile(r"\$(\d+)")
_FORMAT_TOKEN = re.compile(r"%%|%s")


@dataclass(frozen=True, slots=True)
class Compiled:
    """One statement in one dialect: driver SQL with positional parameters."""

    sql: str
    names: tuple[str, ...]  # the parameter names, in positional order
    binds: tuple[tuple[int, Processor], ...]  # (position, processor) where one applies
    results: tuple[tuple[int, Processor], ...]  # (column, processor) where one applies
    pg_body: str = ""  # PostgreSQL: the text with $1.. placeholders, for PREPARE
    # Values the construct holds itself (e.g. `column == 3`), used unless given.
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        defaults = self.defaults
        values = [params[name] if name in params or name not in defaults else defaults[name]
                  for name in self.names]
        for i, process in self.binds:
            values[i] = process(values[i])
        return values

    def rows(self, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        if not self.results:
            return list(rows)
        out = []
        for row in rows:
            values = list(row)
            for i, process in self.results:
                values[i] = process(values[i])
            out.append(tuple(values))
        return out


class Statement:
    """A statement every request runs; `build(dialect_name)` returns its SQLAlchemy form.

    `tables` names every table it reads or writes: writes that wait to go out together
    (on PostgreSQL) never share a table, so no part of a combined statement depends on
    another part's effect.
    """

    def __init__(self, build: Build, *, tables: Sequence[str]) -> None:
        self.name = f"ankiserv_s{next(_NUMBERS)}"
        self.tables = frozenset(tables)
        self._build = build
        self._compiled: dict[str, Compiled] = {}
        self._lock = threading.Lock()
        _ALL.append(self)

    def compiled(self, dialect: Dialect) -> Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            with self._lock:
                found = self._compiled.get(dialect.name)
                if found is None:
                    found = compile_for(self._build(dialect.name), dialect)
                    self._compiled[dialect.name] = found
        return found


def compile_all(dialect: Dialect) -> None:
    """Compile every statement for `dialect` now, so that a serving process's first
    requests do not pay for it (about half a millisecond each)."""
    for statement in _ALL:
        statement.compiled(dialect)


def compile_for(construct: ClauseElement, dialect: Dialect) -> Compiled:
    """Compile `construct` for `dialect` into positional driver SQL."""
    compiled = cast(SQLCompiler, construct.compile(dialect=dialect))
    if compiled.positional:
        sql, names = compiled.string, tuple(compiled.positiontup or ())
    else:
        # pyformat (psycopg2): turn %(name)s into %s, remembering the order.
        found: list[str] = []

        def positional(match: re.Match[str]) -> str:
            found.append(match.group(1))
            return "%s"

        sql = _PYFORMAT.sub(positional, compiled.string)
        names = tuple(found)
    binds, defaults = [], {}
    for i, name in enumerate(names):
        bind = compiled.binds[name]
        assert not bind.expanding, "hot-path statements take arrays, not expanding IN"
        if not bind.required:
            defaults[name] = bind.effective_value
        process = _bind_processor(bind.type, dialect)
        if process is not None:
            binds.append((i, process))
    results = []
    if isinstance(construct, Select | CompoundSelect):
        for i, column in enumerate(construct.selected_columns):
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                results.append((i, process))
    pg_body = ""
    if dialect.name == "postgresql":
        counter = itertools.count(1)
        pg_body = _FORMAT_TOKEN.sub(
            lambda m: "%" if m.group(0) == "%%" else f"${next(counter)}", sql)
    return Compiled(sql, names, tuple(binds), tuple(results), pg_body, defaults)


def _bind_processor(type_: Any, dialect: Dialect) -> Processor | None:
    """The column type's bind processing. An array of values (PostgreSQL's unnest writes)
    goes as the text of an array literal, its items processed first: the driver's own
    adaptation of a list, value by value, costs more than the statement it feeds."""
    if isinstance(type_, ARRAY):
        item = type_.item_type.dialect_impl(dialect).bind_processor(dialect)
        if item is None:
            return array_literal
        return lambda values: None if values is None else array_literal(map(item, values))
    process: Processor | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return process


def pg_literal(value: Any) -> str:
    """A value as a PostgreSQL SQL literal, for the arguments of EXECUTE: quicker than
    the driver's adaptation of each one. Text is quoted as standard_conforming_strings
    reads it (only ' is special; the caller checks the setting is on); NUL, which no
    PostgreSQL text holds, is refused."""
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is str:
        text: str = value
        if "\x00" in text:
            raise ValueError("PostgreSQL text cannot hold NUL")
        return "'" + text.replace("'", "''") + "'"
    if value is None:
        return "NULL"
    if kind is bool:
        return "true" if value else "false"
    raise TypeError(f"no SQL literal for {kind.__name__}")


def array_literal(values: Iterable[Any] | None) -> str | None:
    """PostgreSQL's text form of a one-dimensional array of numbers, booleans, text or
    NULLs (what CAST(... AS type[]) reads back)."""
    if values is None:
        return None
    return "{" + ",".join(map(_array_item, values)) + "}"


def _array_item(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(value)
    raise TypeError(f"no array literal for {type(value).__name__}")


def combined_body(bodies: Sequence[str]) -> tuple[str, list[int]]:
    """One PostgreSQL statement doing every data-modifying `bodies` (all but the last in
    WITH clauses), placeholders renumbered; return it and each body's offset."""
    parts, offsets, offset = [], [], 0
    for body in bodies:
        offsets.append(offset)
        parts.append(_shifted(body, offset))
        offset += _count_params(body)
    head = ", ".join(f"w{i} AS ({part})" for i, part in enumerate(parts[:-1]))
    return f"WITH {head} {parts[-1]}", offsets


def _shifted(body: str, offset: int) -> str:
    return _PG_PARAM.sub(lambda m: f"${int(m.group(1)) + offset}", body)


def _count_params(body: str) -> int:
    return max((int(n) for n in _PG_PARAM.findall(body)), default=0)
