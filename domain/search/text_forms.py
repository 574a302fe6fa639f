"""The forms of note text Anki searches in: without accents, without cloze markup."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Letters NFKD does not decompose but `nc:` still folds, as Anki's table does.
_NO_COMBINING_EXTRA: dict[int, str] = str.maketrans({
    "€": "E", "Æ": "AE", "Ð": "D", "Ø": "O", "Þ": "TH", "ß": "s", "æ": "ae", "ð": "d",
    "ø": "o", "þ": "th", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "\u0131": "i", "ĸ": "k",
    "Ł": "L", "ł": "l", "Ŋ": "N", "ŋ": "n", "Œ": "OE", "œ": "oe", "Ŧ": "T", "ŧ": "t",
    "Ə": "E", "ǝ": "e", "\u0251": "a",
})


_SUPPLEMENTARY = re.compile("[\U00010000-\U0010ffff]")
_EXTRA_LETTERS = re.compile("[" + "".join(chr(c) for c in _NO_COMBINING_EXTRA) + "]")


def _marks(codes: range) -> list[int]:
    return [c for c in codes if unicodedata.category(chr(c))[0] == "M"]


@lru_cache(maxsize=1)
def _bmp_marks() -> re.Pattern[str]:
    """Combining marks below U+10000 as one class, which the regex engine tests in one
    step (a class reaching past U+FFFF is scanned range by range, 30 times slower)."""
    return re.compile("[" + re.escape("".join(map(chr, _marks(range(0x10000))))) + "]")


@lru_cache(maxsize=1)
def _supplementary_marks() -> dict[int, None]:
    return dict.fromkeys(_marks(range(0x10000, 0x20000)) + _marks(range(0xE0000, 0xE1000)))


def without_combining(text: str) -> str:
    """Decompose (NFKD), drop combining marks and fold a few letters: `nc:`'s view."""
    if text.isascii():
        return text
    stripped = _bmp_marks().sub("", unicodedata.normalize("NFKD", text))
    if _SUPPLEMENTARY.search(stripped):
        stripped = stripped.translate(_supplementary_marks())
    return _EXTRA_LETTERS.sub(_fold_extra_letter, stripped)


def _fold_extra_letter(found: re.Match[str]) -> str:
    return _NO_COMBINING_EXTRA[ord(found.group())]


# Only the opening of a deletion is found by regex; its end is found by plain scans, so
# text full of unclosed deletions cannot make the search backtrack.
_CLOZE_OPENING = re.compile(r"\{\{c[\d,]+::")


def strip_clozes(text: str) -> str:
    """Replace each `{{cN::text::hint}}` by its text, as Anki's `sc:` sees notes."""
    out: list[str] = []
    done = 0
    for opening in _CLOZE_OPENING.finditer(text):
        if opening.start() < done:
            continue
        inner = opening.end()
        close = text.find("}}", inner)
        if close < 0:
            break  # no later deletion can close either
        hint = text.find("::", inner, close)
        end = hint if hint >= 0 else close
        out.append(text[done : opening.start()])
        out.append(text[inner:end])
        done = close + 2
    out.append(text[done:])
    return "".join(out)
