"""The sync envelope: who is calling, with which payload, and how to answer them.

v11+ clients put `{"v","k","c","s"}` in an `anki-sync` header and send a zstd
body; answers are zstd with `anki-original-size`. The legacy multipart
transport (versions 8-10) is decoded into the same `SyncCall`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import falcon

from adapters.http import legacy
from adapters.http.zstd_stream import (
    LimitedReader,
    compress,
    compress_chunks,
    decompress_chunks,
)
from domain.errors import BadRequest, PayloadTooLarge
from domain.model import SYNC_VERSION_MAX, SYNC_VERSION_MIN

SYNC_HEADER = "ANKI-SYNC"
# A JSON escape of a UTF-16 surrogate (\ud800-\udfff): what makes text a database refuses.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
ORIGINAL_SIZE_HEADER = "anki-original-size"
OCTET_STREAM = "application/octet-stream"
FILE_CHUNK = 256 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    max_body: int
    max_decompressed: int


@dataclass(slots=True)
class SyncCall:
    version: int
    host_key: str
    session_key: str
    client_version: str
    _chunks: Iterator[bytes]
    _limit: int
    legacy: bool = False
    _closers: list[Callable[[], None]] = field(default_factory=list)
    client: str = ""  # the caller's address, where a step needs it (logins)

    def close(self) -> None:
        """Release what the envelope holds (a spooled legacy `data` part)."""
        for closer in self._closers:
            closer()

    def payload_chunks(self) -> Iterator[bytes]:
        """The decoded payload, streamed (for uploads)."""
        return self._chunks

    def payload(self) -> bytes:
        """The whole decoded payload."""
        return b"".join(self._chunks)

    def json(self) -> Any:
        """The payload parsed as JSON; an empty payload counts as `{}`."""
        data = self.payload()
        if not data.strip():
            return {}
        try:
            text = data.decode("utf-8")  # strict: UTF-8-encoded surrogates are refused
        except UnicodeDecodeError:
            raise BadRequest("payload holds invalid Unicode") from None
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            raise BadRequest("payload is not valid JSON") from None
        if _SURROGATE_ESCAPE.search(text):  # only an escape can make one: walk only then
            check_text(value)
        return value


def json_object(value: Any) -> dict[str, Any]:
    """A payload that must be a JSON object, or `BadRequest`."""
    if not isinstance(value, dict):
        raise BadRequest("payload must be a JSON object")
    return value


def check_text(value: Any) -> None:
    """Reject strings that are not valid Unicode (JSON escapes can encode lone surrogates,
    which no Anki client sends and no database can store)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise BadRequest("payload holds invalid Unicode") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def read_call(req: falcon.Request, limits: Limits) -> SyncCall:
    """Decode the envelope of a sync request; raise `BadRequest` or `PayloadTooLarge`."""
    header = req.get_header(SYNC_HEADER)
    if header is None:
        return _read_legacy_call(req, limits)
    fields = _parse_header(header)
    if req.content_length is not None and req.content_length > limits.max_body:
        raise PayloadTooLarge(f"request body exceeds {limits.max_body} bytes")
    body = LimitedReader(req.stream, limits.max_body)
    return SyncCall(
        version=fields["v"],
        host_key=fields["k"],
        session_key=fields["s"],
        client_version=fields["c"],
        _chunks=decompress_chunks(body.chunks(), limits.max_decompressed),
        _limit=limits.max_decompressed,
    )


def _read_legacy_call(req: falcon.Request, limits: Limits) -> SyncCall:
    if req.method == "GET":
        # NOTE: Rust media code of 2.1.22-2.1.56 starts with GET msync/begin?k=&v=.
        key, version = req.get_param("k") or "", req.get_param("v") or ""
        payload = json.dumps({"v": version}).encode("utf-8")
        return SyncCall(legacy.LEGACY_VERSION, key, "", version, iter([payload]),
                        limits.max_decompressed, legacy=True)
    form = legacy.read_form(req, limits.max_body)
    fields = form.fields
    # NOTE: legacy media calls authenticate with `sk`, which `begin` set to the host key.
    key = fields.get("k") or fields.get("sk") or ""
    return SyncCall(legacy.LEGACY_VERSION, key, fields.get("s", ""), fields.get("v", ""),
                    form.chunks(limits.max_decompressed), limits.max_decompressed, legacy=True,
                    _closers=[form.data.close])


def _parse_header(text: str) -> dict[str, Any]:
    try:
        fields = json.loads(text)
    except (ValueError, RecursionError):
        raise BadRequest("anki-sync header is not JSON") from None
    check_text(fields)
    if not isinstance(fields, dict):
        raise BadRequest("anki-sync header must be a JSON object")
    for key, kind in (("v", int), ("k", str), ("c", str), ("s", str)):
        value = fields.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise BadRequest(f"anki-sync header lacks a valid {key!r}")
    if not SYNC_VERSION_MIN <= fields["v"] <= SYNC_VERSION_MAX:
        raise BadRequest(f"unsupported sync version {fields['v']}")
    return fields


def write_payload(resp: falcon.Response, call: SyncCall, payload: bytes) -> None:
    """Answer with a payload: zstd plus its original size for v11 clients."""
    resp.status = falcon.HTTP_200
    if call.legacy:
        # Legacy clients get the bare payload (they never decode zstd).
        resp.content_type = OCTET_STREAM
        resp.data = payload
        return
    resp.set_header(ORIGINAL_SIZE_HEADER, str(len(payload)))
    resp.data = compress(payload)


def write_json(resp: falcon.Response, call: SyncCall, value: Any) -> None:
    write_payload(resp, call, json.dumps(value, separators=(",", ":")).encode("utf-8"))


def write_file(resp: falcon.Response, call: SyncCall, file: IO[bytes]) -> None:
    """Stream an open file (already unlinked) as the payload, compressing on the fly."""
    size = os.fstat(file.fileno()).st_size
    resp.status = falcon.HTTP_200
    if call.legacy:
        resp.content_type = OCTET_STREAM
        resp.content_length = size
        resp.stream = _closing(_file_chunks(file), file)
        return
    resp.set_header(ORIGINAL_SIZE_HEADER, str(size))
    resp.stream = _closing(compress_chunks(_file_chunks(file)), file)


def _file_chunks(file: IO[bytes]) -> Iterator[bytes]:
    while data := file.read(FILE_CHUNK):
        yield data


def _closing(chunks: Iterator[bytes], file: IO[bytes]) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        file.close()
