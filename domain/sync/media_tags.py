"""Media filenames in note text, found as Anki's `HTML_MEDIA_TAGS` regex finds them.

The pattern (rslib text.rs) is `<img` (or audio, video, object, source), then lazily
one or more of: a character other than `>`, or a quoted string (which may hold `>`),
then `src=` or `data=` and a quoted or bare filename. (The pattern is in verbose mode,
which in Rust drops the space of `[^ >]` too: a bare filename is any run of non-`>`
up to a space or `>`, and may begin with a space.) A backtracking engine tries
the places where that lazy loop could stop in a fixed depth-first order, and gives
up on none: on hostile text (`<img` and many quoted strings) that takes exponential
time. This walks the same places in the same order, but remembers each place from
which no stop succeeded (that depends only on the place), so the whole text is
walked once, in runs between `>`s, with C-speed searches.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator

from domain.scan import CharIndex, ascii_view, caseless, is_word

# Anki's `<\b(?:img|...)\b` and `\b(?:src|data)\b=` with Rust's case folding; the outer
# `\b`s, which Rust judges by its own word characters, are checked by `_tag_start` and
# `_attributes`.
_START = re.compile("<(?:" + "|".join(map(caseless, ("img", "audio", "video", "object",
                                                      "source"))) + ")")
_ATTRIBUTE = re.compile(f"(?:{caseless('src')}|{caseless('data')})=")
_ATTRIBUTE_MAX = len("data=")
_QUOTES = ('"', "'")


def replace_media_tags(text: str) -> str:
    """`text` with each media tag Anki's regex matches replaced by " filename "."""
    kept, kept_from, pos = [], 0, 0
    walker: _Walker | None = None
    while start := _tag_start(text, pos):
        # Until a tag needs the walk, tags are read up to their first `>` only.
        found = _first_run(text, start.end()) if walker is None else walker.match(start.end())
        if found is _NO_MORE:
            break
        if found is _UNSURE:
            walker = _Walker(text)
            found = walker.match(start.end())
        if found is None:
            pos = start.start() + 1
            continue
        end, name = found
        kept += [text[kept_from:start.start()], " ", name, " "]
        kept_from = pos = end
    kept.append(text[kept_from:])
    return "".join(kept)


def _tag_start(text: str, pos: int) -> re.Match[str] | None:
    while (start := _START.search(text, pos)) and start.end() < len(text) and is_word(
            text[start.end()]):
        pos = start.start() + 1
    return start


def _attributes(text: str, pos: int, end: int) -> Iterator[re.Match[str]]:
    return (attribute for attribute in _ATTRIBUTE.finditer(text, pos, end)
            if not is_word(text[attribute.start() - 1]))


# (end, filename) of a match, or None; two sentinels (compared by identity) say more.
_Found = tuple[int, str] | None
_NO_MORE: _Found = (-1, "")
_UNSURE: _Found = (-2, "")


def _first_run(text: str, loop_start: int) -> _Found:
    """The match if a stop before the first `>` succeeds, as in well-formed HTML (the
    first such stop is the one backtracking finds); `_NO_MORE` when no `>` follows
    (every match ends with one, so no later tag matches either); else `_UNSURE`."""
    gt = text.find(">", loop_start)
    if gt < 0:
        return _NO_MORE
    for attribute in _attributes(text, loop_start, gt):
        value = attribute.end()
        if text[value] == ">":  # the tail fails here: try the next stop
            continue
        if text[value] in _QUOTES:
            close = text.find(text[value], value + 1, gt)
            if close < 0:  # closes past `>`, if at all: the walker decides
                return _UNSURE
            if close > value + 1:
                return gt + 1, text[value + 1:close]
        space = text.find(" ", value + 1, gt)
        return gt + 1, text[value:space if space >= 0 else gt]
    return _UNSURE


class _Walker:
    """The depth-first walk over every place the lazy loop may stop, for one text."""

    def __init__(self, text: str) -> None:
        self._text, data = text, ascii_view(text)
        # `>` and the end stop a run; places walked without success are marked `>` too.
        self._stops = bytearray(data) + b">"
        self._next = {char: CharIndex(data, char) for char in (">", " ", *_QUOTES)}

    def match(self, loop_start: int) -> tuple[int, str] | None:
        """(end, filename) of the match whose lazy loop begins at `loop_start`.

        Pending places are those after quoted strings that cross a `>`, from which the
        loop goes on; the one backtracking would try next is last."""
        pending = array("q", [loop_start])
        while pending:
            place = pending.pop()
            if self._stops[place] != ord(">"):
                found = self._run(place, pending)
                if found is not None:
                    return found
        return None

    def _run(self, place: int, pending: array[int]) -> tuple[int, str] | None:
        """Try the stops from `place` up to the next `>` or walked place, in order;
        then mark them walked and queue the quoted strings that jump past it."""
        end = self._stops.find(b">", place)
        limit = min(end + _ATTRIBUTE_MAX, len(self._text))
        for attribute in _attributes(self._text, place, limit):
            if attribute.start() < end and (found := self._tail(attribute.end())):
                return found
        self._stops[place:end] = b">" * (end - place)
        # A string opened before the last quote of its kind closes inside the run.
        jumps = sorted(self._jump(quote, place, end) for quote in _QUOTES)
        pending.extend(landing for _, landing in jumps if landing >= 0)
        return None

    def _jump(self, quote: str, place: int, end: int) -> tuple[int, int]:
        """(opening, place after it) of the quoted string opened by the last `quote` in
        [place, end), if it is not empty and closes; else (-1, -1)."""
        at = self._text.rfind(quote, place, end)
        close = self._next[quote].at_or_after(at + 1) if at >= 0 else -1
        return (at, close + 1) if close >= at + 2 else (-1, -1)

    def _tail(self, value: int) -> tuple[int, str] | None:
        """(end, filename) if a filename and the tag's end follow `src=` at `value`."""
        text = self._text
        if value < len(text) and text[value] in _QUOTES:
            close = self._next[text[value]].at_or_after(value + 1)
            if close >= value + 2 and (gt := self._next[">"].at_or_after(close + 1)) >= 0:
                return gt + 1, text[value + 1:close]
        if value >= len(text) or text[value] == ">":
            return None
        gt = self._next[">"].at_or_after(value + 1)
        space = self._next[" "].at_or_after(value + 1)
        if gt < 0:
            return None
        return gt + 1, text[value:space if 0 <= space < gt else gt]
