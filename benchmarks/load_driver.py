"""A cheap v11 sync client for load tests: one keep-alive HTTP/1.1 connection per user.

It speaks the "direct POST" transport (zstd JSON bodies, `anki-sync` header) and runs the
same request sequence as the Rust client for a normal sync that uploads a few edits:
meta, start, applyChanges, chunk (until done), applyChunk, sanityCheck2, finish.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import string
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

CLIENT_VERSION = "26.09.3,29bb700b,linux"
_ALPHABET = string.digits + string.ascii_letters
_ZSTD = zstandard.ZstdCompressor()
_UNZSTD = zstandard.ZstdDecompressor()


# Seconds spent in, and number of, requests per method (cleared by the caller per phase).
SPENT: dict[str, float] = defaultdict(float)
CALLS: Counter[str] = Counter()


class SyncFailed(Exception):
    pass


def encode(obj: Any) -> bytes:
    return _ZSTD.compress(json.dumps(obj, separators=(",", ":")).encode())


def unzstd(body: bytes) -> bytes:
    # The official server streams its frames, so they carry no content size.
    return bytes(_UNZSTD.decompressobj().decompress(body))


def _unicase(a: str, b: str) -> int:
    return (a.lower() > b.lower()) - (a.lower() < b.lower())


def session_id() -> str:
    """Like `simple_session_id()` in the Rust client: base 62 of a random u32."""
    n, out = random.getrandbits(32), ""
    while True:
        n, digit = divmod(n, 62)
        out = _ALPHABET[digit] + out
        if not n:
            return out


class Connection:
    """One keep-alive HTTP/1.1 connection; reopened when the server has closed it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None

    async def post(self, path: str, header: str, body: bytes) -> tuple[int, bytes]:
        request = (f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
                   f"anki-sync: {header}\r\ncontent-type: application/octet-stream\r\n"
                   f"content-length: {len(body)}\r\n\r\n").encode() + body
        for retry in (False, True):
            reused = self._streams is not None
            if self._streams is None:
                self._streams = await asyncio.open_connection(self.host, self.port)
            reader, writer = self._streams
            try:
                writer.write(request)
                await writer.drain()
                status_line = await reader.readline()
            except ConnectionError:
                status_line = b""
            if status_line:
                try:
                    return await self._response(reader, status_line)
                except BaseException:
                    self.close()
                    raise
            self.close()  # closed by the server while idle: safe to send once more
            if not reused or retry:
                raise SyncFailed(f"{path}: connection closed")
        raise AssertionError("unreachable")

    async def _response(self, reader: asyncio.StreamReader, status_line: bytes
                        ) -> tuple[int, bytes]:
        status = int(status_line.split()[1])
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            parts = []
            while size := int((await reader.readline()).split(b";")[0], 16):
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            body = b"".join(parts)
        else:
            body = await reader.read()
            headers["connection"] = "close"
        if headers.get("connection") == "close":
            self.close()
        return status, body


@dataclass
class Seed:
    """The collection every account starts from, and the wire payloads derived from it."""

    data: bytes
    mod: int
    scm: int
    usn: int
    notes: list[list[Any]]
    first_cards: dict[int, list[Any]]
    changes: bytes  # applyChanges payload of a client whose collection is newer
    changes_older: bytes
    sanity: bytes

    @classmethod
    def load(cls, path: Path) -> Seed:
        con = sqlite3.connect(path)
        con.create_collation("unicase", _unicase)
        try:
            crt, mod, scm, usn = con.execute("select crt, mod, scm, usn from col").fetchone()
            notes = [list(r) for r in con.execute(
                "select id, guid, mid, mod, usn, tags, flds from notes order by id")]
            cards = {r[1]: list(r) for r in con.execute(
                "select * from cards where ord = 0 order by id")}
            conf = {k: json.loads(v) for k, v in con.execute("select key, val from config")}
            count = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in (
                "cards", "notes", "revlog", "notetypes", "decks", "deck_config")}
        finally:
            con.close()
        empty: dict[str, Any] = {"models": [], "decks": [[], []], "tags": []}
        return cls(
            path.read_bytes(), mod, scm, usn, notes, cards,
            encode({"changes": {**empty, "conf": conf, "crt": crt}}),
            encode({"changes": empty}),
            encode({"client": [[0, 0, 0], count["cards"], count["notes"], count["revlog"], 0,
                               count["notetypes"], count["decks"], count["deck_config"]]}))

    def edit(self, user: str, n: int, usn: int, now: int) -> tuple[list[Any], list[Any],
                                                                   dict[int, str]]:
        """Edit number `n`: two notes get a new field value, their first cards a new mod."""
        notes, cards, fields = [], [], {}
        for i in (2 * n % len(self.notes), (2 * n + 1) % len(self.notes)):
            nid, guid, mid, _, _, tags, flds = self.notes[i]
            flds = f"{flds} [{user} #{n}]"
            notes.append([nid, guid, mid, now, usn, tags, flds, "", "", 0, ""])
            card = list(self.first_cards[nid])
            card[4], card[5], card[11] = now, usn, card[11] + n  # mod, usn, reps
            cards.append(card)
            fields[nid] = flds
        return notes, cards, fields


EMPTY = encode({"_pad": None})
META = encode({"v": 11, "cv": "anki,26.09.3 (29bb700b),linux"})


@dataclass
class Account:
    """One simulated device of one user: the sync state a client keeps between syncs."""

    user: str
    conn: Connection
    hkey: str = ""
    mod: int = 0
    scm: int = 0
    usn: int = 0  # the client's col.usn: minUsn of the next sync
    edits: int = 0
    expected: dict[int, str] = field(default_factory=dict)  # nid -> last committed fields
    uncertain: bool = False  # a finish failed in flight: the server may or may not have it

    async def call(self, method: str, body: bytes, skey: str = "", raw: bool = False) -> Any:
        header = json.dumps({"v": 11, "k": self.hkey, "c": CLIENT_VERSION, "s": skey},
                            separators=(",", ":"))
        start = time.perf_counter()
        status, reply = await self.conn.post(f"/sync/{method}", header, body)
        SPENT[method] += time.perf_counter() - start
        CALLS[method] += 1
        if status != 200:
            raise SyncFailed(f"{method}: HTTP {status} {reply[:80]!r}")
        return unzstd(reply) if raw else json.loads(unzstd(reply))

    async def login(self, password: str) -> None:
        self.hkey = (await self.call("hostKey", encode({"u": self.user, "p": password})))["key"]

    async def upload(self, seed: Seed) -> None:
        reply = await self.call("upload", _ZSTD.compress(seed.data), session_id(), raw=True)
        if reply != b"OK":
            raise SyncFailed(f"upload: {reply!r}")
        self.mod, self.scm, self.usn = seed.mod, seed.scm, seed.usn
        meta = await self.call("meta", META, session_id())
        if meta["mod"] != self.mod or meta["usn"] != self.usn:
            raise SyncFailed(f"after upload, meta says {meta}")

    async def sync(self, seed: Seed) -> None:
        """Edit two notes and two cards locally, then run one complete normal sync."""
        self.mod = now_ms = max(int(time.time() * 1000), self.mod + 1)
        skey = session_id()
        meta = await self.call("meta", META, skey)
        if not meta["cont"] or meta["scm"] != self.scm:
            raise SyncFailed(f"meta: cannot normal-sync: {meta}")
        server_usn, newer = meta["usn"], self.mod > meta["mod"]
        finishing = False
        try:
            start = encode({"minUsn": self.usn, "lnewer": newer, "graves": None})
            await self.call("start", start, skey)  # no local deletions: no applyGraves
            await self.call("applyChanges", seed.changes if newer else seed.changes_older, skey)
            while not (await self.call("chunk", EMPTY, skey)).get("done", False):
                pass
            notes, cards, fields = seed.edit(self.user, self.edits + 1, server_usn,
                                             now_ms // 1000)
            chunk = {"chunk": {"done": True, "cards": cards, "notes": notes}}
            await self.call("applyChunk", encode(chunk), skey)
            sanity = await self.call("sanityCheck2", seed.sanity, skey)
            if sanity.get("status") != "ok":
                raise SyncFailed(f"sanityCheck2: {sanity}")
            finishing = True
            mod = await self.call("finish", EMPTY, skey)
        except BaseException:
            if finishing:
                self.uncertain = True
            else:
                await self._abort(skey)
            raise
        self.edits += 1
        self.expected.update(fields)
        self.mod, self.usn = mod, server_usn + 1

    async def _abort(self, skey: str) -> None:
        try:
            await asyncio.wait_for(self.call("abort", EMPTY, skey), 10)
        except (Exception, asyncio.CancelledError):
            self.conn.close()
