"""Build v11 sync requests for Falcon's test client and decode what the server answers.

Every decoded answer is checked the way a current Anki client (26.x) would read it:
a 200 is one zstd payload whose decompressed length equals `anki-original-size`, an
error is a bare `text/plain` status code, and nothing carries `Content-Encoding`.
"""

from __future__ import annotations

import io
import json
import wsgiref.validate
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import falcon
import zstandard
from falcon import testing

SYNC_HEADER = "anki-sync"
ORIGINAL_SIZE = "anki-original-size"
CLIENT_VERSION = "26.09.3,29bb700b,linux"
SESSION_KEY = "dd8oqs"
MAX_U32 = 2**32 - 1


def frame(payload: bytes, *, content_size: bool = False) -> bytes:
    """One zstd frame of `payload`; real clients stream, so by default without content size."""
    if content_size:
        return zstandard.ZstdCompressor(level=3).compress(payload)
    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    return compressor.compress(payload) + compressor.flush()


def streamed_frame(chunk: bytes, repeat: int) -> bytes:
    """A frame (no content size) of `chunk` repeated, without building the whole input."""
    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    parts = [compressor.compress(chunk) for _ in range(repeat)]
    parts.append(compressor.flush())
    return b"".join(parts)


def declares_content_size(data: bytes) -> bool:
    return bool(zstandard.get_frame_parameters(data).content_size != zstandard.CONTENTSIZE_UNKNOWN)


def header_value(
    key: str = "", *, version: int = 11, client: str = CLIENT_VERSION, session: str = SESSION_KEY
) -> str:
    return json.dumps({"v": version, "k": key, "c": client, "s": session})


def unframe(data: bytes) -> bytes:
    """Decode exactly one complete zstd frame, with or without a content size."""
    decoder = zstandard.ZstdDecompressor().decompressobj()
    payload = decoder.decompress(data)
    assert decoder.eof, "response body is not one complete zstd frame"
    assert decoder.unused_data == b"", "bytes after the response's zstd frame"
    return payload


@dataclass(frozen=True)
class Reply:
    """A decoded answer: `payload` is the decompressed body of a 200, else the raw body."""

    status: int
    payload: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        assert self.status == 200, f"expected 200, got {self.status}: {self.payload!r}"
        return json.loads(self.payload)

    def text(self) -> str:
        assert self.status == 200, f"expected 200, got {self.status}: {self.payload!r}"
        return self.payload.decode("utf-8")


def decode(result: testing.Result) -> Reply:
    """Check the envelope of a sync answer like a v11 client does, and unwrap it."""
    headers = {k.lower(): v for k, v in result.headers.items()}
    assert "content-encoding" not in headers, "clients cannot undo HTTP Content-Encoding"
    status = result.status_code
    if status != 200:
        assert headers.get("content-type", "").startswith("text/plain"), headers
        # The bare code, as the official server answers; a 429 also says how long to
        # wait, for the client to show.
        assert result.content == str(status).encode() or (
            status == 429 and result.content.startswith(b"429 ")), result.content
        return Reply(status, result.content, headers)
    size_text = headers.get(ORIGINAL_SIZE)
    assert size_text is not None, "a 200 without anki-original-size fails every v11 client"
    assert size_text.isascii() and size_text.isdigit(), size_text
    assert int(size_text) <= MAX_U32, "clients parse anki-original-size as a u32"
    payload = unframe(result.content)
    assert int(size_text) == len(payload), (size_text, len(payload))
    return Reply(status, payload, headers)


class SyncClient:
    """Posts v11 sync requests to a WSGI app through `falcon.testing.TestClient`."""

    def __init__(self, app: falcon.App[falcon.Request, falcon.Response]) -> None:
        self.app = app
        self.http = testing.TestClient(app)

    def post_raw(
        self,
        method: str,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        chunked: bool = False,
    ) -> testing.Result:
        """POST `body` as is; `chunked` sends it without Content-Length, like real clients."""
        path = f"/sync/{method}"
        if not chunked:
            return self.http.simulate_post(path, headers=dict(headers or {}), body=body)
        env = testing.create_environ(
            method="POST", path=path, headers={**(headers or {}), "Transfer-Encoding": "chunked"}
        )
        env.pop("CONTENT_LENGTH", None)
        env["wsgi.input"] = io.BytesIO(body)
        start_response = testing.StartResponseMock()
        iterable = wsgiref.validate.validator(self.app)(env, start_response)
        data = testing.closed_wsgi_iterable(iterable)
        assert start_response.status is not None and start_response.headers is not None
        return testing.Result(data, start_response.status, start_response.headers)

    def post(
        self,
        method: str,
        payload: bytes,
        *,
        key: str = "",
        version: int = 11,
        content_size: bool = False,
        chunked: bool = False,
    ) -> Reply:
        """POST a v11 request: header JSON plus the zstd-framed payload."""
        body = frame(payload, content_size=content_size)
        headers = {SYNC_HEADER: header_value(key, version=version)}
        return decode(self.post_raw(method, body, headers=headers, chunked=chunked))

    def post_json(self, method: str, value: Any, **kwargs: Any) -> Reply:
        return self.post(method, json.dumps(value).encode("utf-8"), **kwargs)

    def host_key(self, user: str, password: str, **kwargs: Any) -> Reply:
        return self.post_json("hostKey", {"u": user, "p": password}, **kwargs)

    def login(self, user: str, password: str) -> str:
        reply = self.host_key(user, password)
        key = reply.json()["key"]
        assert isinstance(key, str)
        return key

    def meta(self, key: str, *, v: int = 11, **kwargs: Any) -> Reply:
        return self.post_json("meta", {"v": v, "cv": "anki,26.09.3 (29bb700b),linux"},
                              key=key, **kwargs)

    def upload(self, key: str, data: bytes, **kwargs: Any) -> Reply:
        return self.post("upload", data, key=key, **kwargs)

    def download(self, key: str, **kwargs: Any) -> Reply:
        return self.post_json("download", {"_pad": None}, key=key, **kwargs)
