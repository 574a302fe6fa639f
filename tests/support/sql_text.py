"""SQL text as `sql_scope` judges it: values made '?', so statements that differ only by
their values are judged once. No parser here: server processes load this module alone."""

from __future__ import annotations

import hashlib
import re

_STANDARD = r"'(?:[^']|'')*'"
_BACKSLASHED = r"'(?:[^'\\]|\\.|'')*'"  # MySQL's string literals take backslash escapes
_REST = r"""
  |(?P<ident>"(?:[^"]|"")*"|`(?:[^`]|``)*`)
  |(?P<param>%\(\w+\)s|%s|\?|\$\d+)
  |(?P<number>(?<![\w$.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.]))
  |(?P<space>\s+)
"""
_TOKENS = {
    False: re.compile(rf"(?P<string>{_STANDARD}){_REST}", re.X | re.S),
    True: re.compile(rf"(?P<string>{_BACKSLASHED}){_REST}", re.X | re.S),
}
_IN_LIST = re.compile(r"(?i)\bIN \(\?(?:, \?)+\)")
_ROWS = re.compile(r"(\(\?(?:, \?)*\))(?:, \1)+")  # VALUES (?, ?), (?, ?), ... of a batch


def _token(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "space":
        return " "
    if kind == "ident":
        return match.group()
    return "?"


def normalise(sql: str, dialect: str) -> str:
    """`sql` with every literal and placeholder a '?', lists of them one '?', the rows
    of a multi-row VALUES one row, and runs of white space one space."""
    text = _TOKENS[dialect in ("mysql", "mariadb")].sub(_token, sql).strip()
    text = _ROWS.sub(r"\1", text)
    return _IN_LIST.sub("IN (?)", text)


def split(text: str) -> list[str]:
    """The statements of a normalised text (its literals gone, a ';' separates)."""
    return [part.strip() for part in text.split(";") if part.strip()]


_PREPARE = re.compile(r"(?is)PREPARE\s+(\w+)(?:\s*\([^)]*\))?\s+AS\s+(.*)")


def prepared(text: str) -> tuple[str, str] | None:
    """(name, body) of a `PREPARE name AS body` statement."""
    found = _PREPARE.fullmatch(text.strip())
    return (found.group(1), found.group(2)) if found else None


def fingerprint(dialect: str, text: str) -> str:
    """A short digest of a normalised statement of `dialect`."""
    return hashlib.blake2b(f"{dialect}\0{text}".encode(), digest_size=10).hexdigest()
