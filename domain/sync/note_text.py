"""Derived note columns: the sort field and the first-field checksum Anki searches by.

Clients send `sfld` and `csum` empty; the server recomputes them, like Anki,
from the fields with HTML removed but media filenames kept.
"""

from __future__ import annotations

import hashlib
import html
import re

FIELD_SEPARATOR = "\x1f"

_MEDIA_TAG = re.compile(
    r"""(?si)<\b(?:img|audio|video|object|source)\b(?:[^>]|"[^"]+?"|'[^']+?')+?"""
    r"""\b(?:src|data)\b=(?:"([^"]+?)"[^>]*>|'([^']+?)'[^>]*>|([^ >]+?)(?: [^>]*>|>))"""
)
_HTML = re.compile(
    r"(?si)(<!--.*?-->)|(<style.*?>.*?</style>)|(<script.*?>.*?</script>)|(<.*?>)"
)


def _media_name(match: re.Match[str]) -> str:
    return " " + next(g for g in match.groups() if g is not None) + " "


def text_of_field(field: str) -> str:
    """The field without HTML, media filenames kept (as " name "), entities decoded:
    what Anki indexes for the sort field and the duplicate checksum. Nothing else is
    changed: no trimming, and sound tags stay as they are."""
    text = _MEDIA_TAG.sub(_media_name, field)
    text = _HTML.sub("", text)
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
