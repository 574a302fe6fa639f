"""Derived note columns: the sort field and the first-field checksum Anki searches by.

Clients send `sfld` and `csum` empty; the server recomputes them, like Anki,
from the fields with HTML removed but media filenames kept.

Anki does this with two regexes (rslib text.rs `HTML_MEDIA_TAGS` and `HTML`) on a
finite-automaton engine. Python's backtracking `re` needs quadratic, cubic or even
exponential time for the same patterns on hostile fields (a run of `<style>`, or
`<img` followed by many quoted strings), so scanners that give the same matches in
one pass stand in for them (see `domain.sync.media_tags`).
"""

from __future__ import annotations

import hashlib
import html
import re

from domain.scan import NextFind, caseless
from domain.sync.media_tags import replace_media_tags

FIELD_SEPARATOR = "\x1f"

# Plain tags only: with no comment, style or script in the text, Anki's pattern is
# this one, and every `<` before the last `>` matches it without backtracking.
_PLAIN_TAG = re.compile(r"<[^>]*>")
_SPECIAL = re.compile(f"<(?:!--|{caseless('style')}|{caseless('script')})")
# Fixed-length pieces of Anki's pattern, with Rust's case folding.
_STYLE, _STYLE_END = re.compile(caseless("<style")), re.compile(caseless("</style>"))
_SCRIPT, _SCRIPT_END = re.compile(caseless("<script")), re.compile(caseless("</script>"))


def text_of_field(field: str) -> str:
    """The field without HTML, media filenames kept (as " name "), entities decoded:
    what Anki indexes for the sort field and the duplicate checksum. Nothing else is
    changed: no trimming, and sound tags stay as they are."""
    text = _strip_html(replace_media_tags(field)) if "<" in field else field
    if "&" in text:
        text = html.unescape(text).replace("\xa0", " ")
    return text


def field_checksum(text: str) -> int:
    """First 4 bytes of the SHA-1 of `text`, as an unsigned big-endian integer."""
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:4], "big")


def sort_field_and_checksum(fields: list[str], sort_index: int) -> tuple[str, int]:
    first = text_of_field(fields[0]) if fields else ""
    if sort_index == 0:
        return first, field_checksum(first)
    sort = text_of_field(fields[sort_index]) if sort_index < len(fields) else ""
    return sort, field_checksum(first)


def _strip_html(text: str) -> str:
    """`text` without what Anki's `(?si)(<!--.*?-->)|(<style.*?>.*?</style>)|
    (<script.*?>.*?</script>)|(<.*?>)` matches, leftmost first."""
    last = text.rfind(">") + 1
    if not _SPECIAL.search(text):
        return _PLAIN_TAG.sub("", text[:last]) + text[last:]
    tags, tag_gts, comment_ends = NextFind(text, "<"), NextFind(text, ">"), NextFind(text, "-->")
    style_gts, style_ends = NextFind(text, ">"), NextFind(text, _STYLE_END)
    script_gts, script_ends = NextFind(text, ">"), NextFind(text, _SCRIPT_END)
    kept: list[str] = []
    kept_from = 0
    # Every alternative ends with `>`: a `<` with one after it always matches.
    while 0 <= (at := tags.at_or_after(kept_from)) < last:
        end = tag_gts.at_or_after(at + 1) + 1
        if text.startswith("<!--", at) and (close := comment_ends.at_or_after(at + 4)) >= 0:
            end = close + 3
        elif _STYLE.match(text, at) and (gt := style_gts.at_or_after(at + 6)) >= 0 and (
                close := style_ends.at_or_after(gt + 1)) >= 0:
            end = close + 8
        elif _SCRIPT.match(text, at) and (gt := script_gts.at_or_after(at + 7)) >= 0 and (
                close := script_ends.at_or_after(gt + 1)) >= 0:
            end = close + 9
        kept.append(text[kept_from:at])
        kept_from = end
    kept.append(text[kept_from:])
    return "".join(kept)
