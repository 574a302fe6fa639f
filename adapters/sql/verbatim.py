"""Text columns that keep any Python string exactly, on every backend.

PostgreSQL text cannot hold NUL, which Anki fields occasionally contain. There
(and only there) NUL is stored as U+E000 U+E002 and U+E000 itself as
U+E000 U+E001, a reversible escape; other backends store the string as is,
with no per-value Python overhead.

Keys (`VerbatimKey`) must also compare exactly. MySQL/MariaDB compare utf8mb4_bin text
with PAD SPACE ('k' = 'k ') and index at most 3072 bytes, so there keys are binary
strings (NO PAD, byte order = code point order) of any length; see `encode_key`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from hashlib import sha256
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

ESCAPE = "\ue000"
MYSQL = ("mysql", "mariadb")
# Bytes of a key in MySQL's primary key (a prefix index): user_id and kind fit beside it.
KEY_PREFIX_BYTES = 3000
_HASH_AT = KEY_PREFIX_BYTES - 33  # a longer key stores 0xFF + its SHA-256 here
_UNESCAPE = re.compile("\ue000([\ue001\ue002])")


def escape_nul(value: str) -> str:
    if "\x00" not in value and ESCAPE not in value:
        return value
    return value.replace(ESCAPE, "\ue000\ue001").replace("\x00", "\ue000\ue002")


def unescape_nul(value: str) -> str:
    if ESCAPE not in value:
        return value
    return _UNESCAPE.sub(lambda m: ESCAPE if m.group(1) == "\ue001" else "\x00", value)


class VerbatimText(TypeDecorator[str]):
    """`String(length)`, or TEXT/MEDIUMTEXT when no length is given."""

    impl = Text
    cache_ok = True

    def __init__(self, length: int | None = None, *, big: bool = False) -> None:
        super().__init__()
        self.length = length
        self.big = big

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if self.length is not None and dialect.name != "postgresql":
            # PostgreSQL needs no length for an indexed key; elsewhere keys are bounded.
            return dialect.type_descriptor(String(self.length))
        if self.big and dialect.name in MYSQL:
            return dialect.type_descriptor(mysql.MEDIUMTEXT())
        return dialect.type_descriptor(Text())

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "postgresql":
            return None
        return lambda value: value if value is None else escape_nul(value)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], Any] | None:
        if dialect.name != "postgresql":
            return None
        return lambda value: value if value is None else unescape_nul(value)


def encode_key(value: str) -> bytes:
    """A key as MySQL stores it: its UTF-8 bytes, so the first KEY_PREFIX_BYTES of it
    identify it. A longer key gets 0xFF (never in UTF-8) and its SHA-256 inserted at
    `_HASH_AT`: the indexed prefix stays unique, and the text before it still sorts."""
    data = value.encode("utf-8")
    if len(data) <= KEY_PREFIX_BYTES:
        return data
    return data[:_HASH_AT] + b"\xff" + sha256(data).digest() + data[_HASH_AT:]


def decode_key(stored: bytes) -> str:
    if len(stored) > KEY_PREFIX_BYTES:
        stored = stored[:_HASH_AT] + stored[_HASH_AT + 33:]
    return stored.decode("utf-8")


class VerbatimKey(VerbatimText):
    """A text key compared exactly: case, accents and trailing spaces count, any length.

    SQLite (binary collation) and PostgreSQL compare text exactly already: there this is
    `VerbatimText(length)`, whose length SQLite ignores. MySQL/MariaDB store LONGBLOB
    (`encode_key`); the migrations index it as `key(KEY_PREFIX_BYTES)`. ORDER BY sorts
    only the first max_sort_length (1024) bytes of a value there: callers that need an
    exact order of keys longer than that sort them again in Python.
    """

    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in MYSQL:
            return dialect.type_descriptor(mysql.LONGBLOB())
        return super().load_dialect_impl(dialect)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name in MYSQL:
            return lambda value: value if value is None else encode_key(value)
        return super().bind_processor(dialect)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], Any] | None:
        if dialect.name in MYSQL:
            return lambda value: value if value is None else decode_key(value)
        return super().result_processor(dialect, coltype)
