"""The legacy transport of sync versions 8-10 (Anki 2.1.x before 2.1.57, old AnkiDroid).

Requests are multipart forms: `data` (the payload, gzip when `c` is "1"), `k`
(host key), `s` (session key), `sk` (media session key, which is the host key),
`v` (client version). Old media code starts with `GET msync/begin?k=&v=`.
"""

from __future__ import annotations

import shutil
import tempfile
import zlib
from collections.abc import Iterator
from typing import IO

import falcon
from falcon.media.multipart import MultipartForm, MultipartParseError, MultipartParseOptions

from adapters.http.zstd_stream import READ_SIZE, LimitedReader
from domain.errors import BadRequest, PayloadTooLarge

LEGACY_VERSION = 10  # the official server assumes 10 for every multipart request
SPOOL_IN_MEMORY = 1024 * 1024
MAX_FIELD_BYTES = 4096
TEXT_FIELDS = ("c", "k", "s", "sk", "v")
GZIP_WINDOW = 16 + zlib.MAX_WBITS


class LegacyForm:
    """The decoded parts of a legacy request; `data` is spooled to memory or disk."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        # Closed once `chunks` has been read to the end.
        self.data: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=SPOOL_IN_MEMORY
        )

    @property
    def compressed(self) -> bool:
        return self.fields.get("c", "0") not in ("", "0")

    def chunks(self, limit: int) -> Iterator[bytes]:
        """The payload, gunzipped when `c` says so, at most `limit` bytes."""
        self.data.seek(0)
        raw = _file_chunks(self.data)
        return _closing(gunzip_chunks(raw, limit) if self.compressed else _capped(raw, limit),
                        self.data)


def read_form(req: falcon.Request, max_body: int) -> LegacyForm:
    """Parse a multipart sync request; raise `BadRequest` or `PayloadTooLarge`."""
    content_type = req.content_type or ""
    if not content_type.lower().startswith("multipart/form-data"):
        raise BadRequest("missing anki-sync header and not a multipart form")
    boundary = _boundary(content_type)
    if req.content_length is not None and req.content_length > max_body:
        raise PayloadTooLarge(f"request body exceeds {max_body} bytes")
    options = MultipartParseOptions()
    options.max_body_part_count = 16
    options.max_body_part_buffer_size = MAX_FIELD_BYTES
    form = LegacyForm()
    # Chunked bodies have no length: let the parser read up to the limit, which the
    # LimitedReader enforces.
    length = req.content_length if req.content_length is not None else max_body + 1
    stream = LimitedReader(req.stream, max_body)
    try:
        for part in MultipartForm(stream, boundary, length, options):
            if part.name == "data":
                shutil.copyfileobj(part.stream, form.data, READ_SIZE)
            elif part.name in TEXT_FIELDS:
                form.fields[part.name] = part.get_text() or ""
            else:
                part.stream.read()
    except (MultipartParseError, falcon.HTTPError, UnicodeDecodeError) as e:
        form.data.close()
        raise BadRequest(f"malformed multipart form: {e}") from None
    except BaseException:
        form.data.close()
        raise
    return form


def _boundary(content_type: str) -> bytes:
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            value = value.strip().strip('"').rstrip()
            if 1 <= len(value) <= 70:
                return value.encode("latin-1")
    raise BadRequest("multipart form without a valid boundary")


def gunzip_chunks(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    """Decompress gzip with bounded memory, refusing output beyond `limit`."""
    decoder = zlib.decompressobj(GZIP_WINDOW)
    total = 0
    seen_input = False
    try:
        for chunk in chunks:
            seen_input = seen_input or bool(chunk)
            data = chunk
            while data:
                out = decoder.decompress(data, READ_SIZE)
                data = decoder.unconsumed_tail
                total += len(out)
                if total > limit:
                    raise PayloadTooLarge(f"decompressed body exceeds {limit} bytes")
                if out:
                    yield out
                if decoder.eof:
                    if data or decoder.unused_data:
                        raise BadRequest("data after the end of the gzip stream")
                    break
    except zlib.error as e:
        raise BadRequest(f"data is not valid gzip: {e}") from None
    # An empty `data` part with c=1 is an empty payload (AnkiDroid omits it for download).
    if seen_input and not decoder.eof:
        raise BadRequest("gzip data was truncated")


def _capped(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"body exceeds {limit} bytes")
        yield chunk


def _closing(chunks: Iterator[bytes], file: IO[bytes]) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        file.close()


def _file_chunks(file: IO[bytes]) -> Iterator[bytes]:
    while data := file.read(READ_SIZE):
        yield data
