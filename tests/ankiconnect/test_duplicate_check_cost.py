"""AnkiConnect's duplicate check (canAddNotes, which Yomitan sends on every lookup; and
every addNote) reads only the notes sharing a first-field checksum and their cards: one
statement each, through an index bounded by more than the user (notes by csum, cards by
nid), never the user's whole collection. Each backend's planner is asked (EXPLAIN) after
ANALYZE, over a collection large enough that a scan would not be the cheap plan."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from domain.model import Card, Note, RowKind, UserId
from domain.sync.note_text import FIELD_SEPARATOR, field_checksum
from tests.ankiconnect.conftest import Connect

N_NOTES = 3000
BIG_TABLES = ("notes", "cards")
READS = re.compile(r"\bFROM\s+[`\"]?(notes|cards)\b", re.IGNORECASE)


def _fill(connect: Connect, n: int) -> None:
    """`n` Basic notes ("word 0" ... ) with one card each in the default deck, stored as a
    device would have synced them."""
    mid = connect.user.notetype_id("Basic")
    notes = [Note(10**9 + i, f"g{i}", mid, 1, 0, "", f"word {i}{FIELD_SEPARATOR}back",
                  f"word {i}", field_checksum(f"word {i}"), 0, "") for i in range(n)]
    cards = [Card(2 * 10**9 + i, 10**9 + i, 1, 0, 1, 0, 0, 0, i, 0, 0, 0, 0, 0, 0, 0, 0, "")
             for i in range(n)]
    with connect.user.api.services.api.uow() as uow:
        uow.collections.save_rows(UserId(connect.id), RowKind.NOTE, notes, [])
        uow.collections.save_rows(UserId(connect.id), RowKind.CARD, cards, [])
        uow.commit()


def _analyze(engine: Engine) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
        elif engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE notes, cards")
        else:
            conn.exec_driver_sql("ANALYZE TABLE notes, cards").all()
        conn.commit()


@contextmanager
def _reads_of_big_tables(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SELECTs on notes or cards run meanwhile, with their parameters (without the
    BEGIN that rides on a unit of work's first statement on PostgreSQL)."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, text: str, params: Any, _ctx: Any,
               many: bool) -> None:
        seen.extend((part, params[0] if many else params)
                    for part in re.split(r";\s+", text) if READS.search(part))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _plan(engine: Engine, statement: str, params: Any) -> tuple[list[str], list[str]]:
    """(indexes the plan reads notes or cards through, problems: a scan of a whole table,
    or of a whole user's rows), as each backend's EXPLAIN tells."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            details = [str(row[-1]) for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, params)]
            mine = [d for d in details if re.match(r"(SCAN|SEARCH) (notes|cards)\b", d)]
            return ([m.group(1) for d in mine if (m := re.search(r"INDEX (\w+)", d))],
                    [d for d in mine if d.startswith("SCAN") or d.endswith("(user_id=?)")])
        if engine.dialect.name == "postgresql":
            raw = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, params).scalar()
            nodes = list(_pg_nodes(raw if isinstance(raw, list) else json.loads(str(raw))))
            indexes = [str(n["Index Name"]) for n in nodes if "Index Name" in n]
            # A condition of user_id alone reads every row of the user.
            return indexes, [json.dumps(n) for n in nodes
                             if (n.get("Node Type") == "Seq Scan"
                                 and n.get("Relation Name") in BIG_TABLES)
                             or ("Index Cond" in n and " AND " not in str(n["Index Cond"]))]
        rows = [dict(r) for r in conn.exec_driver_sql("EXPLAIN " + statement, params)
                .mappings()]
        mine = [r for r in rows if r["table"] in BIG_TABLES]
        # A key of 8 bytes is user_id alone: every row of the user.
        return [str(r["key"]) for r in mine], [
            str(r) for r in mine if r["type"] in ("ALL", "index")
            or int(str(r["key_len"]).split(",")[0]) <= 8]


def _pg_nodes(found: Any) -> Iterator[dict[str, Any]]:
    """Every node of a PostgreSQL JSON plan (on Citus, the workers' plans too)."""
    if isinstance(found, dict):
        yield found
        for value in found.values():
            yield from _pg_nodes(value)
    elif isinstance(found, list):
        for value in found:
            yield from _pg_nodes(value)


def test_can_add_notes_reads_only_notes_sharing_a_checksum(stocked: Connect) -> None:
    _fill(stocked, N_NOTES)
    engine = stocked.user.api.services.engine
    _analyze(engine)
    notes = [{"deckName": "Default", "modelName": "Basic",
              "fields": {"Front": front, "Back": "b"}} for front in ("word 7", "new", "w 9")]
    with _reads_of_big_tables(engine) as reads:
        assert stocked.ok("canAddNotes", notes=notes) == [False, True, True]

    tables = sorted(m.group(1) for s, _ in reads if (m := READS.search(s)))
    assert tables == ["cards", "notes"], reads  # one statement each
    for statement, params in reads:
        indexes, problems = _plan(engine, statement, params)
        assert problems == [], statement
        wanted = "ix_notes_csum" if "FROM notes" in statement else "ix_cards_nid"
        # Citus names a shard's index after the shard: ix_notes_csum_102050.
        assert any(i == wanted or i.startswith(wanted + "_") for i in indexes), (
            statement, indexes)


def test_checksums_beyond_one_in_list_find_every_note_with_its_decks(alice: Connect) -> None:
    """More checksums (and notes found) than one IN list holds: the lookup goes in
    batches, and each note still comes with every deck its cards are in."""
    _fill(alice, 1200)
    user = UserId(alice.id)
    api = alice.user.api.services.api
    with api.uow() as uow:
        uow.collections.save_rows(user, RowKind.CARD, [
            Card(3 * 10**9, 10**9 + 5, 77, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "")], [])
        uow.commit()
    wanted = [field_checksum(f"word {i}") for i in reversed(range(1200))]
    found = api.notes_by_checksum(user, [*wanted, field_checksum("absent")])
    assert [n.id for n, _ in found] == [10**9 + i for i in range(1200)]
    assert {n.id: decks for n, decks in found if decks != {1}} == {10**9 + 5: {1, 77}}
