"""Text columns that keep any Python string exactly, on every backend.

PostgreSQL text cannot hold NUL, which Anki fields occasionally contain. There
(and only there) NUL is stored as U+E000 U+E002 and U+E000 itself as
U+E000 U+E001, a reversible escape; other backends store the string as is,
with no per-value Python overhead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

ESCAPE = "\ue000"
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
        if self.big and dialect.name in ("mysql", "mariadb"):
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
