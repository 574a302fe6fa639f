"""Generate realistic collections quickly: a real Anki file, rows bulk-inserted with sqlite."""

from __future__ import annotations

import random
import shutil
import sqlite3
from pathlib import Path

from anki.collection import Collection

_WORD_TEXT = (
    "time year people way day man thing woman life child world school state family "
    "student group country problem hand part place case week company system program "
    "question work government number night point home water room mother area money "
    "story fact month lot right study book eye job word business issue side kind head "
)
WORDS = tuple(_WORD_TEXT.split())


def generate(path: Path, notes: int, seed: int = 1) -> Path:
    """A schema-18 collection with `notes` Basic-and-reversed notes (2 cards each) and a
    review history of about 3 reviews for 60 % of the cards. Cached by path."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    col = Collection(str(tmp / "collection.anki2"))
    mid = col.models.by_name("Basic (and reversed card)")["id"]
    deck = col.decks.id("Vocabulary")
    col.close()
    rng = random.Random(seed)
    con = sqlite3.connect(tmp / "collection.anki2")
    base = 1_700_000_000_000
    note_rows, card_rows, revlog_rows = [], [], []
    for i in range(notes):
        nid = base + i
        front = " ".join(rng.choice(WORDS) for _ in range(3)) + f" {i}"
        back = " ".join(rng.choice(WORDS) for _ in range(12))
        note_rows.append((nid, f"g{i:09d}", mid, 1_700_000_000, -1, " vocab ",
                          f"{front}\x1f{back}", front, rng.randrange(2**32), 0, ""))
        for ord_ in (0, 1):
            cid = base + 10 * notes + 2 * i + ord_
            reviewed = rng.random() < 0.6
            card_rows.append((cid, nid, deck, ord_, 1_700_000_000, -1, 2 if reviewed else 0,
                              2 if reviewed else 0, rng.randrange(1, 400) if reviewed else i,
                              rng.randrange(1, 200) if reviewed else 0,
                              2500 if reviewed else 0, 3 if reviewed else 0, 0, 0, 0, 0, 0,
                              "{}"))
            if reviewed:
                for r in range(3):
                    revlog_rows.append((base + 100 * notes + 6 * i + 3 * ord_ + r, cid, -1,
                                        3, r + 1, r, 2500, rng.randrange(2000, 20000), 1))
    con.executemany("insert into notes values (?,?,?,?,?,?,?,?,?,?,?)", note_rows)
    con.executemany("insert into cards values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", card_rows)
    con.executemany("insert into revlog values (?,?,?,?,?,?,?,?,?)", revlog_rows)
    con.execute("update col set mod = mod + 1")
    con.commit()
    con.close()
    Collection(str(tmp / "collection.anki2")).close()  # let Anki check and checkpoint it
    tmp.rename(path)
    return path
