"""Finding delimiters in untrusted text in one pass.

Templates and note fields come from users. A scanner that searches from every
candidate start for a closing delimiter (a regex like `<!--.*?-->`, or `find` in a
loop) reads the rest of the text again for each start: quadratic when the text is
a long run of openers. `NextFind` remembers where the next match is, so a scanner
whose position only moves forward reads the text once per delimiter.
"""

from __future__ import annotations

import re
import unicodedata
from array import array

_UNKNOWN = -2


class NextFind:
    """The next occurrence of a delimiter at or after a position that never moves back.

    `at_or_after` returns -1 when there is none; since the position only grows, there
    is then none later either, and the text is never searched again."""

    __slots__ = ("_at", "_needle", "_text")

    def __init__(self, text: str, needle: str | re.Pattern[str]) -> None:
        self._text, self._needle, self._at = text, needle, _UNKNOWN

    def at_or_after(self, pos: int) -> int:
        if self._at == -1 or self._at >= pos:
            return self._at
        if isinstance(self._needle, str):
            self._at = self._text.find(self._needle, pos)
        else:
            found = self._needle.search(self._text, pos)
            self._at = found.start() if found else -1
        return self._at


class CharIndex:
    """Where an ASCII character next occurs at or after any position, in any order.

    A lookup searches the rest of its own block of `BLOCK` bytes, then only blocks no
    lookup has searched before: the first occurrence after each block start is kept
    once found (8 bytes per block)."""

    BLOCK = 256
    __slots__ = ("_after_block", "_byte", "_data")

    def __init__(self, data: bytes, char: str) -> None:
        """`data` has one byte per character of the text (see `ascii_view`)."""
        self._data, self._byte = data, ord(char)
        self._after_block = array("q", [_UNKNOWN]) * (len(data) // self.BLOCK + 2)

    def at_or_after(self, pos: int) -> int:
        block = pos // self.BLOCK + 1
        found = self._data.find(self._byte, pos, block * self.BLOCK)
        return found if found >= 0 else self._from_block(block)

    def _from_block(self, first: int) -> int:
        block, found = first, -1
        while block * self.BLOCK < len(self._data):
            if (known := self._after_block[block]) != _UNKNOWN:
                found = known
                break
            found = self._data.find(self._byte, block * self.BLOCK, (block + 1) * self.BLOCK)
            block += 1
            if found >= 0:
                break
        self._after_block[first:block] = array("q", [found]) * (block - first)
        return found


def ascii_view(text: str) -> bytes:
    """One byte per character: ASCII as itself, anything else as `?`. Searching it for
    an ASCII character gives the same positions as searching `text`."""
    return text.encode("ascii", "replace")


# Other_Alphabetic symbols (circled and squared Latin letters): word characters to Rust.
_ALPHABETIC_SYMBOLS = ((0x24B6, 0x24E9), (0x1F130, 0x1F149), (0x1F150, 0x1F169),
                       (0x1F170, 0x1F189))


# Beyond ASCII case, Rust's simple case folding joins these: long s, Kelvin sign.
_MORE_CASES = {"s": "\u017f", "k": "\u212a"}


def caseless(word: str) -> str:
    """A regex for `word` ignoring the case of its ASCII letters as Rust's `(?i)` does.
    Python's `re.I` differs: there dotless i and dotted capital I also match `i`."""
    return "".join(f"[{c.lower()}{c.upper()}{_MORE_CASES.get(c.lower(), '')}]"
                   if c.isascii() and c.isalpha() else re.escape(c) for c in word)


def is_word(char: str) -> bool:
    """Whether Rust's regex `\\b` counts `char` as a word character (Unicode \\w:
    alphabetic, marks, decimal digits, connector punctuation, joiners). Python's `\\b`
    differs, for example on marks and on `½`."""
    if char.isalpha() or char in "\u200c\u200d":
        return True
    category = unicodedata.category(char)
    return (category[0] == "M" or category in ("Nd", "Nl", "Pc")
            or any(low <= ord(char) <= high for low, high in _ALPHABETIC_SYMBOLS))
