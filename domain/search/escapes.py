"""Anki's backslash escapes, and turning search text into LIKE patterns and plain text.

After parsing, search text may still hold `\\\\`, `\\*` and `\\_`: escapes that keep a
backslash or a wildcard literal while matching. These helpers read text in that form.
"""

from __future__ import annotations

import unicodedata

from domain.search.errors import SearchError

PARSER_ESCAPES = frozenset('":()-')  # meaningful to the parser only; removed by unescape
WILDCARD_ESCAPES = frozenset("\\*_")  # kept for the matcher


def unescape(text: str) -> str:
    r"""Remove the parser's escapes, keeping `\\`, `\*` and `\_` for the matcher.

    Raises:
        SearchError: a backslash escapes anything else, or ends the text.
    """
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        escaped = text[i + 1 : i + 2]
        if escaped and escaped in PARSER_ESCAPES:
            out.append(escaped)
        elif escaped and escaped in WILDCARD_ESCAPES:
            out.append(char + escaped)
        else:
            raise SearchError(
                f"unknown escape {char + escaped}: a backslash may only come before "
                '\\ " : * _ ( ) or -'
            )
        i += 2
    return "".join(out)


def unescape_quotes(text: str) -> str:
    """Turn `\\"` into `"` and keep everything else: the raw text after `re:` and `nc:`."""
    return text.replace('\\"', '"') if '"' in text else text


def to_text(text: str) -> str:
    """Drop every escaping backslash: the literal text a non-wildcard name must equal."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out)


def is_glob(text: str) -> bool:
    """Whether the text holds an unescaped `*` or `_`."""
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in "*_":
            return True
        i += 1
    return False


def to_like(text: str) -> str:
    r"""Turn Anki text into a LIKE pattern with escape `\`, as Anki's SQL does.

    `*` becomes `%`, a literal `%` is escaped, `\*` becomes `*`; `_`, `\_` and `\\`
    already mean the same in LIKE.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair in ("\\\\", "\\*"):
            out.append("\\\\" if pair == "\\\\" else "*")
            i += 2
            continue
        out.append({"*": "%", "%": "\\%"}.get(text[i], text[i]))
        i += 1
    return "".join(out)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)
