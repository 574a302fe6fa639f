"""Every SQL statement ankiserv sends, judged by `sql_scope` while the test suite runs.

Where statements are seen:

- statements SQLAlchemy runs: its `before_cursor_execute` event, listened to on the
  `Engine` class, so every engine of the process is seen (on PostgreSQL this text may
  carry the unit of work's `BEGIN ...;` in front);
- statements run on the driver's cursor (`adapters/sql/transaction.py`): its `OBSERVERS`
  hook. On PostgreSQL that is `PREPARE name AS body` once per connection, whose body is
  judged, then `EXECUTE name(...)`, judged as its PREPARE was. Streaming reads, COPY and
  SQLite's INSERT from an attached upload tell the same hook (`transaction.observed`).

Not seen, and concerning no table: the pings of idle pooled connections (`SELECT 1`),
SQLite's PRAGMAs and ATTACH/DETACH, the ROLLBACK of a connection handed back dirty.

Only statements ankiserv sends count: the innermost frame of this repository in the call
stack must not be a test's own (tests read tables directly to check them). A bad
statement not covered by `sql_scope.ALLOWED` is a finding, reported once per statement
and charged to the test that was running.

Servers and commands that tests run in a subprocess (`tests/support/server.py`) start
through `tests/support/run_ankiserv.py`, which installs the same capture when `ENV` names
a folder. A server parses nothing: what the session has judged good already (`known.txt`,
written before each server starts) passes, anything else is appended as it is, with its
call path, to `findings.jsonl` there (as is a line when each process starts), and the
session judges it after each test.

Cost: one dictionary lookup per statement (a statement's exact text is judged once; an
EXECUTE is looked up by name), a stack walk only for bad (or, in a server, unknown)
statements. The pytest side is `sql_scope_plugin`.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from adapters.sql import transaction
from tests.support.sql_text import fingerprint, normalise, prepared, split

ENV = "TEST_SQL_CAPTURE"  # the folder shared with server processes
OFF_ENV = "TEST_SQL_SCOPE"  # "0": no capture, no check
DUMP_ENV = "TEST_SQL_SCOPE_DUMP"  # a file: every distinct statement judged, to review
FINDINGS, KNOWN = "findings.jsonl", "known.txt"
ROOT = Path(__file__).resolve().parents[2]
_PROJECT = ("adapters", "domain", "entrypoints", "ports", "tests", "benchmarks", "scripts")
_OURS = {str(Path(__file__).resolve()), str(ROOT / "tests" / "support" / "run_ankiserv.py")}
_EXECUTE = re.compile(r"(?:(?:BEGIN|SET LOCAL)[^;']*; )*EXECUTE (\w+)")
_CACHE_LIMIT = 100_000


def _scope() -> Any:
    # Imported when first needed: a server process that meets only statements the test
    # session judged already never loads the parser.
    from tests.support import sql_scope

    return sql_scope


@dataclass(frozen=True)
class Finding:
    """A statement that concerns more than one user, as ankiserv sent it."""

    dialect: str
    sql: str  # normalised: values are '?' (of an EXECUTE: the body of its PREPARE)
    problems: tuple[str, ...]
    kind: str
    unpinned: frozenset[str]
    origin: tuple[str, ...]  # the call path: `path:qualname` of this repository's frames
    process: str = "test process"

    def describe(self) -> str:
        sql = self.sql if len(self.sql) <= 800 else self.sql[:800] + " ..."
        calls = [frame for frame in self.origin if not frame.startswith("tests/")][:8]
        return "\n".join([
            f"[{self.dialect}, {self.process}] {sql}",
            *(f"    problem: {p}" for p in self.problems),
            f"    sent by: {' <- '.join(calls) or '?'}",
        ])

    def to_json(self) -> str:
        return json.dumps({
            "dialect": self.dialect, "sql": self.sql, "problems": self.problems,
            "kind": self.kind, "unpinned": sorted(self.unpinned), "origin": self.origin,
            "process": self.process}) + "\n"

    @staticmethod
    def from_json(d: dict[str, Any]) -> Finding:
        return Finding(d["dialect"], d["sql"], tuple(d["problems"]), d["kind"],
                       frozenset(d["unpinned"]), tuple(d["origin"]), d["process"])


@dataclass(frozen=True)
class _Bad:
    verdict: Any  # sql_scope.Verdict
    text: str  # the statement, normalised (of an EXECUTE: its PREPARE's body)


_paths: dict[str, str | None] = {}


def _project_path(filename: str) -> str | None:
    """`filename` relative to the repository, if it is one of its source files."""
    found = _paths.get(filename, "")
    if found != "":
        return found
    rel: str | None = None
    if filename.startswith(str(ROOT) + os.sep) and filename not in _OURS:
        candidate = filename[len(str(ROOT)) + 1:]
        if candidate.split(os.sep, 1)[0] in _PROJECT:
            rel = candidate.replace(os.sep, "/")
    _paths[filename] = rel
    return rel


def origin(depth: int = 1) -> tuple[tuple[str, ...], bool]:
    """The frames of this repository calling here (innermost first), and whether the
    innermost is a test's own (a statement a test sent)."""
    frame: Any = sys._getframe(depth)
    chain: list[str] = []
    while frame is not None:
        rel = _project_path(frame.f_code.co_filename)
        if rel is not None:
            chain.append(f"{rel}:{frame.f_code.co_qualname}")
        frame = frame.f_back
    by_test = bool(chain) and chain[0].startswith(("tests/", "benchmarks/"))
    return tuple(chain), by_test


class Capture:
    """Sees statements, judges them, and hands findings to `found`.

    With `known` (a server process's: the fingerprints the session judged good), nothing
    is parsed here: a statement not known is handed to `found` as it is (kind
    "unjudged", once per call path) for the session to judge."""

    def __init__(self, found: Callable[[Finding], None], *, known: set[str] | None = None,
                 process: str = "test process") -> None:
        self.found = found
        self.process = process
        self.seen: Counter[str] = Counter()
        self.allowed: Counter[str] = Counter()
        self.good: set[str] = set()  # fingerprints of statements judged good
        self.everything: list[tuple[str, str]] | None = None  # set: every statement seen
        self.judged: list[tuple[str, str, bool]] | None = None  # set: (dialect, text, good)
        self._known = known
        self._verdicts: dict[str, dict[str, Any]] = {}  # dialect -> exact text -> verdict
        self._prepared: dict[str, Any] = {}  # PostgreSQL: statement name -> its verdict
        self._reported: set[tuple[str, str, tuple[str, ...]]] = set()
        self._lock = threading.Lock()

    # -- where statements come from ------------------------------------------------------

    def install(self) -> None:
        event.listen(Engine, "before_cursor_execute", self._sqlalchemy)
        transaction.OBSERVERS.append(self._driver)

    def uninstall(self) -> None:
        event.remove(Engine, "before_cursor_execute", self._sqlalchemy)
        transaction.OBSERVERS.remove(self._driver)

    def _sqlalchemy(self, conn: Any, _cursor: Any, statement: str, _params: Any,
                    _context: Any, _many: bool) -> None:
        self.saw(statement, conn.dialect.name, "sqlalchemy")

    def _driver(self, sql: str, _seconds: float) -> None:
        self.saw(sql, _guess_dialect(sql), "driver")

    # -- judging -------------------------------------------------------------------------

    def saw(self, sql: str, dialect: str, channel: str) -> None:
        self.seen[channel] += 1
        if self.everything is not None:
            self.everything.append((dialect, sql))
        cache = self._verdicts.get(dialect)
        if cache is None:
            cache = self._verdicts.setdefault(dialect, {})
        verdict = cache.get(sql)
        if verdict is None:
            verdict = self._judge(sql, dialect, cache)
        if verdict is True:
            return
        chain, by_test = origin(2)
        if not by_test:
            self._bad(dialect, verdict, chain)

    def _judge(self, sql: str, dialect: str, cache: dict[str, Any]) -> Any:
        """True (good), or a `_Bad`."""
        if dialect == "postgresql":
            executed = _EXECUTE.match(sql)
            if executed is not None:  # as its PREPARE was (never cached: values vary)
                self.seen["execute"] += 1
                return self._prepared.get(executed.group(1), True)
        bad: list[_Bad] = []
        for part in split(normalise(sql, dialect)):
            found = prepared(part)
            body = part if found is None else found[1]
            result = self.judge_part(body, dialect)
            if found is not None:
                self._prepared[found[0]] = result
            if result is not True:
                bad.append(result)
        verdict: Any = True
        if len(bad) == 1:
            verdict = bad[0]
        elif bad:
            verdict = _Bad(None if any(b.verdict is None for b in bad) else
                           _scope().merged([b.verdict for b in bad]),
                           "; ".join(b.text for b in bad))
        with self._lock:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[sql] = verdict
        return verdict

    def judge_part(self, text: str, dialect: str) -> Any:
        """True (good), or a `_Bad` (its verdict None: left to the session)."""
        digest = fingerprint(dialect, text)
        if self._known is not None:
            return True if digest in self._known else _Bad(None, text)
        judged = _scope().judge_statement(text, dialect)
        if self.judged is not None:
            self.judged.append((dialect, text, judged.ok))
        if judged.ok:
            self.good.add(digest)
            return True
        return _Bad(judged, text)

    def _bad(self, dialect: str, bad: _Bad, chain: tuple[str, ...]) -> None:
        verdict = bad.verdict
        if verdict is not None:
            entry = _scope().allowed(verdict.kind, verdict.unpinned, chain)
            if entry is not None:
                self.allowed[entry.function] += 1
                return
        # Once per statement; one left to the session, once per call path (ALLOWED may
        # cover it on one and not on another).
        key = (dialect, bad.text, chain if verdict is None else ())
        with self._lock:
            if key in self._reported:
                return
            self._reported.add(key)
        if verdict is None:
            self.found(Finding(dialect, bad.text, (), "unjudged", frozenset(), chain,
                               self.process))
        else:
            self.found(Finding(dialect, bad.text, verdict.problems, verdict.kind,
                               verdict.unpinned, chain, self.process))


def _guess_dialect(sql: str) -> str:
    """The database of a statement run on the driver's cursor (the hook does not say)."""
    if sql.startswith(("PREPARE", "EXECUTE", "BEGIN", "COPY", "COMMIT", "ROLLBACK", "SET")):
        return "postgresql"
    if "%s" in sql or "`" in sql:
        return "mysql"
    if "?" in sql or sql.startswith("INSERT INTO main."):
        return "sqlite"
    return "postgresql"  # a streaming read: plain SQL, parsed alike on every database


# -- server processes ---------------------------------------------------------------------


def _append(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write: lines of several processes do not mix
    finally:
        os.close(fd)


def install_in_server() -> None:
    """In a process a test started (`run_ankiserv`): judge what ankiserv sends, and
    append findings to the folder the test session named (nothing if it named none)."""
    folder = os.environ.get(ENV)
    if not folder:
        return
    path = Path(folder)
    try:
        known = set((path / KNOWN).read_text().split())
    except FileNotFoundError:
        known = set()
    process = f"server process ({' '.join(sys.argv[1:3])})"
    _append(path / FINDINGS, json.dumps({"started": process}) + "\n")
    capture = Capture(lambda finding: _append(path / FINDINGS, finding.to_json()),
                      known=known, process=process)
    capture.install()


# -- the test session ---------------------------------------------------------------------


@dataclass
class Charged:
    finding: Finding
    test: str


@dataclass
class Session:
    """The capture of a pytest session: findings charged to the test that was running."""

    folder: Path
    capture: Capture = field(init=False)
    test: str = "(before the first test)"
    findings: list[Charged] = field(default_factory=list)
    new: list[Charged] = field(default_factory=list)
    servers: int = 0  # server processes that captured
    server_allowed: Counter[str] = field(default_factory=Counter)  # ALLOWED covered there
    _offset: int = 0
    _known_written: int = -1
    _keys: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.capture = Capture(self._found)

    def _found(self, finding: Finding) -> None:
        key = (finding.dialect, finding.sql)
        if key in self._keys:
            return
        self._keys.add(key)
        charged = Charged(finding, self.test)
        self.findings.append(charged)
        self.new.append(charged)

    def read_servers(self) -> None:
        """Take in what server processes found since the last call."""
        path = self.folder / FINDINGS
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        if size <= self._offset:
            return
        with path.open("rb") as f:
            f.seek(self._offset)
            data = f.read(size - self._offset)
        complete = data[:data.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.decode().splitlines():
            record = json.loads(line)
            if "started" in record:
                self.servers += 1
                continue
            self._judge_server(Finding.from_json(record))

    def _judge_server(self, finding: Finding) -> None:
        """A server process's statement, as the session judges it."""
        scope = _scope()
        if finding.kind == "unjudged":
            parts = [self.capture.judge_part(part, finding.dialect)
                     for part in split(finding.sql)]
            bad = [p.verdict for p in parts if p is not True]
            if not bad:
                return
            verdict = scope.merged(bad)
            finding = replace(finding, problems=verdict.problems, kind=verdict.kind,
                              unpinned=verdict.unpinned)
        entry = scope.allowed(finding.kind, finding.unpinned, finding.origin)
        if entry is not None:
            self.server_allowed[entry.function] += 1
        else:
            self._found(finding)

    def write_known(self) -> None:
        """Tell server processes started from now what is judged good already."""
        good = self.capture.good
        if len(good) == self._known_written:
            return
        self._known_written = len(good)
        tmp = self.folder / f".{KNOWN}.{os.getpid()}"
        tmp.write_text("\n".join(sorted(good)))
        tmp.replace(self.folder / KNOWN)

    def take_new(self) -> list[Charged]:
        new, self.new = self.new, []
        return new

    def summary(self) -> str:
        seen, allowed = self.capture.seen, self.capture.allowed
        functions = sorted(set(allowed) | set(self.server_allowed))
        allowed_text = ", ".join(f"{allowed[f]}+{self.server_allowed[f]} under {f}"
                                 for f in functions)
        return (f"sql scope: {seen['sqlalchemy'] + seen['driver']:,} statements checked in"
                f" this process ({seen['sqlalchemy']:,} through SQLAlchemy,"
                f" {seen['driver']:,} on the driver's cursor, {seen['execute']:,} of them"
                f" EXECUTE; {len(self.capture.good):,} distinct good) and more in"
                f" {self.servers} server processes; spanning users as ALLOWED lets them"
                f" (here+in servers): {allowed_text or 'none'}; not scoped to one user:"
                f" {len(self.findings)}")


SESSION: Session | None = None


def start_session() -> Session | None:
    """Capture from now on, unless TEST_SQL_SCOPE=0."""
    global SESSION
    if os.environ.get(OFF_ENV, "1") == "0":
        return None
    folder = Path(tempfile.mkdtemp(prefix="ankiserv-sql-scope-"))
    SESSION = Session(folder)
    if os.environ.get(DUMP_ENV):
        SESSION.capture.judged = []
    SESSION.capture.install()
    os.environ[ENV] = str(folder)
    return SESSION


def server_env() -> dict[str, str]:
    """What a server process a test starts needs to capture too (empty when off)."""
    if SESSION is None:
        return {}
    SESSION.write_known()
    return {ENV: str(SESSION.folder)}


@contextmanager
def collecting(*, everything: bool = False
               ) -> Iterator[tuple[list[Finding], list[tuple[str, str]]]]:
    """Findings (and, if asked, every statement: (dialect, text)) seen inside the block,
    handed to the caller instead of the session: the checker's own tests send bad
    statements on purpose."""
    found: list[Finding] = []
    seen: list[tuple[str, str]] = []
    capture = Capture(found.append)
    if everything:
        capture.everything = seen
    session = SESSION
    if session is not None:
        session.capture.uninstall()
    capture.install()
    try:
        yield found, seen
    finally:
        capture.uninstall()
        if session is not None:
            session.capture.install()


def report(charged: list[Charged]) -> str:
    lines = [f"{len(charged)} statement(s) not scoped to one user_id (see"
             " tests/support/sql_scope.py; allow one that spans users on purpose in"
             " ALLOWED, with its reason):"]
    for c in charged:
        lines += ["", f"test: {c.test}", c.finding.describe()]
    return "\n".join(lines)
