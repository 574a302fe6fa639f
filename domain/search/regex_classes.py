"""Character tests for Rust regex classes: Perl (`\\d \\w \\s`), Unicode (`\\p{..}`), POSIX."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import lru_cache

from domain.search.errors import SearchError

CharTest = Callable[[str], bool]

# Unicode's White_Space property, which Rust's \s uses (Python's isspace adds \x1c-\x1f,
# and \x1f separates note fields).
WHITE_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
)


@lru_cache(maxsize=8192)
def is_word(char: str) -> bool:
    """Rust's Unicode `\\w`: letters, marks, decimal and letter numbers, connectors."""
    category = unicodedata.category(char)
    return category[0] in "LM" or category in ("Nd", "Nl", "Pc") or char in "\u200c\u200d"


def is_digit(char: str) -> bool:
    return unicodedata.category(char) == "Nd"


def is_space(char: str) -> bool:
    return char in WHITE_SPACE


PERL_CLASSES: dict[str, CharTest] = {"d": is_digit, "w": is_word, "s": is_space}

_CATEGORY_NAMES = {
    "cc": "Cc control", "cf": "Cf format", "cn": "Cn unassigned", "co": "Co privateuse",
    "cs": "Cs surrogate", "ll": "Ll lowercaseletter", "lm": "Lm modifierletter",
    "lo": "Lo otherletter", "lt": "Lt titlecaseletter", "lu": "Lu uppercaseletter",
    "mc": "Mc spacingmark", "me": "Me enclosingmark", "mn": "Mn nonspacingmark",
    "nd": "Nd decimalnumber digit", "nl": "Nl letternumber", "no": "No othernumber",
    "pc": "Pc connectorpunctuation", "pd": "Pd dashpunctuation",
    "pe": "Pe closepunctuation", "pf": "Pf finalpunctuation",
    "pi": "Pi initialpunctuation", "po": "Po otherpunctuation", "ps": "Ps openpunctuation",
    "sc": "Sc currencysymbol", "sk": "Sk modifiersymbol", "sm": "Sm mathsymbol",
    "so": "So othersymbol", "zl": "Zl lineseparator", "zp": "Zp paragraphseparator",
    "zs": "Zs spaceseparator", "c": "C other", "l": "L letter", "m": "M mark combiningmark",
    "n": "N number", "p": "P punctuation punct", "s": "S symbol", "z": "Z separator",
    "lc": "LC casedletter",
}
_CATEGORY_BY_NAME = {
    alias: names.split()[0] for names in _CATEGORY_NAMES.values() for alias in names.lower().split()
}


def _category_test(category: str) -> CharTest:
    if category == "LC":
        return lambda c: unicodedata.category(c) in ("Lu", "Ll", "Lt")
    if len(category) == 1:
        return lambda c: unicodedata.category(c)[0] == category
    return lambda c: unicodedata.category(c) == category


def unicode_class(name: str) -> CharTest:
    r"""The test for `\p{name}`: a general category, `Any` or `ASCII`.

    Raises:
        SearchError: scripts and other properties (`\p{Greek}`), which Rust supports but
            Python's unicodedata cannot tell.
    """
    key = "".join(c for c in name.lower() if c not in " _-")
    for prefix in ("generalcategory=", "gc=", "generalcategory:", "gc:"):
        key = key.removeprefix(prefix)
    if key == "any":
        return lambda c: True
    if key == "ascii":
        return str.isascii
    if key in _CATEGORY_BY_NAME:
        return _category_test(_CATEGORY_BY_NAME[key])
    raise SearchError(
        f"regex class \\p{{{name}}} is not supported: only general categories such as "
        "\\p{L} or \\p{Lu} are (for scripts, use ranges such as [\\x{4E00}-\\x{9FFF}])"
    )


_POSIX: dict[str, CharTest] = {
    "alnum": lambda c: c.isascii() and c.isalnum(),
    "alpha": lambda c: c.isascii() and c.isalpha(),
    "ascii": str.isascii,
    "blank": lambda c: c in " \t",
    "cntrl": lambda c: ord(c) < 32 or c == "\x7f",
    "digit": lambda c: "0" <= c <= "9",
    "graph": lambda c: "!" <= c <= "~",
    "lower": lambda c: "a" <= c <= "z",
    "print": lambda c: " " <= c <= "~",
    "punct": lambda c: "!" <= c <= "~" and not c.isalnum(),
    "space": lambda c: c in " \t\n\r\f\v",
    "upper": lambda c: "A" <= c <= "Z",
    "word": lambda c: c == "_" or (c.isascii() and c.isalnum()),
    "xdigit": lambda c: c in "0123456789abcdefABCDEF",
}


def posix_class(name: str) -> CharTest:
    """The test for `[[:name:]]` (ASCII only, as in Rust)."""
    if name not in _POSIX:
        raise SearchError(f"regex has an unknown class [:{name}:]")
    return _POSIX[name]


@lru_cache(maxsize=16384)
def case_fold(char: str) -> str:
    """Simple case folding, which Rust's `(?i)` uses: one character for another."""
    folded = char.casefold()
    if len(folded) == 1:
        return folded
    lowered = char.lower()  # e.g. capital sharp s folds to "ss" fully, to sharp s simply
    return lowered if len(lowered) == 1 else char


@lru_cache(maxsize=1)
def _folding_classes() -> dict[str, frozenset[str]]:
    """Characters by simple case folding, for the few that share one (built once)."""
    classes: dict[str, set[str]] = {}
    for code in range(0x20000):  # every cased character is below U+20000
        char = chr(code)
        folded = case_fold(char)
        if folded != char:
            classes.setdefault(folded, {folded}).add(char)
    return {key: frozenset(chars) for key, chars in classes.items()}


def case_variants(char: str) -> frozenset[str]:
    """The characters equal to `char` when case is ignored, itself included."""
    return _folding_classes().get(case_fold(char), frozenset(char))


def ignoring_case(test: CharTest) -> CharTest:
    return lambda c: any(test(v) for v in case_variants(c))


def literal(char: str, ignore_case: bool) -> CharTest:
    if not ignore_case:
        return lambda c: c == char
    folded = case_fold(char)
    return lambda c: case_fold(c) == folded
