"""A normal sync touches only what changed: every query on the big tables is an index
search bounded by user and usn (or by id), never a scan of the user's collection."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from adapters.sql import schema
from adapters.sql.dialects import build_engine
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.model import Card, CollectionMeta, Credentials, Note, RevlogEntry, UserId
from domain.new_collection import new_collection
from domain.sync.server import SyncServer
from domain.sync.values import Chunk, Graves, SanityCounts, StartRequest, UnchunkedChanges
from tests.support.fakes import FakeClock

BIG_TABLES = ("notes", "cards", "revlog", "graves")
N_NOTES = 3000


@dataclass
class Contents:
    """A collection of `n` notes with one card and one review each, all synced (usn 0)."""

    n: int
    mid: int
    base: Any = field(default=None)

    def meta(self) -> CollectionMeta:
        return CollectionMeta(crt=1, mod=10_000, scm=5_000, ver=18, dty=0, usn=1, ls=10_000)

    def notes(self) -> Iterator[Note]:
        return (Note(i, f"g{i}", self.mid, 100, 0, "", f"q{i}\x1fa", f"q{i}", 1, 0, "")
                for i in range(1, self.n + 1))

    def cards(self) -> Iterator[Card]:
        return (Card(10**6 + i, i, 1, 0, 100, 0, 2, 2, 5, 1, 2500, 1, 0, 0, 0, 0, 0, "{}")
                for i in range(1, self.n + 1))

    def revlog(self) -> Iterator[RevlogEntry]:
        return (RevlogEntry(10**9 + i, 10**6 + i, 0, 3, 1, 0, 2500, 900, 1)
                for i in range(1, self.n + 1))

    def graves(self) -> Iterator[Any]:
        return iter([])

    def notetypes(self) -> Iterator[Any]:
        return iter(self.base.notetypes)

    def decks(self) -> Iterator[Any]:
        return iter(self.base.decks)

    def deck_configs(self) -> Iterator[Any]:
        return iter(self.base.deck_configs)

    def config(self) -> Iterator[Any]:
        return iter(self.base.config)

    def tags(self) -> Iterator[Any]:
        return iter([])


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = build_engine(f"sqlite:///{tmp_path / 'cost.db'}")
    schema.upgrade(eng)
    yield eng
    eng.dispose()


def capture(engine: Engine) -> list[tuple[str, Any]]:
    statements: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any,
                many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            statements.append((statement, params[0] if many else params))

    return statements


def full_scans(engine: Engine, statements: list[tuple[str, Any]]) -> list[str]:
    scans = []
    with engine.connect() as conn:
        for statement, params in statements:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            for row in plan:
                detail = str(row[-1])
                whole_table = re.match(rf"SCAN ({'|'.join(BIG_TABLES)})\b", detail)
                # Bounded only by user: reads the user's whole collection (unless EXISTS).
                whole_user = re.match(rf"SEARCH ({'|'.join(BIG_TABLES)}) .*\(user_id=\?\)$",
                                      detail) and "EXISTS" not in statement.upper()
                if whole_table or whole_user:
                    scans.append(f"{detail}: {statement}")
    return scans


def test_normal_sync_with_ten_changes_never_scans_the_collection(engine: Engine) -> None:
    clock = FakeClock()
    server = SyncServer(uow=SqlUnitOfWorkFactory(engine), clock=clock)
    user = UserId(1)
    base = new_collection(clock.now_ms())
    with SqlUnitOfWorkFactory(engine)() as uow:
        uow.collections.create(user, base)
        uow.commit()
    mid = base.notetypes[0].id
    server.upload(Credentials(user), Contents(N_NOTES, mid, base))  # type: ignore[arg-type]
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))

    statements = capture(engine)
    changed = tuple(Note(i, f"g{i}", mid, 200, 1, "", f"edited {i}\x1fa", "", 0, 0, "")
                    for i in range(1, 11))
    server.start(Credentials(user), "s", StartRequest(1, True))
    server.apply_graves(Credentials(user), "s", Graves(cards=(10**6 + 20,)))
    server.apply_changes(Credentials(user), "s", UnchunkedChanges(tags=("new",)))
    while not server.chunk(Credentials(user), "s").done:
        pass
    server.apply_chunk(Credentials(user), "s", Chunk(True, notes=changed))
    counts = SanityCounts((0, 0, 0), N_NOTES - 1, N_NOTES, N_NOTES, 0, 1, 1, 1)
    assert server.sanity_check(Credentials(user), "s", counts).ok
    server.finish(Credentials(user), "s")

    assert statements, "no statements were captured"
    assert full_scans(engine, statements) == []
