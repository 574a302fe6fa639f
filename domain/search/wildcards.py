"""Wildcard patterns (SQL LIKE and Anki's globs) matched without backtracking blow-up.

A pattern is fixed-length pieces (literal characters and one-character wildcards)
separated by "any run" wildcards. The first piece must sit at the start, the last at the
end, and each middle piece can take its earliest place, because a run absorbs anything
left before the next piece. So each piece is found once, by a regex with no repetition,
and matching is linear in the text for a given pattern, whatever the user typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ANY_ONE = object()  # a one-character wildcard
ANY_RUN = object()  # a wildcard for any run of characters, maybe empty

Token = str | object

# SQLite's LIKE folds ASCII letters only; Anki's regex-based globs fold all of Unicode.
LIKE_FLAGS = re.IGNORECASE | re.ASCII | re.DOTALL
GLOB_FLAGS = re.IGNORECASE | re.DOTALL


@dataclass(frozen=True, slots=True)
class _Piece:
    regex: re.Pattern[str]
    length: int


def _piece(tokens: list[Token], flags: int) -> _Piece:
    source = "".join("." if t is ANY_ONE else re.escape(str(t)) for t in tokens)
    return _Piece(re.compile(source, flags), len(tokens))


class Wildcard:
    """A compiled pattern; `matches` tests the whole of `text[start:end]`."""

    __slots__ = ("_first", "_last", "_middle", "_whole")

    def __init__(self, tokens: list[Token], flags: int, never: bool = False) -> None:
        pieces: list[list[Token]] = [[]]
        for token in tokens:
            if token is ANY_RUN:
                pieces.append([])
            else:
                pieces[-1].append(token)
        compiled = [_piece(p, flags) for p in pieces]
        self._whole = compiled[0] if len(compiled) == 1 else None
        if never:
            self._whole = _Piece(re.compile("(?!)"), 0)
        self._first, self._last = compiled[0], compiled[-1]
        self._middle = [p for p in compiled[1:-1] if p.length]

    def matches(self, text: str, start: int = 0, end: int | None = None) -> bool:
        end = len(text) if end is None else end
        if self._whole is not None:
            return self._whole.regex.fullmatch(text, start, end) is not None
        pos, tail = start + self._first.length, end - self._last.length
        if tail < pos:
            return False
        if self._first.length and self._first.regex.match(text, start, end) is None:
            return False
        if self._last.length and self._last.regex.match(text, tail, end) is None:
            return False
        for piece in self._middle:
            found = piece.regex.search(text, pos, tail)
            if found is None:
                return False
            pos = found.end()
        return True


def like(pattern: str) -> Wildcard:
    r"""Compile an SQL LIKE pattern with escape character `\`, as SQLite matches it."""
    tokens: list[Token] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 == len(pattern):
                return _NEVER  # SQLite: a pattern ending in its escape matches nothing
            tokens.append(pattern[i + 1])
            i += 2
            continue
        tokens.append(ANY_RUN if char == "%" else ANY_ONE if char == "_" else char)
        i += 1
    return Wildcard(tokens, LIKE_FLAGS)


def glob_tokens(text: str) -> list[Token]:
    r"""Read Anki's wildcard text: `*` and `_` are wildcards, `\\` `\*` `\_` literals."""
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair in ("\\\\", "\\*", "\\_"):
            tokens.append(pair[1])
            i += 2
            continue
        char = text[i]
        tokens.append(ANY_RUN if char == "*" else ANY_ONE if char == "_" else char)
        i += 1
    return tokens


def glob(text: str) -> Wildcard:
    """Compile Anki wildcard text that must match a whole string, ignoring case."""
    return Wildcard(glob_tokens(text), GLOB_FLAGS)


_NEVER = Wildcard([], LIKE_FLAGS, never=True)
