"""The floor of this stack: what a sync costs with no sync logic at all.

A bare Falcon app under gunicorn (threaded workers, keep-alive, as `ankiserv serve` runs)
that answers the load test's requests as cheaply as the stack allows: it decodes each
zstd body and parses its JSON, runs one or two PostgreSQL statements through raw psycopg2
on a connection kept per thread, and answers with canned JSON. It stores nothing but a
usn and mod per account, so the load driver can sync against it; it is a measuring stick
for `benchmarks.load`, not a server.

    python -m benchmarks.floor DATABASE_URL PORT WORKERS
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import sys
import tempfile
import threading
from typing import Any

import falcon
import psycopg2
import zstandard
from gunicorn.app.base import BaseApplication

_LOCAL = threading.local()  # per thread: a connection and zstd contexts
SCHEMA = ("CREATE TABLE IF NOT EXISTS floor_users (key text PRIMARY KEY, usn bigint NOT NULL,"
          " mod bigint NOT NULL, scm bigint NOT NULL)")


def _cursor(dsn: str) -> Any:
    conn = getattr(_LOCAL, "conn", None)
    if conn is None:
        conn = _LOCAL.conn = psycopg2.connect(dsn)
        conn.autocommit = True
    return conn.cursor()


class Sync:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def on_post(self, req: falcon.Request, resp: falcon.Response, method: str) -> None:
        header = json.loads(req.get_header("anki-sync") or "{}")
        body = req.bounded_stream.read()
        if not hasattr(_LOCAL, "zstd"):
            _LOCAL.zstd, _LOCAL.unzstd = zstandard.ZstdCompressor(), zstandard.ZstdDecompressor()
        data = _LOCAL.unzstd.decompressobj().decompress(body) if body else b""
        key = header.get("k", "")
        cur = _cursor(self.dsn)
        try:
            answer = self.answer(cur, method, key, data)
        finally:
            cur.close()
        payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        resp.set_header("anki-original-size", str(len(payload)))
        resp.data = _LOCAL.zstd.compress(payload)

    def answer(self, cur: Any, method: str, key: str, data: bytes) -> Any:
        if method == "hostKey":
            key = secrets.token_hex(8)
            cur.execute("INSERT INTO floor_users VALUES (%s, 0, 0, 0)", (key,))
            return {"key": key}
        if method == "upload":
            with tempfile.NamedTemporaryFile(suffix=".anki2") as file:
                file.write(data)
                file.flush()
                con = sqlite3.connect(file.name)
                usn, mod, scm = con.execute("select usn, mod, scm from col").fetchone()
                con.close()
            cur.execute("UPDATE floor_users SET usn = %s, mod = %s, scm = %s WHERE key = %s",
                        (usn, mod, scm, key))
            return b"OK"
        value = json.loads(data) if data.strip() else {}
        if method == "meta":
            cur.execute("SELECT usn, mod, scm FROM floor_users WHERE key = %s", (key,))
            usn, mod, scm = cur.fetchone()
            return {"mod": mod, "scm": scm, "usn": usn, "ts": 0, "musn": 0, "uname": key,
                    "msg": "", "cont": True, "hostNum": 0, "empty": False}
        if method == "finish":
            cur.execute("BEGIN; UPDATE floor_users SET usn = usn + 1, mod = mod + 1"
                        " WHERE key = %s RETURNING mod; COMMIT", (key,))
            return 0
        cur.execute("SELECT usn FROM floor_users WHERE key = %s FOR UPDATE", (key,))
        return {"start": {"cards": [], "notes": [], "decks": []},
                "applyChanges": {"models": [], "decks": [[], []], "tags": []},
                "chunk": {"done": True}, "sanityCheck2": {"status": "ok"},
                "applyChunk": None, "abort": None}.get(method, value and None)


class Health:
    def on_get(self, _req: falcon.Request, resp: falcon.Response) -> None:
        resp.text = ""


def app(dsn: str) -> falcon.App[falcon.Request, falcon.Response]:
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute(SCHEMA)
    conn.close()
    application = falcon.App()
    application.add_route("/sync/{method}", Sync(dsn))
    application.add_route("/health", Health())
    return application


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, dsn: str, port: int, workers: int) -> None:
        self.dsn, self.port, self.workers = dsn, port, workers
        super().__init__()

    def load_config(self) -> None:
        for key, value in {"bind": f"127.0.0.1:{self.port}", "workers": self.workers,
                           "worker_class": "gthread", "threads": 4, "keepalive": 120,
                           "loglevel": "warning"}.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return app(self.dsn)


if __name__ == "__main__":
    _Gunicorn(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])).run()
