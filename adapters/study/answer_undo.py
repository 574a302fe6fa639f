"""Undoing an answer given in the browser.

Anki keeps its undo steps in memory, and the study collection is opened anew for every
request, so the study device keeps its own, on disk beside the collection: what an answer
changed (the note's cards, the review-log row, the decks' counts for today), to put back
as Anki's undo does. The restored cards are marked changed, so the undo reaches the
account at the next sync; a review row that was already synced stays, here and on the
server (review rows have no deletions to sync), and an answer whose card has changed
since (another device's sync) is not undone."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from anki.collection import Collection
from anki.dbproxy import DBProxy

DEPTH = 20  # answers that can be undone, newest first
CARD_COLUMNS = ("did", "ord", "type", "queue", "due", "ivl", "factor", "reps", "lapses",
                "left", "odue", "odid", "flags", "data")


def _db(col: Collection) -> DBProxy:
    assert col.db is not None, "the collection is open"
    return col.db


def _cards(col: Collection, note_id: int) -> dict[str, list[Any]]:
    rows = _db(col).all(f"SELECT id, mod, {', '.join(CARD_COLUMNS)} FROM cards WHERE nid = ?",
                      note_id)
    return {str(row[0]): list(row[1:]) for row in rows}


def _decks(col: Collection, deck_id: int) -> list[dict[str, Any]]:
    deck = col.decks.get(deck_id, default=False)  # type: ignore[arg-type]
    if deck is None:
        return []
    return [dict(d) for d in [deck, *col.decks.parents(deck_id)]]  # type: ignore[arg-type]


class AnswerUndo:
    def __init__(self, folder: Path) -> None:
        self._path = folder / "undo.json"

    def _load(self) -> list[dict[str, Any]]:
        try:
            steps = json.loads(self._path.read_text())
        except (FileNotFoundError, ValueError):
            return []
        return steps if isinstance(steps, list) else []

    def _save(self, steps: list[dict[str, Any]]) -> None:
        partial = self._path.with_suffix(".partial")
        partial.write_text(json.dumps(steps[-DEPTH:]))
        partial.replace(self._path)

    def before(self, col: Collection, card_id: int) -> dict[str, Any]:
        """What an answer to this card may change, as it is now."""
        card = col.get_card(card_id)  # type: ignore[arg-type]
        return {"card": card_id, "note": card.nid, "cards": _cards(col, card.nid),
                "decks": _decks(col, card.current_deck_id())}

    def answered(self, col: Collection, step: dict[str, Any]) -> None:
        """Keep `before`'s record as an undo step, now that the answer is in."""
        step["after"] = _cards(col, step["note"])
        step["revlog"] = _db(col).scalar("SELECT max(id) FROM revlog WHERE cid = ?", step["card"])
        self._save([*self._load(), step])

    def pending(self) -> bool:
        """Whether there is an answer to undo."""
        return bool(self._load())

    def forget(self) -> None:
        """After a full download, nothing left to undo refers to this collection."""
        self._path.unlink(missing_ok=True)

    def undo(self, col: Collection) -> bool:
        """Undo the newest answer; False if there is none, or its cards changed since."""
        steps = self._load()
        if not steps:
            return False
        step = steps.pop()
        self._save(steps)
        if _cards(col, step["note"]) != step["after"]:
            return False  # changed by a sync since: undoing would lose that change
        db, now = _db(col), int(time.time())
        for cid, row in step["cards"].items():
            after = step["after"].get(cid)
            if after is None or row == after:
                continue
            # A newer mod than the answer's, so the restored card wins over it everywhere.
            db.execute(f"UPDATE cards SET {', '.join(f'{c} = ?' for c in CARD_COLUMNS)},"
                       " mod = ?, usn = -1 WHERE id = ?", *row[1:], max(now, after[0] + 1),
                       int(cid))
        if step.get("revlog"):
            # Only a row the account has not got yet: a synced one stays (a device never
            # deletes review rows the server has, or the next sync's counts would differ).
            db.execute("DELETE FROM revlog WHERE id = ? AND usn = -1", step["revlog"])
        for deck in step["decks"]:
            current = col.decks.get(deck["id"], default=False)
            if current is not None:
                for key in ("newToday", "revToday", "lrnToday", "timeToday"):
                    current[key] = deck[key]
                col.decks.save(current)
        return True
