"""Everything a collection file holds that a client reads, for comparing two files."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def file_content(path: Path) -> dict[str, Any]:
    """The col row, and the rows of notes, cards, review log and graves, sorted."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        content: dict[str, Any] = {
            table: sorted(con.execute(f"SELECT * FROM {table}").fetchall())
            for table in ("notes", "cards", "revlog")
        }
        content["graves"] = sorted(con.execute("SELECT usn, oid, type FROM graves").fetchall())
        content["col"] = con.execute(
            "SELECT crt, mod, scm, ver, dty, usn, ls, conf, models, decks, dconf, tags FROM col"
        ).fetchall()
        return content
    finally:
        con.close()
