"""Match a parsed Rust regex in time linear in the text: no backtracking, ever.

The pattern becomes a Thompson automaton (each state tests one character or is a
choice or an assertion). The matcher follows every state at once, one character at a
time, like Rust's own engines, and caches each step from a set of states and a
character to the next set, so after a few characters a step is one dict lookup. The
cost is at most text length times pattern size (patterns are capped at MAX_STATES),
so no pattern can make a search hang as Python's backtracking `re` can.
"""

from __future__ import annotations

from domain.search.errors import SearchError
from domain.search.regex_classes import CharTest, is_word
from domain.search.regex_syntax import Assert, Char, Choice, Concat, Expr, Look, Repeat

MAX_STATES = 20_000
MAX_CACHED_STEPS = 200_000

_CHAR, _SPLIT, _ASSERT, _MATCH = range(4)
_MATCHED, _NO_MATCH = -1, -2  # step results that end a search
# What an assertion needs to know of a neighbouring character.
_EDGE, _NEWLINE, _WORD, _OTHER = range(4)


def _char_class(char: str) -> int:
    if char == "\n":
        return _NEWLINE
    return _WORD if is_word(char) else _OTHER


def _no_char(char: str) -> bool:
    return False


def _look_holds(look: int, before: int, after: int) -> bool:
    word_before, word_after = before == _WORD, after == _WORD
    return {
        Look.TEXT_START: before == _EDGE,
        Look.TEXT_END: after == _EDGE,
        Look.LINE_START: before in (_EDGE, _NEWLINE),
        Look.LINE_END: after in (_EDGE, _NEWLINE),
        Look.WORD: word_before != word_after,
        Look.NOT_WORD: word_before == word_after,
        Look.WORD_START: not word_before and word_after,
        Look.WORD_END: word_before and not word_after,
        Look.WORD_START_HALF: not word_before,
        Look.WORD_END_HALF: not word_after,
    }[look]


class _Builder:
    """Emit states back to front: each expression is built knowing where it continues."""

    def __init__(self) -> None:
        self.kinds: list[int] = []
        self.tests: list[CharTest] = []
        self.looks: list[int] = []
        self.next: list[int] = []
        self.alt: list[int] = []

    def state(self, kind: int, nxt: int, alt: int = -1, test: CharTest = _no_char,
              look: int = -1) -> int:
        if len(self.kinds) >= MAX_STATES:
            raise SearchError("invalid regular expression: it is too large")
        self.kinds.append(kind)
        self.tests.append(test)
        self.looks.append(look)
        self.next.append(nxt)
        self.alt.append(alt)
        return len(self.kinds) - 1

    def build(self, expr: Expr, nxt: int) -> int:
        if isinstance(expr, Char):
            return self.state(_CHAR, nxt, test=expr.test)
        if isinstance(expr, Assert):
            return self.state(_ASSERT, nxt, look=expr.look)
        if isinstance(expr, Concat):
            for item in reversed(expr.items):
                nxt = self.build(item, nxt)
            return nxt
        if isinstance(expr, Choice):
            entries = [self.build(option, nxt) for option in expr.options]
            entry = entries[-1]
            for other in reversed(entries[:-1]):
                entry = self.state(_SPLIT, other, entry)
            return entry
        return self.repeat(expr, nxt)

    def repeat(self, expr: Repeat, nxt: int) -> int:
        if expr.most is None:
            loop = self.state(_SPLIT, -1, nxt)
            self.next[loop] = self.build(expr.item, loop)
            entry = loop
        else:
            entry = nxt
            for _ in range(expr.most - expr.least):
                entry = self.state(_SPLIT, self.build(expr.item, entry), nxt)
        for _ in range(expr.least):
            entry = self.build(expr.item, entry)
        return entry


class RegexMatcher:
    """Search a text for a match anywhere (Rust's `is_match`)."""

    def __init__(self, expr: Expr) -> None:
        builder = _Builder()
        match_state = builder.state(_MATCH, -1)
        self._start = builder.build(expr, match_state)
        self._kinds, self._tests, self._looks = builder.kinds, builder.tests, builder.looks
        self._next, self._alt = builder.next, builder.alt
        # Without word or line assertions, only "at the start or not" matters before a char.
        self._context_free = all(
            look in (-1, Look.TEXT_START, Look.TEXT_END) for look in builder.looks
        )
        self._reset()

    def _reset(self) -> None:
        self._ids: dict[tuple[frozenset[int], int], int] = {}
        self._sets: list[tuple[frozenset[int], int]] = []
        self._steps: list[dict[str, int]] = []
        self._cached = 0
        self._initial = self._intern(frozenset(), _EDGE)

    def _intern(self, states: frozenset[int], before: int) -> int:
        key = (states, before)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self._sets)
            self._sets.append(key)
            self._steps.append({})
        return found

    def search(self, text: str) -> bool:
        current, steps = self._initial, self._steps
        for char in text:
            nxt = steps[current].get(char)
            if nxt is None:
                nxt = self._step(current, char)
                steps = self._steps  # the cache may have been reset
            if nxt == _MATCHED:
                return True
            current = nxt
        end = steps[current].get("")
        return (self._step(current, "") if end is None else end) == _MATCHED

    def _step(self, current: int, char: str) -> int:
        """Follow one character, or the end of the text (""), and cache the step."""
        states, before = self._sets[current]
        after = _EDGE if char == "" else _char_class(char)
        reached, matched = self._closure(states, before, after)
        if matched or char == "":
            result = _MATCHED if matched else _NO_MATCH
        else:
            tests, nxt = self._tests, self._next
            following = frozenset(nxt[s] for s in reached if tests[s](char))
            if self._cached > MAX_CACHED_STEPS:
                self._reset()
            result = self._intern(following, _OTHER if self._context_free else after)
        self._steps[self._intern(states, before)][char] = result
        self._cached += 1
        return result

    def _closure(self, states: frozenset[int], before: int, after: int) -> tuple[list[int], bool]:
        """The character-testing states reachable without input, and whether one matches."""
        pending = [*states, self._start]
        seen: set[int] = set()
        reached: list[int] = []
        while pending:
            state = pending.pop()
            if state in seen:
                continue
            seen.add(state)
            kind = self._kinds[state]
            if kind == _MATCH:
                return reached, True
            if kind == _CHAR:
                reached.append(state)
            elif kind == _SPLIT:
                pending += (self._next[state], self._alt[state])
            elif _look_holds(self._looks[state], before, after):
                pending.append(self._next[state])
        return reached, False
