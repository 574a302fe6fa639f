"""Collection files made by the real `anki` package, and ways to inspect or damage them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anki.collection import Collection
from anki.decks import DeckId
from anki.models import NotetypeId

NOTE_COLUMNS = "id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data"
CARD_COLUMNS = ("id, nid, did, ord, mod, usn, type, queue, due, ivl, factor, reps, lapses,"
                " left, odue, odid, flags, data")
REVLOG_COLUMNS = "id, cid, usn, ease, ivl, lastIvl, factor, time, type"
ROW_QUERIES = {
    "notes": f"SELECT {NOTE_COLUMNS} FROM notes ORDER BY id",
    "cards": f"SELECT {CARD_COLUMNS} FROM cards ORDER BY id",
    "revlog": f"SELECT {REVLOG_COLUMNS} FROM revlog ORDER BY id",
}


@dataclass(frozen=True)
class CollectionFile:
    """The bytes of a closed collection, plus what `anki` put in it."""

    data: bytes
    schema: int
    note_count: int
    rows: dict[str, list[tuple[Any, ...]]]
    col: tuple[int, int, int, int]  # (ver, usn, mod, scm)


def _unicase(a: str, b: str) -> int:
    fa, fb = a.casefold(), b.casefold()
    return (fa > fb) - (fa < fb)


def connect(path: Path) -> sqlite3.Connection:
    """Open a collection file with the collation its schema-18 indexes need."""
    con = sqlite3.connect(path)
    con.create_collation("unicase", _unicase)
    return con


def read_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = connect(path)
    try:
        return {table: con.execute(sql).fetchall() for table, sql in ROW_QUERIES.items()}
    finally:
        con.close()


def read_col(path: Path) -> tuple[int, int, int, int]:
    con = connect(path)
    try:
        ver, usn, mod, scm = con.execute("SELECT ver, usn, mod, scm FROM col").fetchone()
        return int(ver), int(usn), int(mod), int(scm)
    finally:
        con.close()


def describe(path: Path) -> CollectionFile:
    """Read a file's rows from a scratch copy, so sqlite never touches the original bytes."""
    data = path.read_bytes()
    scratch = path.with_name(path.name + ".inspect")
    scratch.write_bytes(data)
    try:
        col = read_col(scratch)
        rows = read_rows(scratch)
    finally:
        for extra in ("", "-wal", "-shm", "-journal"):
            Path(str(scratch) + extra).unlink(missing_ok=True)
    return CollectionFile(data=data, schema=col[0], note_count=len(rows["notes"]), rows=rows,
                          col=col)


def build(directory: Path, fronts: list[str], *, reviews: int = 0,
          downgrade: bool = False) -> CollectionFile:
    """Create a collection with one Basic note per front, answer `reviews` cards, close it.

    Every second note is tagged and goes to a nested deck with a non-ASCII name.

    `downgrade` closes it as schema 11 (rollback journal) like 2.1.28-2.1.56 clients upload;
    otherwise it stays schema 18 with a WAL header, like every current client uploads.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "collection.anki2"
    col = Collection(str(path))
    try:
        basic = col.models.by_name("Basic")
        assert basic is not None
        for i, front in enumerate(fronts):
            note = col.new_note(basic)
            note["Front"], note["Back"] = front, f"back of {front}"
            note.tags = ["odd", "nested::tag"] if i % 2 else []
            deck = "Languages::日本語" if i % 2 else "Default"
            deck_id = col.decks.id(deck)
            assert deck_id is not None
            col.add_note(note, deck_id)
        col.decks.select(DeckId(1))  # "Default"
        for _ in range(reviews):
            card = col.sched.getCard()
            assert card is not None
            col.sched.answerCard(card, 3)
    finally:
        col.close(downgrade=downgrade)
    return describe(path)


def note_count_in_anki(path: Path) -> int:
    """Open `path` with the official client library (it upgrades schema 11 to 18)."""
    col = Collection(str(path))
    try:
        return int(col.note_count())
    finally:
        col.close()


def altered(data: bytes, scratch: Path, change: Callable[[sqlite3.Connection], object]
            ) -> bytes:
    """Return `data` after `change` ran on a copy of it (and was committed)."""
    scratch.parent.mkdir(parents=True, exist_ok=True)
    scratch.write_bytes(data)
    con = connect(scratch)
    try:
        change(con)
        con.commit()
    finally:
        con.close()
    result = scratch.read_bytes()
    for extra in ("", "-wal", "-shm", "-journal"):
        Path(str(scratch) + extra).unlink(missing_ok=True)
    return result


def integrity_ok(data: bytes, scratch: Path) -> bool:
    """Whether sqlite itself finds `data` sound (used to check a damaged file really is)."""
    scratch.write_bytes(data)
    try:
        con = connect(scratch)
        try:
            return bool(con.execute("PRAGMA integrity_check").fetchall() == [("ok",)])
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return False
    finally:
        for extra in ("", "-wal", "-shm", "-journal"):
            Path(str(scratch) + extra).unlink(missing_ok=True)


def copy_to(data: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path



def visible_objects(path: Path) -> dict[str, Any]:
    """Decks, presets, note types, tags and notes as `anki` shows them (not usn/mtime)."""
    col = Collection(str(path))
    try:
        notetypes = []
        for entry in col.models.all_names_and_ids():
            model = col.models.get(NotetypeId(entry.id))
            assert model is not None
            notetypes.append((model["name"], [f["name"] for f in model["flds"]],
                              [(t["name"], t["qfmt"], t["afmt"]) for t in model["tmpls"]],
                              model["css"]))
        notes = []
        for nid in sorted(col.find_notes("")):
            note = col.get_note(nid)
            notetype = note.note_type()
            assert notetype is not None
            notes.append((notetype["name"], list(note.fields), sorted(note.tags),
                          sorted(col.decks.name(c.did) for c in note.cards())))
        return {
            "decks": sorted(d.name for d in col.decks.all_names_and_ids()),
            "deck_configs": sorted(c["name"] for c in col.decks.all_config()),
            "notetypes": sorted(notetypes),
            "notes": notes,
            "sched_ver": col.get_config("schedVer", None),
            "creation_offset": col.get_config("creationOffset", None),
        }
    finally:
        col.close()
