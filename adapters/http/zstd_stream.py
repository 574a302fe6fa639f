"""Bounded zstd decoding of request bodies that arrive without a content size."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol

import zstandard

from domain.errors import BadRequest, PayloadTooLarge

READ_SIZE = 64 * 1024
# Feed the decoder small slices: RLE blocks expand ~32768x, so one 512-byte slice
# yields at most ~16 MiB, and memory stays bounded however hostile the input.
FEED_SIZE = 512


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class LimitedReader:
    """Reads a WSGI input stream, raising `PayloadTooLarge` past `limit` bytes."""

    def __init__(self, stream: Readable, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self.count = 0

    def read(self, size: int | None = READ_SIZE, /) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(READ_SIZE), b""))
        data = self._stream.read(size)
        self.count += len(data)
        if self.count > self._limit:
            raise PayloadTooLarge(f"request body exceeds {self._limit} bytes")
        return data

    def chunks(self) -> Iterator[bytes]:
        while data := self.read(READ_SIZE):
            yield data


def decompress_chunks(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    """Yield the decompressed bytes of one or more zstd frames, at most `limit` in total.

    Raises `BadRequest` for data that is not zstd or a frame cut short, and
    `PayloadTooLarge` when the output would exceed `limit`.
    """
    total = 0
    decoder = _decompressor().decompressobj()
    started = False
    try:
        for chunk in chunks:
            for start in range(0, len(chunk), FEED_SIZE):
                piece = chunk[start : start + FEED_SIZE]
                while piece:
                    if decoder.eof:
                        decoder = _decompressor().decompressobj()
                    started = True
                    out = decoder.decompress(piece)
                    piece = decoder.unused_data if decoder.eof else b""
                    total += len(out)
                    if total > limit:
                        raise PayloadTooLarge(f"decompressed body exceeds {limit} bytes")
                    if out:
                        yield out
    except zstandard.ZstdError as e:
        raise BadRequest(f"body is not valid zstd: {e}") from None
    if started and not decoder.eof:
        raise BadRequest("zstd body was truncated")


def compress_chunks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Compress a stream of chunks as one zstd frame, yielding as it goes."""
    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()


def compress(payload: bytes) -> bytes:
    return _compressor().compress(payload)


# Making a zstd context costs ten times more than a small request's whole payload takes to
# go through it; contexts are not thread-safe, so each worker thread keeps its own. A
# thread handles one request at a time, and one frame at a time.
_LOCAL = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    found: zstandard.ZstdCompressor | None = getattr(_LOCAL, "compressor", None)
    if found is None:
        found = _LOCAL.compressor = zstandard.ZstdCompressor(level=3)
    return found


def _decompressor() -> zstandard.ZstdDecompressor:
    found: zstandard.ZstdDecompressor | None = getattr(_LOCAL, "decompressor", None)
    if found is None:
        found = _LOCAL.decompressor = zstandard.ZstdDecompressor()
    return found
