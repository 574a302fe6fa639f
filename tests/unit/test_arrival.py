"""Framing requests as their bytes arrive: the head, then a sized or chunked body."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.http.arrival import (
    MAX_HEAD_BYTES,
    ChunkedEnd,
    Framing,
    Head,
    parse_head,
    without_expect,
)
from entrypoints.gunicorn_worker import _address_key


def test_a_head_without_a_body() -> None:
    head = parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest")
    assert head == Head(length=27, content_length=None, chunked=False, expects_continue=False,
                        version_11=True)


def test_a_head_is_awaited_until_its_blank_line() -> None:
    assert parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n") is Framing.NEED_MORE


def test_a_sized_and_a_chunked_body() -> None:
    sized = parse_head(b"POST / HTTP/1.1\r\ncontent-LENGTH: 12\r\nExpect: 100-Continue\r\n\r\n")
    assert isinstance(sized, Head) and sized.content_length == 12 and sized.expects_continue
    chunked = parse_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
    assert isinstance(chunked, Head) and chunked.chunked


def test_expect_on_http_10_is_ignored() -> None:
    head = parse_head(b"POST / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n")
    assert isinstance(head, Head) and not head.expects_continue


def test_heads_that_cannot_be_framed_go_on_to_the_parser() -> None:
    for head in (
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nno colon here\r\n\r\n",
    ):
        assert parse_head(head) is Framing.HAND_ON, head


def test_a_head_too_large_to_be_complete_is_refused_here() -> None:
    """The parser would read it, and wait for its end, holding a thread."""
    assert parse_head(b"GET / HTTP/1.1\r\nX: " + b"y" * MAX_HEAD_BYTES) is Framing.TOO_LARGE
    complete = b"GET / HTTP/1.1\r\nX: " + b"y" * MAX_HEAD_BYTES + b"\r\n\r\n"
    assert parse_head(complete) is Framing.TOO_LARGE


def test_expect_lines_are_dropped_once_answered() -> None:
    head = b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n"
    assert without_expect(head) == b"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\n"


def _chunked(pieces: list[bytes], trailers: list[bytes]) -> bytes:
    body = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return body + b"0\r\n" + b"".join(t + b"\r\n" for t in trailers) + b"\r\n"


@given(st.lists(st.binary(max_size=300), max_size=6),
       st.lists(st.sampled_from([b"X-Sum: 1", b"Y: two"]), max_size=2),
       st.lists(st.integers(min_value=1, max_value=50), max_size=30),
       st.binary(max_size=20))
def test_a_chunked_body_ends_where_it_ends_however_it_is_split(
        pieces: list[bytes], trailers: list[bytes], cuts: list[int], after: bytes) -> None:
    body = _chunked(pieces, trailers)
    stream = body + after  # `after`: the next request, pipelined
    end, at, framing = None, 0, ChunkedEnd()
    for size in [*cuts, len(stream)]:
        part = stream[at:at + size]
        if not part:
            break
        outcome = framing.feed(part)
        if isinstance(outcome, int):
            end = at + outcome
            break
        assert outcome is Framing.NEED_MORE
        at += len(part)
    assert end == len(body)


def test_a_chunked_body_that_is_not_chunked_is_malformed() -> None:
    assert ChunkedEnd().feed(b"zz\r\nab\r\n") is Framing.MALFORMED
    assert ChunkedEnd().feed(b"f" * 17 + b"\r\n") is Framing.MALFORMED
    assert ChunkedEnd().feed(b"1" * 2000) is Framing.MALFORMED  # a size line without end
    assert ChunkedEnd().feed(b"0\r\n" + b"X: y\r\n" * 2000) is Framing.MALFORMED


def test_a_partial_chunked_body_needs_more() -> None:
    framing = ChunkedEnd()
    assert framing.feed(b"5\r\nab") is Framing.NEED_MORE
    assert framing.feed(b"cde\r\n0\r\n") is Framing.NEED_MORE
    assert framing.feed(b"\r\n") == 2


def test_connections_count_against_an_ipv4_address_or_an_ipv6_64() -> None:
    assert _address_key("192.0.2.7") == "192.0.2.7"
    assert _address_key("2001:db8:1:2:aaaa::1") == _address_key("2001:db8:1:2:bbbb::2") \
        == "2001:db8:1:2::/64"
    assert _address_key("2001:db8:1:3::1") != _address_key("2001:db8:1:2::1")
    assert _address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert _address_key("unix-socket") == "unix-socket"
