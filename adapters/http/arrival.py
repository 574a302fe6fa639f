"""Where an HTTP/1.x request ends on the wire, found from its bytes as they arrive.

The server reads requests whole before a worker thread takes them (see
`entrypoints/gunicorn_worker.py`); this module only frames them: the head up to its
blank line, then a body of `Content-Length` bytes or chunks up to the last one. It does not
validate beyond what framing needs: a complete head whose framing headers are wrong is
handed on as it is, for gunicorn's parser to refuse from what is already there; a head too
large to be complete, or a chunked body that is not chunked, is refused here (the parser
would wait for more bytes, holding a thread).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

HEAD_END = b"\r\n\r\n"
MAX_HEAD_BYTES = 64 * 1024  # gunicorn refuses far smaller heads (8 KiB fields, 100 of them)
MAX_CHUNK_LINE = 1024  # a chunk size line (hex size plus extensions)
MAX_TRAILER_BYTES = 8 * 1024


class Framing(enum.Enum):
    NEED_MORE = "need more"  # keep reading
    COMPLETE = "complete"  # the request (head and body) has arrived
    HAND_ON = "hand on"  # a complete head the parser will refuse: let it say why
    TOO_LARGE = "too large"  # a head over MAX_HEAD_BYTES: 431
    MALFORMED = "malformed"  # a chunked body that is not: 400


@dataclass(frozen=True, slots=True)
class Head:
    """What framing needs from a request head."""

    length: int  # bytes of the head, blank line included
    content_length: int | None
    chunked: bool
    expects_continue: bool  # "Expect: 100-continue" on HTTP/1.1
    version_11: bool


def parse_head(data: bytes | bytearray) -> Head | Framing:
    """The head at the start of `data`, or NEED_MORE, TOO_LARGE, or HAND_ON when its
    framing headers are wrong."""
    end = data.find(HEAD_END)
    if end < 0:
        return Framing.TOO_LARGE if len(data) > MAX_HEAD_BYTES else Framing.NEED_MORE
    if end > MAX_HEAD_BYTES:
        return Framing.TOO_LARGE
    lines = bytes(data[:end]).split(b"\r\n")
    request_line = lines[0].rstrip()
    version_11 = request_line.endswith(b"HTTP/1.1")
    lengths: list[bytes] = []
    codings: list[bytes] = []
    expect = False
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            return Framing.HAND_ON
        name, value = name.strip().lower(), value.strip()
        if name == b"content-length":
            lengths.append(value)
        elif name == b"transfer-encoding":
            codings.extend(c.strip().lower() for c in value.split(b","))
        elif name == b"expect":
            expect = value.lower() == b"100-continue"
    return _framed_head(end + len(HEAD_END), lengths, codings, expect and version_11, version_11)


def _framed_head(length: int, lengths: list[bytes], codings: list[bytes],
                 expects_continue: bool, version_11: bool) -> Head | Framing:
    if codings:
        # Both, or a coding other than a final "chunked": the parser refuses these.
        if lengths or codings[-1] != b"chunked":
            return Framing.HAND_ON
        return Head(length, None, True, expects_continue, version_11)
    if len(lengths) > 1 or (lengths and not lengths[0].isdigit()):
        return Framing.HAND_ON
    content_length = int(lengths[0]) if lengths else None
    return Head(length, content_length, False, expects_continue, version_11)


def without_expect(head: bytes) -> bytes:
    """The head with its Expect lines dropped: the 100 Continue has been sent already."""
    lines = head.split(b"\r\n")
    kept = [line for line in lines if not line.lower().startswith(b"expect:")]
    return b"\r\n".join(kept)


@dataclass
class ChunkedEnd:
    """Follows a chunked body's framing to its end without decoding it."""

    _state: str = "size"  # size -> data -> size ... -> trailer
    _line: bytearray = field(default_factory=bytearray)
    _remaining: int = 0  # of the current chunk's data and its CRLF
    _trailer_bytes: int = 0

    def feed(self, data: bytes) -> Framing | int:
        """NEED_MORE, MALFORMED, or the offset in `data` just past the body's end."""
        at = 0
        while at < len(data):
            if self._state == "data":
                step = min(self._remaining, len(data) - at)
                at += step
                self._remaining -= step
                if not self._remaining:
                    self._state = "size"
                continue
            newline = data.find(b"\n", at)
            piece = data[at:] if newline < 0 else data[at:newline + 1]
            self._line += piece
            at += len(piece)
            if newline < 0:
                return self._check_partial_line()
            outcome = self._line_done()
            if outcome is not None:
                return at if outcome is Framing.COMPLETE else outcome
        return Framing.NEED_MORE

    def _check_partial_line(self) -> Framing:
        limit = MAX_CHUNK_LINE if self._state == "size" else MAX_TRAILER_BYTES
        too_long = len(self._line) > limit or self._trailer_bytes + len(self._line) > limit
        return Framing.MALFORMED if too_long else Framing.NEED_MORE

    def _line_done(self) -> Framing | None:
        line, self._line = bytes(self._line), bytearray()
        if self._state == "trailer":
            if line in (b"\r\n", b"\n"):
                return Framing.COMPLETE
            self._trailer_bytes += len(line)
            return Framing.MALFORMED if self._trailer_bytes > MAX_TRAILER_BYTES else None
        if len(line) > MAX_CHUNK_LINE:
            return Framing.MALFORMED
        size_text = line.split(b";", 1)[0].strip()
        if not size_text or len(size_text) > 16 or not all(
                c in b"0123456789abcdefABCDEF" for c in size_text):
            return Framing.MALFORMED
        size = int(size_text, 16)
        if size == 0:
            self._state = "trailer"
        else:
            self._state, self._remaining = "data", size + 2
        return None
