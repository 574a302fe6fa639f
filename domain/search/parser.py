"""Parse Anki's search syntax into nodes, following the rules of Anki's own parser.

Terms are separated by spaces and joined by an implicit `and`; `and`/`or` (any ASCII
case) join explicitly, and `and` binds tighter than `or`, as in the SQL Anki builds.
`-` negates a term or a parenthesised group. Double quotes make one term of text with
spaces or parentheses, either whole (`"deck:a b"`) or after the colon (`deck:"a b"`);
single quotes are ordinary characters, as in Anki. A backslash escapes `"`, `:`, `(`,
`)`, `-` for the parser, and `\\`, `*`, `_` for the matcher.
"""

from __future__ import annotations

import re
from enum import Enum

from domain.search import nodes as n
from domain.search.errors import SearchError
from domain.search.escapes import unescape
from domain.search.regex_classes import WHITE_SPACE
from domain.search.terms import leaf_for

_WHITE_SPACE = re.compile("[" + re.escape("".join(sorted(WHITE_SPACE))) + "]")
_SPACES = " \u3000"
MAX_NESTING = 64  # parentheses; deeper would exhaust Python's recursion limit


class _Join(Enum):
    AND = "and"
    OR = "or"


_Item = n.Node | _Join


class _Scan(Enum):
    """Why a run of possibly escaped characters could not be read."""

    EMPTY = 0  # it starts with a stop character
    TRAILING_BACKSLASH = 1
    BAD_ESCAPE = 2  # a backslash before a space


def parse(text: str) -> n.Node:
    """Parse a search; the empty search matches everything.

    Raises:
        SearchError: the text is not a valid search, or asks for an unsupported kind.
    """
    normalized = _WHITE_SPACE.sub(" ", text).strip(" ")
    if not normalized:
        return n.Everything()
    items, end = _Parser(normalized).group_inner(0)
    if end < len(normalized):
        raise SearchError("unbalanced parentheses: a ')' has no matching '('")
    return _combine(items)


def _combine(items: list[_Item]) -> n.Node:
    """Resolve `and`/`or` between the items, `and` first."""
    alternatives: list[list[n.Node]] = [[]]
    for item in items:
        if item is _Join.OR:
            alternatives.append([])
        elif not isinstance(item, _Join):
            alternatives[-1].append(item)
    terms = [run[0] if len(run) == 1 else n.And(tuple(run)) for run in alternatives]
    return terms[0] if len(terms) == 1 else n.Or(tuple(terms))


def _misplaced(join: _Join) -> SearchError:
    return SearchError(f"'{join.value}' must stand between two searches")


class _Parser:
    """Each method reads from a position and returns (result, next position), or None
    when nothing of its kind starts there (the caller then tries another kind)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.depth = 0

    def skip_spaces(self, pos: int) -> int:
        while pos < len(self.text) and self.text[pos] in _SPACES:
            pos += 1
        return pos

    def group_inner(self, pos: int) -> tuple[list[_Item], int]:
        items: list[_Item] = []
        while (found := self.node(pos)) is not None:
            item, pos = found
            if len(items) % 2 == 0 and isinstance(item, _Join):
                raise _misplaced(item)
            if len(items) % 2 == 1 and not isinstance(item, _Join):
                items.append(_Join.AND)
            items.append(item)
        if items and isinstance(items[-1], _Join):
            raise _misplaced(items[-1])
        return items, self.skip_spaces(pos)

    def node(self, pos: int) -> tuple[_Item, int] | None:
        pos = self.skip_spaces(pos)
        if self.text.startswith("-", pos):
            group = self.group(pos + 1)
            if group is not None:
                return n.Not(group[0]), group[1]
            term = self.term(pos + 1)
            if term is not None:
                return _negated_term(term[0]), term[1]
        return self.group(pos) or self.term(pos)

    def group(self, pos: int) -> tuple[n.Node, int] | None:
        if not self.text.startswith("(", pos):
            return None
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise SearchError(f"parentheses nest too deeply: at most {MAX_NESTING} levels")
        items, end = self.group_inner(pos + 1)
        self.depth -= 1
        if not self.text.startswith(")", end):
            raise SearchError("unbalanced parentheses: a '(' is never closed")
        if not items:
            raise SearchError("empty parentheses: '()' must hold a search")
        return _combine(items), end + 1

    def term(self, pos: int) -> tuple[_Item, int] | None:
        return self.quoted_term(pos) or self.partly_quoted_term(pos) or self.unquoted_term(pos)

    def scan(self, pos: int, stops: str, escapable: str | None) -> int | _Scan:
        """Read up to a stop character; a backslash takes the next character along
        (any one if `escapable` is None, else one not in `escapable`)."""
        i = pos
        while i < len(self.text):
            char = self.text[i]
            if char == "\\":
                if i + 1 == len(self.text):
                    return _Scan.TRAILING_BACKSLASH
                if escapable is not None and self.text[i + 1] in escapable:
                    return _Scan.BAD_ESCAPE
                i += 2
            elif char in stops:
                return _Scan.EMPTY if i == pos else i
            else:
                i += 1
        return i

    def quoted(self, pos: int) -> tuple[str, int] | None:
        """Text between double quotes, escapes kept."""
        if not self.text.startswith('"', pos):
            return None
        end = self.scan(pos + 1, '"', None)
        if end is _Scan.EMPTY:
            raise SearchError('empty quotes: \'""\' must hold text')
        if isinstance(end, _Scan) or not self.text.startswith('"', end):
            raise SearchError("unbalanced quotes: a '\"' is never closed")
        return self.text[pos + 1 : end], end + 1

    def quoted_term(self, pos: int) -> tuple[_Item, int] | None:
        found = self.quoted(pos)
        return None if found is None else (_leaf(found[0]), found[1])

    def partly_quoted_term(self, pos: int) -> tuple[_Item, int] | None:
        key_end = self.scan(pos, '"(): \u3000', _SPACES)
        if isinstance(key_end, _Scan):
            return None
        found = self.quoted(key_end + 1) if self.text.startswith(":", key_end) else None
        if found is None:
            return None
        return leaf_for(self.text[pos:key_end], found[0]), found[1]

    def unquoted_term(self, pos: int) -> tuple[_Item, int] | None:
        end = self.scan(pos, '"() \u3000', _SPACES)
        if end is _Scan.EMPTY or end == pos:
            return None
        if end is _Scan.TRAILING_BACKSLASH:
            raise SearchError("a search cannot end in a lone backslash: write \\\\ for one")
        if end is _Scan.BAD_ESCAPE:
            raise SearchError("a backslash cannot escape a space: put the text in quotes")
        assert isinstance(end, int)
        word = self.text[pos:end]
        if word.isascii() and word.lower() in ("and", "or"):
            return _Join(word.lower()), end
        return _leaf(word), end


def _negated_term(node: _Item) -> n.Node:
    """`-term`; for `-sc:x`, Anki's SQL negates only the note type part of the term."""
    if isinstance(node, _Join):
        raise SearchError(f"'-{node.value}' is invalid: '-' cannot negate a join")
    if isinstance(node, n.And) and node.children[:1] == (n.ClozeNotes(),):
        return n.And((n.Not(node.children[0]), *node.children[1:]))
    return n.Not(node)


def _leaf(term: str) -> n.Node:
    """A term without its quotes: `key:value` or plain text."""
    key_end = _Parser(term).scan(0, ":", None)
    if isinstance(key_end, _Scan):
        raise SearchError(f"'{term}' is missing a search kind before ':' (write \\: for a colon)")
    if key_end == len(term):
        return n.Text(unescape(term))
    return leaf_for(term[:key_end], term[key_end + 1 :])
