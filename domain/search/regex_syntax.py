"""Read a regular expression in the Rust `regex` crate's syntax, which Anki uses.

The result is a small tree of character tests, assertions, repetitions and choices that
`regex_program` turns into an automaton. Syntax Rust rejects (look-around,
backreferences, `\\e`, `x{,3}`...) raises SearchError, as Anki's search fails on it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, replace

from domain.search import regex_classes as classes
from domain.search.errors import SearchError
from domain.search.regex_classes import CharTest
from domain.search.wildcards import ANY_ONE, ANY_RUN, Token

MAX_NESTING = 64  # groups and classes; deeper would exhaust Python's recursion limit
MAX_REPEAT = 1000


class Look:
    """Zero-width assertions."""

    TEXT_START, TEXT_END, LINE_START, LINE_END = 0, 1, 2, 3
    WORD, NOT_WORD, WORD_START, WORD_END, WORD_START_HALF, WORD_END_HALF = 4, 5, 6, 7, 8, 9


@dataclass(frozen=True, slots=True)
class Char:
    test: CharTest


@dataclass(frozen=True, slots=True)
class Assert:
    look: int


@dataclass(frozen=True, slots=True)
class Concat:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Choice:
    options: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Repeat:
    item: Expr
    least: int
    most: int | None


Expr = Char | Assert | Concat | Choice | Repeat


@dataclass(frozen=True, slots=True)
class Flags:
    ignore_case: bool = False
    multi_line: bool = False
    dot_all: bool = False
    verbose: bool = False


_ESCAPED_CHARS = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
_WORD_LOOKS = {
    "start": Look.WORD_START, "end": Look.WORD_END,
    "start-half": Look.WORD_START_HALF, "end-half": Look.WORD_END_HALF,
}


def fail(message: str) -> SearchError:
    return SearchError(f"invalid regular expression: {message}")


def parse_regex(pattern: str, ignore_case: bool) -> Expr:
    """Parse `pattern` as Anki does, with case ignored unless the pattern says `(?-i)`."""
    return _Parser(pattern, Flags(ignore_case=ignore_case)).parse()


def word_expr(tokens: list[Token]) -> Expr:
    """Anki's `w:` regex: the wildcard text between word boundaries, case ignored."""
    items: list[Expr] = [Assert(Look.WORD)]
    for token in tokens:
        if token is ANY_RUN:
            items.append(Repeat(Char(_not_newline), 0, None))
        elif token is ANY_ONE:
            items.append(Char(_not_newline))
        else:
            items.append(Char(classes.literal(str(token), ignore_case=True)))
    return Concat((*items, Assert(Look.WORD)))


def _not_newline(char: str) -> bool:
    return char != "\n"


class _Parser:
    def __init__(self, pattern: str, flags: Flags) -> None:
        self.text, self.pos, self.flags = pattern, 0, flags
        self.depth = 0
        self.names: set[str] = set()

    def parse(self) -> Expr:
        expr = self.alternation()
        if self.pos < len(self.text):
            raise fail("unopened group: ')' without '('")
        return expr

    def peek(self, size: int = 1) -> str:
        return self.text[self.pos : self.pos + size]

    def take(self) -> str:
        if self.pos >= len(self.text):
            raise fail("pattern ends too early")
        char = self.text[self.pos]
        self.pos += 1
        return char

    def skip_verbose(self) -> None:
        while self.flags.verbose and self.pos < len(self.text):
            if self.peek() in classes.WHITE_SPACE:
                self.pos += 1
            elif self.peek() == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end + 1
            else:
                return

    def alternation(self) -> Expr:
        options = [self.concatenation()]
        while self.peek() == "|":
            self.pos += 1
            options.append(self.concatenation())
        return options[0] if len(options) == 1 else Choice(tuple(options))

    def concatenation(self) -> Expr:
        items: list[Expr] = []
        repeatable = False
        while True:
            self.skip_verbose()
            char = self.peek()
            if char in ("", "|", ")"):
                return items[0] if len(items) == 1 else Concat(tuple(items))
            if char in "*+?{":
                if not repeatable:
                    raise fail("repetition operator missing expression")
                items[-1] = self.repetition(items[-1])
                continue
            atom = self.atom()
            repeatable = atom is not None
            if atom is not None:
                items.append(atom)

    def repetition(self, item: Expr) -> Expr:
        char = self.take()
        if char == "{":
            least, most = self.counted()
        else:
            least, most = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        if self.peek() == "?":  # lazy: the same matches for a yes/no search
            self.pos += 1
        return Repeat(item, least, most)

    def counted(self) -> tuple[int, int | None]:
        least = self.decimal()
        most: int | None = least
        if self.peek() == ",":
            self.pos += 1
            most = None if self.peek() == "}" else self.decimal()
        if self.peek() != "}":
            raise fail("unclosed counted repetition")
        self.pos += 1
        if most is not None and most < least:
            raise fail("invalid repetition count range, the start must be <= the end")
        return least, most

    def decimal(self) -> int:
        if self.pos >= len(self.text):
            raise fail("unclosed counted repetition")
        start = self.pos
        while self.peek().isascii() and self.peek().isdigit():
            self.pos += 1
        if start == self.pos:
            raise fail("repetition quantifier expects a valid decimal")
        value = int(self.text[start : self.pos])
        if value > MAX_REPEAT:
            raise fail(f"repetition counts above {MAX_REPEAT} are not supported")
        return value

    def atom(self) -> Expr | None:
        char = self.take()
        if char == "(":
            return self.group()
        if char == "[":
            return self.bracket_class()
        if char == ".":
            dot_all = self.flags.dot_all
            return Char(lambda c: True) if dot_all else Char(_not_newline)
        if char in "^$":
            multi = self.flags.multi_line
            if char == "^":
                return Assert(Look.LINE_START if multi else Look.TEXT_START)
            return Assert(Look.LINE_END if multi else Look.TEXT_END)
        if char == "\\":
            return self.escape(in_class=False)
        return Char(classes.literal(char, self.flags.ignore_case))

    def group(self) -> Expr | None:
        if self.peek() != "?":
            return self.group_body(self.flags)
        self.pos += 1
        if self.peek(2) == "P<" or (self.peek() == "<" and self.peek(2)[1:] not in "=!"):
            self.pos += 2 if self.peek() == "P" else 1
            self.group_name()
            return self.group_body(self.flags)
        if self.peek() in ("=", "!", "<"):
            raise fail("look-around, including look-ahead and look-behind, is not supported")
        flags = self.flag_changes()
        if self.take() == ")":
            self.flags = flags
            return None
        return self.group_body(flags)

    def group_body(self, flags: Flags) -> Expr:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise fail("groups nest too deeply")
        outer, self.flags = self.flags, flags
        expr = self.alternation()
        if self.peek() != ")":
            raise fail("unclosed group: '(' without ')'")
        self.pos += 1
        self.flags, self.depth = outer, self.depth - 1
        return expr

    def group_name(self) -> None:
        end = self.text.find(">", self.pos)
        name = self.text[self.pos : end] if end >= 0 else ""
        if end < 0 or not name or not all(c.isalnum() or c in "_.[]" for c in name):
            raise fail("invalid capture group name")
        if name in self.names:
            raise fail("duplicate capture group name")
        self.names.add(name)
        self.pos = end + 1

    def flag_changes(self) -> Flags:
        flags, negate, seen = self.flags, False, ""
        while self.peek() not in (":", ")"):
            char = self.take()
            if char == "-" and not negate:
                negate, seen = True, seen + char
                continue
            if char in seen:
                raise fail("duplicate flag")
            seen += char
            flags = _with_flag(flags, char, not negate)
        if not seen and self.peek() == ")":
            raise fail("repetition operator missing expression")
        if seen.endswith("-"):
            raise fail("dangling flag negation operator")
        return flags

    def escape(self, in_class: bool) -> Expr:
        char = self.take()
        if char in "dDwWsS":
            test = classes.PERL_CLASSES[char.lower()]
            return Char(test if char.islower() else _negated(test))
        if char in "pP":
            test = classes.unicode_class(self.unicode_class_name())
            test = classes.ignoring_case(test) if self.flags.ignore_case else test
            return Char(test if char == "p" else _negated(test))
        if char in "bBAz<>":
            if in_class:
                raise fail("assertions are not allowed in a character class")
            return Assert(self.escaped_look(char))
        return Char(classes.literal(self.escaped_char(char), self.flags.ignore_case))

    def unicode_class_name(self) -> str:
        if self.peek() != "{":
            return self.take()
        end = self.text.find("}", self.pos)
        if end < 0:
            raise fail("unclosed Unicode class name")
        name = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return name

    def escaped_look(self, char: str) -> int:
        after_brace = self.peek(2)[1:]
        # `\b{start}` names a boundary; `\b{2}` repeats a plain `\b`.
        if char == "b" and self.peek() == "{" and (after_brace.isalpha() or after_brace == "-"):
            end = self.text.find("}", self.pos)
            name = self.text[self.pos + 1 : end] if end >= 0 else ""
            if name not in _WORD_LOOKS:
                raise fail("unrecognized word boundary assertion")
            self.pos = end + 1
            return _WORD_LOOKS[name]
        return {
            "b": Look.WORD, "B": Look.NOT_WORD, "A": Look.TEXT_START, "z": Look.TEXT_END,
            "<": Look.WORD_START, ">": Look.WORD_END,
        }[char]

    def escaped_char(self, char: str) -> str:
        if char in _ESCAPED_CHARS:
            return _ESCAPED_CHARS[char]
        if char in "xuU":
            return self.hex_char(char)
        if char.isdigit():
            raise fail("backreferences are not supported")
        if char.isascii() and not char.isalnum():
            return char  # Rust lets any ASCII punctuation or space be escaped
        raise fail(f"unrecognized escape sequence \\{char}")

    def hex_char(self, kind: str) -> str:
        if self.peek() == "{":
            end = self.text.find("}", self.pos)
            digits = self.text[self.pos + 1 : end] if end >= 0 else ""
            self.pos = end + 1 if end >= 0 else self.pos
        else:
            width = {"x": 2, "u": 4, "U": 8}[kind]
            digits = self.text[self.pos : self.pos + width]
            digits = digits if len(digits) == width else ""
            self.pos += len(digits)
        valid = 0 < len(digits) <= 8 and all(c in string.hexdigits for c in digits)
        code = int(digits, 16) if valid else -1
        if not 0 <= code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise fail("invalid hexadecimal escape")
        return chr(code)

    def bracket_class(self) -> Expr:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise fail("character classes nest too deeply")
        negated = self.peek() == "^"
        self.pos += negated
        test = self.class_set()
        if self.peek() != "]":
            raise fail("unclosed character class")
        self.pos += 1
        self.depth -= 1
        test = classes.ignoring_case(test) if self.flags.ignore_case else test
        return Char(_negated(test) if negated else test)

    def class_set(self) -> CharTest:
        test = self.class_union(first=True)
        while self.peek(2) in ("&&", "--", "~~"):
            operator = self.text[self.pos : self.pos + 2]
            self.pos += 2
            test = _combine(operator, test, self.class_union(first=False))
        return test

    def class_union(self, first: bool) -> CharTest:
        tests: list[CharTest] = []
        while True:
            self.skip_verbose()
            if self.pos >= len(self.text):
                raise fail("unclosed character class")
            at_start = first and not tests
            if (self.peek() == "]" and not at_start) or self.peek(2) in ("&&", "--", "~~"):
                return _union(tests)
            tests.append(self.class_item())

    def class_item(self) -> CharTest:
        if self.peek() == "[":
            posix = self.posix_item()
            if posix is not None:
                return posix
            self.pos += 1
            nested = self.bracket_class()
            assert isinstance(nested, Char)
            return nested.test
        low = self.class_char()
        is_range = self.peek() == "-" and self.peek(2) not in ("-]", "--", "-")
        if isinstance(low, str) and is_range:
            self.pos += 1
            high = self.class_char()
            if not isinstance(high, str) or high < low:
                raise fail("invalid character class range")
            return lambda c: low <= c <= high
        return (lambda c: c == low) if isinstance(low, str) else low

    def posix_item(self) -> CharTest | None:
        if self.peek(2) != "[:":
            return None
        end = self.text.find(":]", self.pos + 2)
        if end < 0:
            return None
        name = self.text[self.pos + 2 : end]
        self.pos = end + 2
        test = classes.posix_class(name.removeprefix("^"))
        return _negated(test) if name.startswith("^") else test

    def class_char(self) -> str | CharTest:
        char = self.take()
        if char != "\\":
            return char
        escaped = self.take()
        if escaped in "dDwWsSpP":
            self.pos -= 1
            expr = self.escape(in_class=True)
            assert isinstance(expr, Char)
            return expr.test
        if escaped in "bBAz<>":
            raise fail("assertions are not allowed in a character class")
        return self.escaped_char(escaped)


def _with_flag(flags: Flags, flag: str, on: bool) -> Flags:
    if flag == "u" and on:
        return flags  # Unicode mode is already on
    if flag == "U":
        return flags  # greediness does not change whether a text matches
    names = {"i": "ignore_case", "m": "multi_line", "s": "dot_all", "x": "verbose"}
    if flag not in names:
        raise fail(f"flag {flag!r} is not supported (only i, m, s, x and U are)")
    return replace(flags, **{names[flag]: on})


def _negated(test: CharTest) -> CharTest:
    return lambda c: not test(c)


def _union(tests: list[CharTest]) -> CharTest:
    if len(tests) == 1:
        return tests[0]
    return lambda c: any(test(c) for test in tests)


def _combine(operator: str, left: CharTest, right: CharTest) -> CharTest:
    if operator == "&&":
        return lambda c: left(c) and right(c)
    if operator == "--":
        return lambda c: left(c) and not right(c)
    return lambda c: left(c) != right(c)
