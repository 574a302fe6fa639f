"""A hand-driven v11 sync client over real HTTP, for steps a real client never takes.

Each call is one POST to `<url>/sync/<method>` with the `anki-sync` header and a zstd
body, like anki 26.9.3 sends; 200 answers are zstd with `anki-original-size`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import zstandard

CLIENT_VERSION = "anki,26.09.3 (29bb700b),linux"
SYNC_VERSION = 11


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        assert self.status == 200, f"expected 200, got {self.status}: {self.body!r}"
        return json.loads(self.body)


def compress(payload: bytes) -> bytes:
    """A zstd frame without a content size, as clients stream their bodies."""
    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    return compressor.compress(payload) + compressor.flush()


def decompress(data: bytes) -> bytes:
    decoder = zstandard.ZstdDecompressor().decompressobj()
    payload = decoder.decompress(data)
    assert decoder.eof, "answer is not one complete zstd frame"
    return payload


def post(url: str, method: str, header: dict[str, Any], payload: Any) -> Answer:
    """POST one sync call; `payload` None sends an empty body."""
    raw = b"" if payload is None else json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(
        f"{url}/sync/{method}", data=compress(raw), method="POST",
        headers={"anki-sync": json.dumps(header), "Content-Type": "application/octet-stream"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            body = resp.read()
            size = resp.headers.get("anki-original-size")
            status = resp.status
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read())
    payload_bytes = decompress(body)
    assert size is not None and int(size) == len(payload_bytes), "bad anki-original-size"
    return Answer(status, payload_bytes)


def host_key(url: str, user: str, password: str) -> str:
    header = {"v": SYNC_VERSION, "k": "", "c": CLIENT_VERSION, "s": ""}
    key = post(url, "hostKey", header, {"u": user, "p": password}).json()["key"]
    assert isinstance(key, str)
    return key


@dataclass
class WireDevice:
    """One device's side of a normal sync, one step per method."""

    url: str
    hkey: str
    skey: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @classmethod
    def login(cls, url: str, user: str, password: str) -> WireDevice:
        return cls(url, host_key(url, user, password))

    def call(self, method: str, payload: Any = None, *, skey: str | None = None) -> Answer:
        header = {"v": SYNC_VERSION, "k": self.hkey, "c": CLIENT_VERSION,
                  "s": self.skey if skey is None else skey}
        return post(self.url, method, header, payload)

    # One method per step; each returns the raw answer so tests can check the status.

    def meta(self) -> Answer:
        return self.call("meta", {"v": SYNC_VERSION, "cv": CLIENT_VERSION})

    def start(self, min_usn: int, local_is_newer: bool = False) -> Answer:
        return self.call("start", {"minUsn": min_usn, "lnewer": local_is_newer})

    def apply_graves(self, cards: Sequence[int] = (), notes: Sequence[int] = (),
                     decks: Sequence[int] = ()) -> Answer:
        return self.call("applyGraves", {"chunk": {"cards": list(cards), "notes": list(notes),
                                                   "decks": list(decks)}})

    def apply_changes(self, tags: Sequence[str] = (), **extra: Any) -> Answer:
        changes = {"models": [], "decks": [[], []], "tags": list(tags), **extra}
        return self.call("applyChanges", {"changes": changes})

    def chunk(self) -> Answer:
        return self.call("chunk", {})

    def chunks_until_done(self) -> list[dict[str, Any]]:
        received = []
        while True:
            chunk = self.chunk().json()
            received.append(chunk)
            if chunk.get("done"):
                return received

    def apply_chunk(self, done: bool = True, **rows: list[list[Any]]) -> Answer:
        return self.call("applyChunk", {"chunk": {"done": done, **rows}})

    def sanity_check(self, counts: list[Any]) -> Answer:
        return self.call("sanityCheck2", {"client": counts})

    def finish(self) -> Answer:
        return self.call("finish", {})

    def abort(self, skey: str | None = None) -> Answer:
        return self.call("abort", {}, skey=skey)
