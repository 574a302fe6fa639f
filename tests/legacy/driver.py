"""Drive one Anki profile with whatever `anki` release the running interpreter has.

Run with the Python of a venv that holds `anki` (any release from 2.1.28 on):

    python driver.py PROFILE_DIR http://host:port/

It opens `PROFILE_DIR/collection.anki2` and keeps it open, like a desktop profile. Each
line on stdin is one command, `{"op": "sync"}` or `{"op": "add_note", "front": ...}` (the
methods of `Driver`); for each, one stdout line is `RESULT ` + `{"result": ...,
"error": null | {...}}` (other output may appear on other lines). A first such line
reports the release once the collection is open. EOF closes the collection. The host key
from `login` is kept in `PROFILE_DIR/auth.json`, so a later process can reuse it.

Only the stdlib and `anki` may be imported here: this file runs outside the test venv.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

RESULT_PREFIX = "RESULT "


class Driver:
    """One profile and the API differences between `anki` releases."""

    def __init__(self, profile: Path, endpoint: str) -> None:
        # NOTE: 2.1.28-2.1.56 read the server URL from these variables on every sync call;
        # 2.1.57+ take it from SyncAuth.endpoint. Setting both covers every release.
        os.environ["SYNC_ENDPOINT"] = endpoint + "sync/"
        os.environ["SYNC_ENDPOINT_MEDIA"] = endpoint + "msync/"
        from anki.collection import Collection

        profile.mkdir(parents=True, exist_ok=True)
        self.profile, self.endpoint = profile, endpoint
        # Any: the API differs between releases, and this file checks what exists.
        self.col: Any = Collection(str(profile / "collection.anki2"))
        self.version = _anki_version()

    # ---- sync -----------------------------------------------------------------------

    def _api(self, name: str) -> Any:
        # NOTE: up to 2.1.40 these exist only on the backend object.
        method = getattr(self.col, name, None)
        if method is None:
            backend = getattr(self.col, "backend", None) or self.col._backend
            method = getattr(backend, name)
        return method

    def _legacy_transaction(self) -> bool:
        # NOTE: while `save` takes `trx` (up to 2.1.66) the Python side keeps a transaction
        # open and the backend refuses to sync inside it ("cannot start a transaction
        # within a transaction"): commit before each sync call and begin again after it.
        return hasattr(self.col.db, "begin") and "trx" in inspect.signature(
            self.col.save).parameters

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        legacy = self._legacy_transaction()
        if legacy:
            self.col.save(trx=False)
        try:
            return self._api(name)(*args, **kwargs)
        finally:
            if legacy and self.col.db is not None:
                self.col.db.begin()

    def login(self, user: str, password: str) -> dict[str, Any]:
        if "endpoint" in inspect.signature(self._api("sync_login")).parameters:
            auth = self._call("sync_login", user, password, self.endpoint)
        else:
            # The backend methods of 2.1.28-2.1.40 take keyword arguments only.
            auth = self._call("sync_login", username=user, password=password)
        (self.profile / "auth.json").write_text(json.dumps({"hkey": auth.hkey}))
        return {"hkey": auth.hkey}

    def _auth(self) -> Any:
        auth_type = _sync_auth_type()
        hkey = json.loads((self.profile / "auth.json").read_text())["hkey"]
        if "endpoint" in auth_type.DESCRIPTOR.fields_by_name:
            return auth_type(hkey=hkey, endpoint=self.endpoint)
        return auth_type(hkey=hkey)

    def sync(self) -> dict[str, Any]:
        """A normal sync; a full sync is only reported (`required` 2, 3 or 4)."""
        params = inspect.signature(self._api("sync_collection")).parameters
        if "sync_media" in params:
            out = self._call("sync_collection", self._auth(), sync_media=False)
        else:
            out = self._call("sync_collection", self._auth())
        return {"required": int(out.required), "server_message": out.server_message}

    def full_upload(self) -> dict[str, Any]:
        return self._full_sync(upload=True)

    def full_download(self) -> dict[str, Any]:
        return self._full_sync(upload=False)

    def _full_sync(self, *, upload: bool) -> dict[str, Any]:
        auth = self._auth()
        self.col.close_for_full_sync()
        try:
            if hasattr(self.col, "full_upload_or_download"):
                self.col.full_upload_or_download(auth=auth, server_usn=None, upload=upload)
            else:
                self._api("full_upload" if upload else "full_download")(auth)
        finally:
            self.col.reopen(after_full_sync=True)
        return {}

    def sync_media(self) -> dict[str, Any]:
        self._call("sync_media", self._auth())
        # NOTE: 23.10+ sync media in the background; older releases block.
        status = getattr(self.col, "media_sync_status", None)
        deadline = time.monotonic() + 120
        while status is not None and status().active:
            if time.monotonic() > deadline:
                raise TimeoutError("media sync did not finish")
            time.sleep(0.02)
        return {}

    # ---- editing --------------------------------------------------------------------

    def add_note(self, front: str, back: str = "", deck: str = "Default",
                 tags: list[str] | None = None) -> dict[str, Any]:
        col = self.col
        did = col.decks.id(deck)
        if hasattr(col, "new_note"):
            note = col.new_note(col.models.by_name("Basic"))
        else:
            note = col.newNote()
        note["Front"], note["Back"] = front, back
        note.tags = list(tags or [])
        if "deck_id" in inspect.signature(getattr(col, "add_note", col.addNote)).parameters:
            col.add_note(note, did)
        else:
            note.model()["did"] = did
            col.addNote(note)
        cids = col.db.list("select id from cards where nid = ? order by ord", note.id)
        return {"id": int(note.id), "cards": [int(c) for c in cids]}

    def edit_note(self, id: int, front: str | None = None, back: str | None = None,
                  tags: list[str] | None = None) -> dict[str, Any]:
        col = self.col
        note = col.get_note(id) if hasattr(col, "get_note") else col.getNote(id)
        if front is not None:
            note["Front"] = front
        if back is not None:
            note["Back"] = back
        if tags is not None:
            note.tags = list(tags)
        if hasattr(col, "update_note"):
            col.update_note(note)
        else:
            note.flush()
        return {"mod": int(note.mod)}

    def delete_note(self, id: int) -> dict[str, Any]:
        remove = getattr(self.col, "remove_notes", None) or self.col.remNotes
        remove([id])
        return {}

    def add_deck(self, name: str) -> dict[str, Any]:
        return {"id": int(self.col.decks.id(name))}

    def rename_deck(self, id: int, name: str) -> dict[str, Any]:
        self.col.decks.rename(self.col.decks.get(id), name)
        return {}

    def delete_deck(self, id: int) -> dict[str, Any]:
        decks = self.col.decks
        if hasattr(decks, "remove"):
            decks.remove([id])
        else:
            decks.rem(id, cardsToo=True)
        return {}

    def review(self, card_id: int, ease: int = 3) -> dict[str, Any]:
        col = self.col
        card = col.get_card(card_id) if hasattr(col, "get_card") else col.getCard(card_id)
        if hasattr(col.sched, "reset"):
            col.sched.reset()  # NOTE: the v1/v2 schedulers of 2.1.x count queues on reset
        (getattr(card, "start_timer", None) or card.startTimer)()
        col.sched.answerCard(card, ease)
        return {"reps": int(card.reps)}

    def add_media(self, name: str, text: str = "", b64: str = "") -> dict[str, Any]:
        data = base64.b64decode(b64) if b64 else text.encode("utf-8")
        write = getattr(self.col.media, "write_data", None) or self.col.media.writeData
        return {"name": write(name, data)}

    def delete_media(self, name: str) -> dict[str, Any]:
        self.col.media.trash_files([name])
        return {}

    def dump(self) -> dict[str, Any]:
        return snapshot(self.col)

    def close(self) -> None:
        if self.col.db is not None:
            self.col.close()


def snapshot(col: Any) -> dict[str, Any]:
    """What a user sees, in a form two releases can compare: rows, deck names, media.

    Bookkeeping that legitimately differs between devices (usn, the sort field cache)
    is left out. Works with every release from 2.1.28 to 26.x.
    """
    db = col.db
    media_dir = Path(col.media.dir())
    return {
        "notes": db.all("select id, guid, mid, mod, tags, flds, flags from notes order by id"),
        "cards": db.all(
            "select id, nid, did, ord, mod, type, queue, due, ivl, factor, reps, lapses,"
            " left, odue, odid, flags, data from cards order by id"),
        "revlog": db.all("select id, cid, ease, ivl, lastIvl, factor, time, type from revlog"
                         " order by id"),
        "decks": sorted([int(d["id"]), d["name"]] for d in col.decks.all()),
        "notetypes": sorted([int(m["id"]), m["name"]] for m in col.models.all()),
        "media": {p.name: hashlib.sha1(p.read_bytes()).hexdigest()
                  for p in sorted(media_dir.iterdir()) if p.is_file()},
    }


def _sync_auth_type() -> Any:
    """The SyncAuth message class, which moved between modules over the releases."""
    import importlib

    for module in ("anki.sync", "anki.sync_pb2", "anki._backend.backend_pb2",
                   "anki.backend_pb2", "anki.rsbackend"):
        try:
            found = importlib.import_module(module)
        except ImportError:
            continue
        for holder in (found, getattr(found, "pb", None)):
            auth_type = getattr(holder, "SyncAuth", None)
            if auth_type is not None:
                return auth_type
    raise ImportError("no SyncAuth message in this anki release")


def _anki_version() -> str:
    try:
        from anki.buildinfo import version

        return str(version)
    except ImportError:  # pragma: no cover - very old releases
        return "unknown"


def _error(command: dict[str, Any], exc: BaseException) -> dict[str, Any]:
    kind = getattr(exc, "kind", None)
    return {
        "op": command.get("op"),
        "type": type(exc).__name__,
        "kind": getattr(kind, "name", None) if kind is not None else None,
        "message": str(exc),
        "traceback": traceback.format_exc(),
    }


def execute(driver: Driver, command: dict[str, Any]) -> dict[str, Any]:
    args = {k: v for k, v in command.items() if k != "op"}
    try:
        return {"result": getattr(driver, command["op"])(**args), "error": None}
    except Exception as exc:
        return {"result": None, "error": _error(command, exc)}


def main() -> None:
    profile, endpoint = Path(sys.argv[1]), sys.argv[2]
    driver = Driver(profile, endpoint)
    reply({"result": {"version": driver.version}, "error": None})
    try:
        for line in sys.stdin:
            if line.strip():
                reply(execute(driver, json.loads(line)))
    finally:
        driver.close()


def reply(outcome: dict[str, Any]) -> None:
    sys.stdout.write("\n" + RESULT_PREFIX + json.dumps(outcome) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
