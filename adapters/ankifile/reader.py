"""Read an uploaded collection file (schema 11 or 18) as `CollectionContents`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from adapters.ankifile import schema18
from adapters.ankifile.sqlite_file import open_checked, table_names
from domain.errors import CORRUPT_UPLOAD_MESSAGE, UploadRejected
from domain.model import (
    Card,
    CollectionMeta,
    ConfigEntry,
    Grave,
    GraveKind,
    JsonObject,
    Note,
    RevlogEntry,
    Tag,
)

T = TypeVar("T")
SCHEMA_LEGACY = 11
SCHEMA_CURRENT = 18
ROW_TABLES = {"col", "notes", "cards", "revlog", "graves"}
SCHEMA18_TABLES = ROW_TABLES | {
    "config", "deck_config", "tags", "notetypes", "fields", "templates", "decks"
}


_NOTE_COLUMNS = ("id", "guid", "mid", "mod", "usn", "tags", "flds", "sfld", "csum", "flags",
                 "data")
_CARD_INTS = ("id", "nid", "did", "ord", "mod", "usn", "type", "queue", "due", "ivl",
              "factor", "reps", "lapses", "left", "odue", "odid", "flags")
_REVLOG_INTS = ("id", "cid", "usn", "ease", "ivl", "lastIvl", "factor", "time", "type")
_TEXTS = ("guid", "tags", "flds", "data")
# The columns of each record table, in the record's field order, and their kinds: "sort"
# is notes.sfld, which Anki declares integer, so numeric sort fields are stored as
# integers (`as_text` reads them as their decimal text, and so does SQLite's cast).
_RECORD_COLUMNS = {
    "notes": tuple((c, "text" if c in _TEXTS else "sort" if c == "sfld" else "int")
                   for c in _NOTE_COLUMNS),
    "cards": (*((c, "int") for c in _CARD_INTS), ("data", "text")),
    "revlog": tuple((c, "int") for c in _REVLOG_INTS),
}
# Text without NUL (cut short by SQLite's functions) or U+E000 (which ankiserv's stored
# text escapes on PostgreSQL) goes into COPY with COPY's own escapes done by replace().
_PLAIN_TEXT = ("(typeof({c}) = 'text' AND instr(CAST({c} AS BLOB), x'00') = 0"
               " AND instr({c}, char(57344)) = 0)")
_PLAIN = {
    "int": "typeof({c}) = 'integer'",
    "text": _PLAIN_TEXT,
    "sort": f"(typeof({{c}}) = 'integer' OR {_PLAIN_TEXT})",
}
_ESCAPED = ("replace(replace(replace(replace({c}, '\\', '\\\\'), char(9), '\\t'),"
            " char(10), '\\n'), char(13), '\\r')")
# Most text needs none of COPY's escapes: looking costs less than four replace() copies.
_COPY_TEXT = ("CASE WHEN instr({c}, '\\') OR instr({c}, char(9)) OR instr({c}, char(10))"
              " OR instr({c}, char(13)) THEN " + _ESCAPED + " ELSE {c} END")
_TYPED = {"int": "typeof({c}) = 'integer'", "text": "typeof({c}) = 'text'",
          "sort": "typeof({c}) IN ('integer', 'text')"}
_AS_COPY = {"int": "{c}", "text": _COPY_TEXT,
            "sort": _COPY_TEXT.replace("{c}", "CAST({c} AS TEXT)")}


def _typed_select(columns: tuple[tuple[str, str], ...]) -> str:
    """The SELECT list of a record table whose values are all of their kind (numeric sort
    fields read as their decimal text)."""
    return ", ".join(f'CAST("{c}" AS TEXT)' if kind == "sort" else f'"{c}"'
                     for c, kind in columns)


def _condition(table: str, conditions: dict[str, str], also: str = "") -> str:
    """SQL true for a row of `table` whose every value meets the condition for its
    column's kind in `conditions` (and that meets `also`)."""
    return " AND ".join([*(conditions[kind].format(c=f'"{c}"')
                           for c, kind in _RECORD_COLUMNS[table]), *([also] if also else [])])


def _true(*_values: object) -> int:
    return 1


def _corrupt() -> UploadRejected:
    return UploadRejected(CORRUPT_UPLOAD_MESSAGE)


INT64 = 2**63


def as_int(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer() and -INT64 <= value < INT64:
        return int(value)
    raise _corrupt()


def as_text(value: Any) -> str:
    if type(value) is str:
        return value
    if type(value) is bytes:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise _corrupt() from None
    if type(value) is int or type(value) is float:
        return repr(value)
    raise _corrupt()


def _note(r: tuple[Any, ...]) -> Note:
    return Note(id=as_int(r[0]), guid=as_text(r[1]), mid=as_int(r[2]), mod=as_int(r[3]),
                usn=as_int(r[4]), tags=as_text(r[5]), flds=as_text(r[6]), sfld=as_text(r[7]),
                csum=as_int(r[8]), flags=as_int(r[9]), data=as_text(r[10]))


def _card(r: tuple[Any, ...]) -> Card:
    i = [as_int(v) for v in r[:17]]
    return Card(id=i[0], nid=i[1], did=i[2], ord=i[3], mod=i[4], usn=i[5], type=i[6],
                queue=i[7], due=i[8], ivl=i[9], factor=i[10], reps=i[11], lapses=i[12],
                left=i[13], odue=i[14], odid=i[15], flags=i[16], data=as_text(r[17]))


def _revlog(r: tuple[Any, ...]) -> RevlogEntry:
    return RevlogEntry(*(as_int(v) for v in r))


def _grave(r: tuple[Any, ...]) -> Grave:
    kind = as_int(r[1])
    if kind not in (0, 1, 2):
        raise _corrupt()
    return Grave(oid=as_int(r[0]), kind=GraveKind(kind), usn=as_int(r[2]))


class UploadedCollection:
    """A checked upload; every accessor raises `UploadRejected` on malformed data."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._con = open_checked(path)
        try:
            # Handing text to Python decodes it: invalid UTF-8 makes the call fail.
            self._con.create_function("decodes", -1, _true, deterministic=True)
            self._meta, self._col = self._read_col()
        except BaseException:
            self._con.close()
            raise

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> UploadedCollection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def schema(self) -> int:
        return self._meta.ver

    def meta(self) -> CollectionMeta:
        return self._meta

    def notes(self) -> Iterator[Note]:
        return self._typed_rows("notes", Note._make, _note)

    def cards(self) -> Iterator[Card]:
        return self._typed_rows("cards", Card._make, _card)

    def revlog(self) -> Iterator[RevlogEntry]:
        return self._typed_rows("revlog", RevlogEntry._make, _revlog)

    def copy_lines(self, table: str, user: int) -> Iterator[str | None] | None:
        """The rows of `notes`, `cards` or `revlog` as PostgreSQL COPY text lines (the
        user's id first, then the record's fields, as `notes()` and the others give them),
        formatted by SQLite itself: a full upload's rows then never become Python values.
        A row with a value not plainly of its type (NUL, U+E000, a float or blob where
        text or an integer belongs...) comes out as None, and nothing after it: the
        caller then reads that table the checked way. The check rides on the formatting
        query rather than a scan of its own before it, so the database receiving the
        lines need not wait for one. None for another table."""
        columns = _RECORD_COLUMNS.get(table)
        if columns is None:
            return None
        plain = _condition(table, _PLAIN)
        # One printf per row (tab-separated, newline-ended): SQLite's || would copy the
        # growing line once per column.
        template = "\t".join(["%d", *("%d" if kind == "int" else "%s" for _, kind in columns)])
        values = ", ".join(_AS_COPY[kind].format(c=f'"{c}"') for c, kind in columns)
        return self._lines(f"SELECT CASE WHEN {plain} THEN printf('{template}\n', {int(user)},"
                           f" {values}) END FROM {table}")

    def largest_note_bytes(self) -> int:
        """The size of the biggest note's text (what a database must take in one
        statement to store it)."""
        parts = " + ".join(f'length(CAST("{c}" AS BLOB))' for c in _NOTE_COLUMNS
                           if c in _TEXTS or c == "sfld")
        try:
            found = self._con.execute(f"SELECT max({parts}) FROM notes").fetchone()[0]
        except sqlite3.Error:
            raise _corrupt() from None
        return int(found or 0)

    def sqlite_select(self, table: str) -> str | None:
        """The columns of `notes`, `cards` or `revlog` in the record's field order, as a
        SELECT list another SQLite database can read this file's rows with (attached):
        the rows then never become Python values. None unless every value is of its
        kind and all text is valid UTF-8 (what reading them as records would check)."""
        columns = _RECORD_COLUMNS.get(table)
        if columns is None:
            return None
        texts = ", ".join(f'"{c}"' for c, kind in columns if kind != "int")
        try:
            if self._has_odd(table, _TYPED, also=f"decodes({texts})" if texts else ""):
                return None
        except UploadRejected:  # text that is not UTF-8: the checked way tells what to do
            return None
        return _typed_select(columns)

    def _lines(self, sql: str) -> Iterator[str | None]:
        try:
            cursor = self._con.execute(sql)
            while batch := cursor.fetchmany(200):  # well under COPY's 64 KiB reads
                lines = [r[0] for r in batch]
                if None in lines:  # a row that is not plain (see copy_lines)
                    yield None
                    return
                if sum(map(len, lines)) < 1 << 20:
                    yield "".join(lines)
                else:  # big rows (long fields): one at a time, memory stays bounded
                    yield from lines
        except sqlite3.Error:  # e.g. text that is not UTF-8
            raise _corrupt() from None

    def _typed_rows(self, table: str, make: Callable[[tuple[Any, ...]], T],
                    convert: Callable[[tuple[Any, ...]], T]) -> Iterator[T]:
        """Rows of a record table. When one query finds every value already of its type
        (a file Anki wrote), rows become records as they are (numeric sort fields cast to
        text by SQLite); otherwise each value is checked and converted (`convert`)."""
        columns = _RECORD_COLUMNS[table]
        if self._has_odd(table, _TYPED):
            quoted = ", ".join(f'"{c}"' for c, _ in columns)
            return self._rows(f"SELECT {quoted} FROM {table}", convert)
        return self._rows(f"SELECT {_typed_select(columns)} FROM {table}", make)

    def _has_odd(self, table: str, conditions: dict[str, str], also: str = "") -> bool:
        """Whether some row of `table` has a value failing the condition for its column's
        kind in `conditions` (or the condition `also`)."""
        plain = _condition(table, conditions, also)
        try:
            odd = self._con.execute(
                f"SELECT EXISTS(SELECT 1 FROM {table} WHERE NOT ({plain}))").fetchone()[0]
        except sqlite3.Error:
            raise _corrupt() from None
        return bool(odd)

    def graves(self) -> Iterator[Grave]:
        # Schema 11 has no key on graves, so duplicates are possible there.
        return self._rows(
            "SELECT oid, type, max(usn) FROM graves GROUP BY oid, type", _grave
        )

    def notetypes(self) -> Iterator[JsonObject]:
        if self.schema == SCHEMA_LEGACY:
            return self._legacy_objects(self._col["models"])
        return self._guard(self._schema18_notetypes())

    def decks(self) -> Iterator[JsonObject]:
        if self.schema == SCHEMA_LEGACY:
            return self._legacy_objects(self._col["decks"])
        return self._rows(
            "SELECT id, name, mtime_secs, usn, common, kind FROM decks",
            lambda r: _object(schema18.deck_json(*_keys(r), _blob(r[4]), _blob(r[5]))),
        )

    def deck_configs(self) -> Iterator[JsonObject]:
        if self.schema == SCHEMA_LEGACY:
            return self._legacy_objects(self._col["dconf"])
        return self._rows(
            "SELECT id, name, mtime_secs, usn, config FROM deck_config",
            lambda r: _object(schema18.deck_config_json(*_keys(r), _blob(r[4]))),
        )

    def config(self) -> Iterator[ConfigEntry]:
        if self.schema == SCHEMA_LEGACY:
            conf = _json_dict(self._col["conf"])
            return iter([ConfigEntry(key=k, usn=0, mtime=0, json=json.dumps(v))
                         for k, v in conf.items()])
        return self._rows(
            "SELECT KEY, usn, mtime_secs, val FROM config",
            lambda r: ConfigEntry(key=as_text(r[0]), usn=as_int(r[1]), mtime=as_int(r[2]),
                                  json=_json_text(r[3])),
        )

    def tags(self) -> Iterator[Tag]:
        if self.schema == SCHEMA_LEGACY:
            tags = _json_dict(self._col["tags"])
            return iter([Tag(name=str(k), usn=_int_value(v)) for k, v in tags.items()])
        return self._rows(
            "SELECT tag, usn, collapsed FROM tags",
            lambda r: Tag(name=as_text(r[0]), usn=as_int(r[1]), collapsed=bool(r[2])),
        )

    def _read_col(self) -> tuple[CollectionMeta, dict[str, Any]]:
        try:
            names = table_names(self._con)
            row = self._con.execute(
                "SELECT crt, mod, scm, ver, dty, usn, ls, conf, models, decks, dconf, tags"
                " FROM col"
            ).fetchall()
        except sqlite3.Error:
            raise _corrupt() from None
        if len(row) != 1:
            raise _corrupt()
        r = row[0]
        meta = CollectionMeta(*(as_int(v) for v in r[:7]))
        required = ROW_TABLES if meta.ver == SCHEMA_LEGACY else SCHEMA18_TABLES
        if meta.ver not in (SCHEMA_LEGACY, SCHEMA_CURRENT) or not required <= names:
            raise _corrupt()
        keys = ("conf", "models", "decks", "dconf", "tags")
        return meta, dict(zip(keys, (as_text(v) for v in r[7:]), strict=True))

    def _schema18_notetypes(self) -> Iterator[JsonObject]:
        fields: dict[int, list[tuple[int, str, bytes]]] = {}
        for ntid, ord_, name, config in self._con.execute(
            "SELECT ntid, ord, name, config FROM fields ORDER BY ntid, ord"
        ):
            fields.setdefault(as_int(ntid), []).append((as_int(ord_), as_text(name),
                                                        _blob(config)))
        templates: dict[int, list[tuple[int, str, int, int, bytes]]] = {}
        for ntid, ord_, name, mtime, usn, config in self._con.execute(
            "SELECT ntid, ord, name, mtime_secs, usn, config FROM templates ORDER BY ntid, ord"
        ):
            templates.setdefault(as_int(ntid), []).append(
                (as_int(ord_), as_text(name), as_int(mtime), as_int(usn), _blob(config))
            )
        for r in self._con.execute("SELECT id, name, mtime_secs, usn, config FROM notetypes"):
            ntid, name, mtime, usn = _keys(r)
            yield _object(schema18.notetype_json(
                ntid, name, mtime, usn, _blob(r[4]), fields.get(ntid, []), templates.get(ntid, [])
            ))

    def _legacy_objects(self, text: str) -> Iterator[JsonObject]:
        objects = [_object(obj) for obj in _json_dict(text).values()]
        if len({o.id for o in objects}) != len(objects):
            raise _corrupt()
        return iter(objects)

    def _rows(self, sql: str, convert: Callable[[tuple[Any, ...]], T]) -> Iterator[T]:
        try:
            for r in self._con.execute(sql):
                yield convert(r)
        except (sqlite3.Error, schema18.CorruptBlob, ValueError, TypeError, KeyError):
            raise _corrupt() from None

    @staticmethod
    def _guard(items: Iterator[T]) -> Iterator[T]:
        try:
            yield from items
        except (sqlite3.Error, schema18.CorruptBlob, ValueError, TypeError, KeyError):
            raise _corrupt() from None


def _keys(r: tuple[Any, ...]) -> tuple[int, str, int, int]:
    """The (id, name, mtime, usn) columns every schema-18 object table starts with."""
    return as_int(r[0]), as_text(r[1]), as_int(r[2]), as_int(r[3])


def _blob(value: Any) -> bytes:
    if value is None:
        return b""
    if type(value) is bytes:
        return value
    if type(value) is str:
        return value.encode("utf-8")
    raise _corrupt()


def _json_text(value: Any) -> str:
    text = as_text(value)
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        raise _corrupt() from None
    return text


def _json_dict(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except (ValueError, RecursionError):
        raise _corrupt() from None
    if not isinstance(value, dict):
        raise _corrupt()
    return value


def _int_value(value: Any) -> int:
    if isinstance(value, bool):
        raise _corrupt()
    if isinstance(value, str) and value.isascii() and value.lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, int):
        if -INT64 <= value < INT64:
            return value
        raise _corrupt()
    return as_int(value)


def _object(obj: Any) -> JsonObject:
    """Index a schema-11 JSON object; older clients send some numbers as strings."""
    if not isinstance(obj, dict) or "id" not in obj:
        raise _corrupt()
    return JsonObject(
        id=_int_value(obj["id"]),
        name=str(obj.get("name", "")),
        mtime=_int_value(obj.get("mod", 0)),
        usn=_int_value(obj.get("usn", 0)),
        json=json.dumps(obj, ensure_ascii=False, separators=(",", ":")),
    )
