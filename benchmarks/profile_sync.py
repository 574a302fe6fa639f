"""Time (and optionally profile) ankiserv's request handling in-process, without HTTP.

    .venv/bin/python -m benchmarks.profile_sync [--database-url URL] [--notes 1000]
        [--syncs 200] [--profile out.html]

Uploads one generated collection, then runs complete normal syncs (meta, start,
applyChanges, chunk, applyChunk with 2 changed notes and 2 cards, sanityCheck2, finish)
through the WSGI app, and prints the mean time per request kind. This isolates the
server's own Python and SQL cost from the HTTP server and the client.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard
from sqlalchemy import event

from adapters.sql import transaction
from benchmarks.collections import generate
from entrypoints.config import Settings
from entrypoints.services import build_services
from entrypoints.wsgi import build_app

ROOT = Path(__file__).resolve().parents[1]
HEADER = "anki-sync"
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "PREPARE", "SAVEPOINT", "RELEASE", "SET LOCAL")


class Client:
    """Calls the WSGI app directly with the environ a server would pass (no test client:
    its checks cost more than a small request does)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.key = ""
        self.session = "prof01"
        self.times: dict[str, list[float]] = defaultdict(list)

    def post(self, method: str, payload: bytes) -> bytes:
        body = zstandard.ZstdCompressor().compress(payload)
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": f"/sync/{method}", "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.version": (1, 0),
            "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
            "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/octet-stream",
            "HTTP_ANKI_SYNC": json.dumps({"v": 11, "k": self.key, "c": "26.09.3,x,linux",
                                          "s": self.session}),
        }
        status: list[str] = []
        start = time.perf_counter()
        chunks = self.app(environ, lambda s, _h, _e=None: status.append(s))
        content = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        self.times[method].append(time.perf_counter() - start)
        assert status[0].startswith("200"), (method, status, content)
        return zstandard.ZstdDecompressor().decompressobj().decompress(content)

    def call(self, method: str, value: Any) -> Any:
        return json.loads(self.post(method, json.dumps(value).encode()))


def _unicase(a: str, b: str) -> int:
    return (a.lower() > b.lower()) - (a.lower() < b.lower())


class StatementTimings:
    """Wall time spent in each SQL statement (driver call plus database), by its text."""

    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def observe(self, sql: str, seconds: float) -> None:
        """A statement run on the driver's cursor (prepared ones shown by their text)."""
        for part in sql.split("; "):
            name = part.split("(")[0].removeprefix("EXECUTE ").strip()
            key = " ".join(transaction.PREPARED_TEXT.get(name, part).split())[:150]
            self.total[key] += seconds / len(sql.split("; "))
            self.calls[key] += 1

    def listen(self, engine: Any) -> None:
        transaction.OBSERVERS.append(self.observe)
        def before(_conn: Any, _cursor: Any, _sql: str, _params: Any, context: Any,
                   _many: bool) -> None:
            context._bench_started = time.perf_counter()

        def after(_conn: Any, _cursor: Any, sql: str, _params: Any, context: Any,
                  _many: bool) -> None:
            key = " ".join(sql.split())[:150]
            self.total[key] += time.perf_counter() - context._bench_started
            self.calls[key] += 1

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)

    def report(self, top: int, syncs: int) -> None:
        print(f"{'ms/sync':>8} {'calls/sync':>10}  statement")
        for key, total in sorted(self.total.items(), key=lambda kv: -kv[1])[:top]:
            print(f"{total / syncs * 1000:8.3f} {self.calls[key] / syncs:10.2f}  {key}")


def counts(path: Path) -> list[Any]:
    with sqlite3.connect(path) as con:
        con.create_collation("unicase", _unicase)
        one = [con.execute(f"select count() from {t}").fetchone()[0]
               for t in ("cards", "notes", "revlog", "notetypes", "decks", "deck_config")]
    return [[0, 0, 0], one[0], one[1], one[2], 0, one[3], one[4], one[5]]


def sync(f: Fixture, usn: int, n: int) -> int:
    """One small normal sync as the load test's driver runs it: the device is newer, so it
    sends its config and crt; two notes and their cards edited."""
    client = f.client
    meta = client.call("meta", {"v": 11, "cv": "anki,26.09.3 (x),linux"})
    client.call("start", {"minUsn": usn, "lnewer": True})
    client.call("applyChanges", {"changes": {"models": [], "decks": [[], []], "tags": [],
                                             "conf": f.config, "crt": f.crt}})
    while not client.call("chunk", {"_pad": None})["done"]:
        pass
    now = int(time.time())
    notes = []
    for row in f.notes:
        row = list(row)
        row[3], row[4] = now, -1
        row[6] = row[6].split("\x1f")[0] + f"\x1fedit {n}"
        notes.append(row)
    cards = []
    for row in f.cards:
        row = list(row)
        row[4], row[5] = now, -1
        cards.append(row)
    client.call("applyChunk", {"chunk": {"done": True, "notes": notes, "cards": cards}})
    result = client.call("sanityCheck2", {"client": f.sanity})
    assert result["status"] == "ok", result
    client.call("finish", {"_pad": None})
    return int(meta["usn"]) + 1


def _backend_pid(f: Fixture) -> int | None:
    """The PostgreSQL backend serving this thread's kept connection (None elsewhere)."""
    engine = f.services.engine
    if engine.dialect.name != "postgresql":
        return None
    with f.services.uow.request_scope(), f.services.uow(write=False) as uow:
        raw: Any = uow._conn.connection.driver_connection  # type: ignore[attr-defined]
        return int(raw.get_backend_pid())


def _cpu_s(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class StatementCounter:
    """Statements the database runs (SQLAlchemy's and the driver-cursor ones), counting
    each part of a multi-statement text; transaction control is counted apart."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.statements = self.control = 0

    def observe(self, sql: str, _seconds: float = 0.0) -> None:
        for part in sql.split("; "):
            if part.lstrip().upper().startswith(CONTROL):
                self.control += 1
            else:
                self.statements += 1

    def _sqlalchemy(self, _conn: Any, _cursor: Any, sql: str, *_args: object) -> None:
        self.observe(sql)

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._sqlalchemy)
        transaction.OBSERVERS.append(self.observe)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._sqlalchemy)
        transaction.OBSERVERS.remove(self.observe)


@dataclass
class Fixture:
    services: Any
    client: Client
    notes: list[list[Any]]
    cards: list[list[Any]]
    sanity: list[Any]
    config: dict[str, Any]
    crt: int


def prepare(args: argparse.Namespace) -> Fixture:
    """An account with a generated collection uploaded, and the rows each sync edits."""
    source = generate(ROOT / ".bench-cache" / f"collection-{args.notes}", args.notes)
    path = source / "collection.anki2"
    data = Path(tempfile.mkdtemp(prefix="ankiserv-prof-"))
    raw: dict[str, object] = {"data_dir": str(data)}
    if args.database_url:
        raw["database_url"] = args.database_url
    settings = Settings.from_mapping(raw)
    services = build_services(settings, migrate=True)
    name = f"prof{time.time_ns()}"
    services.accounts.add_user(name, "pw")
    client = Client(build_app(settings, services))
    client.key = client.call("hostKey", {"u": name, "p": "pw"})["key"]
    client.call("meta", {"v": 11, "cv": "anki,26.09.3 (x),linux"})
    client.post("upload", path.read_bytes())
    with sqlite3.connect(path) as con:
        note_rows = [list(r) for r in con.execute(
            "select id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data"
            " from notes limit 2")]
        card_rows = [list(r) for r in con.execute(
            "select id, nid, did, ord, mod, usn, type, queue, due, ivl, factor, reps,"
            " lapses, left, odue, odid, flags, data from cards limit 2")]
        con.create_collation("unicase", _unicase)
        config = {k: json.loads(v) for k, v in con.execute("select key, val from config")}
        crt = int(con.execute("select crt from col").fetchone()[0])
    for row in note_rows:
        row[7] = str(row[7])
        row[8] = int(row[8])
        row[5] = row[5].strip()
    return Fixture(services, client, note_rows, card_rows, counts(path), config, crt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--notes", type=int, default=1000)
    parser.add_argument("--syncs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat; the CPU figure is the lowest round's (noisy machines)")
    parser.add_argument("--profile", default="")
    parser.add_argument("--statements", type=int, default=0,
                        help="print the N statements that took the most time in all")
    args = parser.parse_args()
    f = prepare(args)
    usn = sync(f, 0, 0)
    f.client.times.clear()
    profiler = None
    if args.profile:
        from pyinstrument import Profiler
        profiler = Profiler(interval=0.0005)
        profiler.start()
    timings = StatementTimings()
    if args.statements:
        timings.listen(f.services.engine)
    rounds: list[tuple[float, float, float]] = []
    backend = _backend_pid(f)
    with StatementCounter(f.services.engine) as counter:
        for r in range(args.rounds):
            start, cpu, db = time.perf_counter(), time.process_time(), _cpu_s(backend)
            for n in range(1, args.syncs + 1):
                usn = sync(f, usn, r * args.syncs + n)
            rounds.append((time.perf_counter() - start, time.process_time() - cpu,
                           _cpu_s(backend) - db))
    elapsed, cpu, db_cpu = min(rounds, key=lambda r: r[1])
    counter.statements //= args.rounds
    counter.control //= args.rounds
    if args.statements:
        timings.report(args.statements, args.syncs)
    if profiler is not None:
        profiler.stop()
        Path(args.profile).write_text(profiler.output_html())
        print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000])
    for method, times in f.client.times.items():
        print(f"{method:14s} {statistics.mean(times) * 1000:7.2f} ms mean"
              f" {statistics.median(times) * 1000:7.2f} ms median ({len(times)})")
    print(f"whole sync: {elapsed / args.syncs * 1000:.2f} ms ({args.syncs / elapsed:.0f}/s),"
          f" {cpu / args.syncs * 1000:.2f} ms CPU in this process"
          f" + {db_cpu / args.syncs * 1000:.2f} ms in the database backend,"
          f" {counter.statements / args.syncs:.1f} SQL statements"
          f" (+{counter.control / args.syncs:.1f} BEGIN/COMMIT/ROLLBACK/PREPARE)")
    f.services.close()


if __name__ == "__main__":
    main()
