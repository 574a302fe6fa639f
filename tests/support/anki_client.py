"""Drive the official `anki` client library (26.x, protocol v11) against a server."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anki.collection import Collection
from anki.sync import SyncAuth


@dataclass
class Profile:
    """One device: a collection file plus the auth it got from login."""

    col: Collection
    path: Path
    auth: SyncAuth | None = None

    @classmethod
    def create(cls, directory: Path) -> Profile:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "collection.anki2"
        return cls(Collection(str(path)), path)

    def login(self, user: str, password: str, endpoint: str) -> SyncAuth:
        self.auth = self.col.sync_login(user, password, endpoint)
        return self.auth

    def sync(self, *, upload: bool | None = None) -> int:
        """Sync like desktop; for a full sync, `upload` picks the direction when asked.

        Returns the `required` value the first collection sync reported.
        """
        assert self.auth is not None
        out = self.col.sync_collection(self.auth, sync_media=False)
        full = (out.FULL_UPLOAD, out.FULL_DOWNLOAD, out.FULL_SYNC)
        if out.required in full:
            if out.required == out.FULL_SYNC:
                assert upload is not None, "full sync needs a direction"
                direction = upload
            else:
                direction = out.required == out.FULL_UPLOAD
            self.col.close_for_full_sync()
            self.col.full_upload_or_download(
                auth=self.auth, server_usn=out.server_media_usn, upload=direction
            )
            self.col.reopen(after_full_sync=True)
        return int(out.required)

    def close(self) -> None:
        self.col.close()


_last_add_ms = [0.0]


def add_basic_note(col: Collection, front: str, back: str = "", deck: str = "Default",
                   tags: list[str] | None = None) -> int:
    # Anki takes note and card ids from the clock in ms, unique per collection only: two
    # test devices adding notes in the same millisecond would create the same ids, a
    # collision no sync protocol resolves. Real devices are not that close in time.
    while time.time() * 1000 < _last_add_ms[0] + 3:
        time.sleep(0.001)
    note = col.new_note(col.models.by_name("Basic"))
    note["Front"], note["Back"] = front, back
    note.tags = tags or []
    col.add_note(note, col.decks.id(deck))
    _last_add_ms[0] = time.time() * 1000
    return int(note.id)


def content(col: Collection) -> dict[str, Any]:
    """What a user sees, for comparing two devices: rows and objects, not sync bookkeeping."""
    db = col.db
    return {
        "notes": db.all(
            "select id, guid, mid, mod, tags, flds, flags, data from notes order by id"
        ),
        "cards": db.all(
            "select id, nid, did, ord, mod, type, queue, due, ivl, factor, reps, lapses, left,"
            " odue, odid, flags, data from cards order by id"
        ),
        "revlog": db.all("select id, cid, ease, ivl, lastIvl, factor, time, type from revlog"
                         " order by id"),
        "decks": sorted(_strip(d) for d in map(json.dumps, col.decks.all())),
        "deck_configs": sorted(_strip(c) for c in map(json.dumps, col.decks.all_config())),
        "notetypes": sorted(_strip(m) for m in map(json.dumps, col.models.all())),
        "tags": sorted(col.tags.all()),
    }


def _strip(text: str) -> str:
    """Drop the usn, which legitimately differs between the uploader and the downloader."""
    obj = json.loads(text)
    obj.pop("usn", None)
    for tmpl in obj.get("tmpls", []):
        tmpl.pop("usn", None)
    return json.dumps(obj, sort_keys=True)


def file_meta(path: Path) -> tuple[int, int, int, int]:
    """(ver, usn, mod, scm) of a collection file on disk."""
    con = sqlite3.connect(path)
    try:
        row = con.execute("select ver, usn, mod, scm from col").fetchone()
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])
    finally:
        con.close()
