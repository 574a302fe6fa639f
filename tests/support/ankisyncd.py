"""An ankisyncd (anki-sync-server 2.4.0) for the tests: its data folder, and a server that
real legacy clients (anki 2.1.54 via `tests/legacy/driver.py`) log in to and sync with.

    with run_ankisyncd(data_root, {"alice": "pw"}) as endpoint:   # "http://127.0.0.1:N/"
        ...   # drive devices with SYNC_ENDPOINT=endpoint + "sync/" (driver.py does that)
    # data_root now holds what ankisyncd leaves on disk, the server stopped (SIGINT)

Why this is not the PyPI package
--------------------------------
ankisyncd cannot be installed from PyPI. `anki-sync-server` has one release there, 2.4.0
(2022-07), and both its wheel and its sdist hold no code at all: only `ankisyncd.conf`,
`requirements*.txt` and `setup.py` (its pyproject says `packages = [{include = "*",
from = "src"}]`, which picks up the top-level files of `src/` and not the packages). So
`pip install anki-sync-server` succeeds and `python -m ankisyncd` fails with "No module
named ankisyncd". The code lives only in the GitHub repository
(ankicommunity/ankicommunity-sync-server, formerly ankicommunity/anki-sync-server, tag
v2.4.0; develop after it is a refactor with the same behaviour), which the test machines
cannot reach. The program itself runs fine on Python 3.11 with anki 2.1.49 and the pins
of its last requirements.txt (REQUIREMENTS below): that was checked by hand against a
checkout, with anki 2.1.54 devices (login, full and normal sync, media sync all work).
anki 26.x (protocol v11) cannot log in to ankisyncd at all (HTTP 500 at hostKey).

What this module does instead
-----------------------------
It runs, in a dedicated venv (`.venv-ankisyncd/2.1.49`: anki 2.1.49 and the pins below,
all from PyPI, created once under a file lock like `tests/legacy/clients.py` does), a
small server of its own (`serve`, at the bottom of this file) that answers the legacy
sync protocol (v10: `/sync/*`, `/msync/*`) exactly the way ankisyncd 2.4.0 does and keeps
its files exactly where and how ankisyncd keeps them:

- the server-side collection is opened by the real anki 2.1.49 library with
  `Collection(path, server=True)`, and every merge step calls the same anki 2.1.49 API
  (`models.update`, `decks.update`/`updateConf`, `set_config`, `remove_notes`,
  `remove_cards_and_orphaned_notes`, `decks.remove`, `after_note_updates`, the same SQL
  for chunks, graves and `finish`), so the collection file ends up as ankisyncd's does:
  schema 18, WAL journal mode, server-side usns, `collection.anki2.tmp` left over from
  every full upload;
- `collection.media/` and `collection.media.server.db` (table `media(fname, usn, csum)`,
  deletions as `csum NULL`, `usn` = max(usn)), with ankisyncd's quirks: a deletion is
  sent to clients as JSON null (anki >= 2.1.28 clients then fail their media sync), and
  an upload batch that deletes and adds files at once fails its assertion (HTTP 500)
  after having applied part of the batch;
- `auth.db` (`auth(username, hash)`, hash = sha256(username + password + salt).hexdigest()
  + salt, salt 16 hex digits) and `session.db` (`session(hkey, skey, username, path)`),
  host keys md5 hex of "user:time:random";
- every error (bad password, unknown host key, unknown path) is an HTTP 500, as in 2.4.0
  (webob exceptions are raised past wsgiref there); idle collections are closed after
  90 s; SIGINT closes every collection (no WAL file left), SIGTERM/SIGKILL do not.

What it leaves out: the 501 for pre-2.0.27 desktop / pre-2.2.3 AnkiDroid clients, the
upload size limits, and the `*_manager`/`collection_wrapper` plug-in settings.

The real thing
--------------
Set ANKISYNCD_SOURCE to the `src` folder of an ankisyncd checkout (the folder holding the
`ankisyncd` package) and the same fixture runs `python -m ankisyncd` from it instead, in
the same venv; the demo test `tests/e2e/test_ankisyncd_fixture.py` passes against both
(checked with 2.4.0 and develop). A longer scenario (bad login, review, full upload and
download, note delete/edit, deck add, media add/delete, two users, SIGINT, SIGKILL, idle
close, restart with the old host keys) gave the same client results and the same files
from both: file list, schema, col usn/mod/ls, per-table usns, graves, tags, config, media
rows, sessions, auth.

Layout of `data_root` (mirrors the official Docker image, whose /app/data holds
auth.db, session.db and collections/):

    data_root/auth.db
    data_root/session.db
    data_root/collections/<user>/collection.anki2          (+ .tmp after a full upload)
    data_root/collections/<user>/collection.media/<file>
    data_root/collections/<user>/collection.media.server.db

`collections=None` puts the user folders in `data_root` itself (the NixOS module's
layout). The config file and the server log go beside `data_root`
(`<data_root>.ankisyncd.conf`, `<data_root>.ankisyncd.log`), not into it.

When this file runs as a script (`python ankisyncd.py serve CONFIG`, under the venv's
python) only the stdlib and anki 2.1.49 are imported.
"""

from __future__ import annotations

import binascii
import configparser
import contextlib
import gzip
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import string
import subprocess
import sys
import time
import traceback
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_ROOT = REPO_ROOT / ".venv-ankisyncd"
ANKI_VERSION = "2.1.49"
# The pins of ankisyncd's last requirements.txt (develop, 2024-01; 2.4.0 had the same anki
# but protobuf 4.21.2, which anki 2.1.49's generated modules only import with the
# pure-Python switch; develop went back to 3.20.2 "before breaking change"), less what
# only ankisyncd's dev tools or Windows need. webob serves a real checkout (ANKISYNCD_SOURCE).
REQUIREMENTS = (
    "anki==2.1.49", "protobuf==3.20.2", "webob==1.8.7", "beautifulsoup4==4.12.2",
    "soupsieve==2.5", "decorator==4.4.2", "distro==1.9.0", "markdown==3.5.2",
    "orjson==3.9.10", "requests==2.31.0", "urllib3==2.1.0", "certifi==2023.11.17",
    "charset-normalizer==3.3.2", "idna==3.6", "pysocks==1.7.1", "send2trash==1.8.2",
    "stringcase==1.2.0",
)
SOURCE_ENV = "ANKISYNCD_SOURCE"
SYNC_VER = 10
SYNC_ZIP_SIZE = int(2.5 * 1024 * 1024)
SYNC_ZIP_COUNT = 25
IDLE_CLOSE_SECONDS = 90  # ankisyncd's ThreadingCollectionManager.monitor_inactivity
AUTH_DDL = ("CREATE TABLE IF NOT EXISTS auth\n"
            "                          (username VARCHAR PRIMARY KEY, hash VARCHAR)")
SESSION_DDL = ("CREATE TABLE session (hkey VARCHAR PRIMARY KEY, skey VARCHAR, "
               "username VARCHAR, path VARCHAR)")
MEDIA_DDL = """CREATE TABLE media (
                       fname TEXT NOT NULL PRIMARY KEY,
                       usn INT NOT NULL,
                       csum TEXT -- null if deleted
                   );
                CREATE INDEX idx_media_usn ON media (usn);"""


class AnkisyncdUnavailable(Exception):
    """The venv could not be made (pip failed, anki 2.1.49 does not import)."""


# ---- the test side ------------------------------------------------------------------


def ensure_ankisyncd_venv(*, timeout: float = 900) -> Path:
    """The python of `.venv-ankisyncd/2.1.49`, creating the venv when missing or stale."""
    from tests.legacy.clients import ClientUnavailable, _locked, _run, base_python

    VENV_ROOT.mkdir(parents=True, exist_ok=True)
    ignore = VENV_ROOT / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    venv = VENV_ROOT / ANKI_VERSION
    python = venv / "bin" / "python"
    stamp = venv / "ankiserv-requirements.txt"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    with _locked(VENV_ROOT / f"{ANKI_VERSION}.lock"):
        if stamp.exists() and stamp.read_text() == wanted and _probe(python) == ANKI_VERSION:
            return python
        shutil.rmtree(venv, ignore_errors=True)
        try:
            _run([base_python(), "-m", "venv", str(venv)], "python3 -m venv", timeout)
            _run([str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS],
                 "pip install " + " ".join(REQUIREMENTS), timeout)
        except ClientUnavailable as e:
            shutil.rmtree(venv, ignore_errors=True)
            raise AnkisyncdUnavailable(str(e)) from None
        found = _probe(python)
        if found != ANKI_VERSION:
            shutil.rmtree(venv, ignore_errors=True)
            raise AnkisyncdUnavailable(f"anki {ANKI_VERSION} installed but imports as {found}")
        stamp.write_text(wanted)
        return python


def _probe(python: Path) -> str | None:
    if not python.exists():
        return None
    done = subprocess.run(
        [str(python), "-c", "import anki.collection, anki.buildinfo as b; print(b.version)"],
        capture_output=True, text=True, env=_server_env(), timeout=120, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def _server_env(source: Path | None = None) -> dict[str, str]:
    from tests.legacy.clients import client_env

    # client_env drops SYNC_* and ANKI* (so ANKISYNCD_* overrides of the real config loader
    # too) and PYTHONPATH; 2.1.49 gets the pure-Python protobuf switch there.
    env = client_env(ANKI_VERSION)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def password_hash(username: str, password: str, salt: str | None = None) -> str:
    """What ankisyncd's SqliteUserManager stores in auth.hash: 64 hex digits, then the salt."""
    salt = salt if salt is not None else binascii.b2a_hex(os.urandom(8)).decode()
    return hashlib.sha256((username + password + salt).encode()).hexdigest() + salt


def password_matches(stored: str, username: str, password: str) -> bool:
    """ankisyncd's check: the salt is the last 16 characters of the stored hash."""
    return password_hash(username, password, stored[-16:]) == stored


@dataclass(frozen=True)
class AnkisyncdPaths:
    root: Path
    collections: Path
    auth_db: Path
    session_db: Path

    @classmethod
    def of(cls, data_root: Path, collections: str | None = "collections") -> AnkisyncdPaths:
        root = data_root.resolve()
        return cls(root, root / collections if collections else root,
                   root / "auth.db", root / "session.db")

    @property
    def config(self) -> Path:
        return self.root.with_name(self.root.name + ".ankisyncd.conf")

    @property
    def log(self) -> Path:
        return self.root.with_name(self.root.name + ".ankisyncd.log")

    def user_dir(self, user: str) -> Path:
        return self.collections / user


def add_users(paths: AnkisyncdPaths, users: dict[str, str]) -> None:
    """Add users like `ankisyncctl adduser` does: a row in auth.db and an empty folder.

    A user already there gets the new password (ankisyncctl would refuse: `passwd`).
    """
    paths.root.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(paths.auth_db)) as db:
        db.execute(AUTH_DDL)
        db.executemany("INSERT OR REPLACE INTO auth VALUES (?, ?)",
                       [(u, password_hash(u, p)) for u, p in users.items()])
        db.commit()
    for user in users:
        paths.user_dir(user).mkdir(parents=True, exist_ok=True)


def write_config(paths: AnkisyncdPaths) -> None:
    paths.config.write_text(
        "[sync_app]\n"
        "host = 127.0.0.1\n"
        "port = 0\n"
        f"data_root = {paths.collections}\n"
        "base_url = /sync/\n"
        "base_media_url = /msync/\n"
        f"auth_db_path = {paths.auth_db}\n"
        f"session_db_path = {paths.session_db}\n")


@dataclass
class AnkisyncdServer:
    """One ankisyncd process (the emulation below, or a real checkout's) on a free port."""

    python: Path
    paths: AnkisyncdPaths
    source: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    port: int = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 60) -> None:
        write_config(self.paths)
        if self.source is not None:
            command = [str(self.python), "-m", "ankisyncd", str(self.paths.config)]
        else:
            command = [str(self.python), str(Path(__file__).resolve()), "serve",
                       str(self.paths.config)]
        offset = self.paths.log.stat().st_size if self.paths.log.exists() else 0
        with self.paths.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.paths.root, env=_server_env(self.source))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"Serving HTTP on \S+ port (\d+)", self.log(offset))
            if found:
                self.port = int(found.group(1))
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"ankisyncd did not start; its log:\n{self.log()[-4000:]}")

    def stop(self, timeout: float = 60) -> None:
        """SIGINT, as Ctrl-C: ankisyncd closes every collection, then exits."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash or `docker kill`: open collections keep their WAL files."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def log(self, offset: int = 0) -> str:
        """The server's log (from byte `offset`); runs on the same data_root append to it."""
        try:
            with self.paths.log.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""


@contextlib.contextmanager
def run_ankisyncd(data_root: Path, users: dict[str, str], *,
                  collections: str | None = "collections",
                  stop: str = "interrupt") -> Iterator[str]:
    """Start ankisyncd on `data_root` with `users` added; yield its endpoint URL.

    `stop` is how it ends: "interrupt" (SIGINT, a clean shutdown) or "kill" (SIGKILL).
    Raises AnkisyncdUnavailable when its venv cannot be made.
    """
    server = start_ankisyncd(data_root, users, collections=collections)
    try:
        yield server.endpoint
    finally:
        if stop == "kill":
            server.kill()
        else:
            server.stop()


def start_ankisyncd(data_root: Path, users: dict[str, str], *,
                    collections: str | None = "collections") -> AnkisyncdServer:
    source = os.environ.get(SOURCE_ENV)
    if source and not (Path(source) / "ankisyncd" / "__init__.py").exists():
        raise AnkisyncdUnavailable(f"{SOURCE_ENV}={source} holds no ankisyncd package")
    paths = AnkisyncdPaths.of(data_root, collections)
    add_users(paths, users)
    server = AnkisyncdServer(ensure_ankisyncd_venv(), paths, Path(source) if source else None)
    server.start()
    return server


# ---- the server side: runs under the venv's python, with anki 2.1.49 ------------------


def _log(name: str, message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    sys.stderr.write(f"[{stamp}]:INFO:{name}:{message}\n")
    sys.stderr.flush()


def _load_config(path: str) -> dict[str, str]:
    """ankisyncd.config.load: the [sync_app] section, then ANKISYNCD_* overrides."""
    parser = configparser.ConfigParser()
    parser.read(path)
    conf = dict(parser["sync_app"])
    conf.update({k[10:].lower(): v for k, v in os.environ.items()
                 if k.startswith("ANKISYNCD_")})
    return conf


def _checksum(data: bytes | str) -> str:
    """anki.utils.checksum: sha1 hex."""
    return hashlib.sha1(data.encode() if isinstance(data, str) else data).hexdigest()


class _MediaStore:
    """ankisyncd.media.ServerMediaManager: collection.media/ + collection.media.server.db."""

    def __init__(self, col_path: str) -> None:
        self.dir = re.sub(r"(?i)\.(anki2)$", ".media", col_path)
        path = self.dir + ".server.db"
        create = not os.path.exists(path)
        self.db = sqlite3.connect(path, timeout=0)
        if create:
            self.db.executescript(MEDIA_DDL)
            old = self.dir + ".db2"
            if os.path.exists(old):  # a tsudoko-era server kept the client's media db
                self.db.execute("ATTACH ? AS old", (old,))
                self.db.execute(
                    "INSERT INTO media SELECT fname, lastUsn, csum FROM old.media, old.meta")
                self.db.commit()
                self.db.execute("DETACH old")

    def last_usn(self) -> int:
        return int(self.db.execute("SELECT max(usn) FROM media").fetchone()[0] or 0)

    def count(self) -> int:
        return int(self.db.execute(
            "SELECT count() FROM media WHERE csum IS NOT NULL").fetchone()[0])

    def add(self, rows: list[tuple[str, int, str]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO media VALUES (?,?,?)", rows)
        self.db.commit()

    def delete(self, fname: str) -> None:
        path = os.path.join(self.dir, fname)
        if os.path.exists(path):
            os.remove(path)
        # NOTE: like ankisyncd, a name the table does not know gets no deletion row, and
        # the usn comes from max(usn) at this moment, not from the batch.
        self.db.execute("UPDATE media SET csum = NULL, usn = ? WHERE fname = ?",
                        (self.last_usn() + 1, fname))
        self.db.commit()

    def changes_since(self, usn: int) -> list[list[Any]]:
        rows = self.db.execute("select fname,usn,csum from media order by usn desc limit ?",
                               (self.last_usn() - usn,)).fetchall()
        return [list(r) for r in rows]

    def close(self) -> None:
        self.db.close()


@dataclass
class _UserCollection:
    """One user's open collection (ankisyncd's CollectionWrapper + its thread)."""

    path: str
    col: Any = None
    media: _MediaStore | None = None
    last_used: float = 0.0

    def open(self) -> Any:
        from anki.collection import Collection

        self.last_used = time.monotonic()
        if self.col is None:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self.col = Collection(self.path, server=True)
            self.media = _MediaStore(self.path)
        return self.col

    def reconnect_media(self) -> None:
        # ankisyncd reconnects the media db on every `meta` and after full syncs
        if self.media is not None:
            self.media.close()
        self.media = _MediaStore(self.path)

    def close(self) -> None:
        if self.col is not None:
            _log("ankisyncd.collection", f"closing {self.path}")
            self.col.close()
            self.col = None
        if self.media is not None:
            self.media.close()
            self.media = None


@dataclass
class _Session:
    """ankisyncd's SyncUserSession: who, where, and the state of a sync in progress."""

    name: str
    path: str
    skey: str = field(default_factory=lambda: _checksum(str(random.random()))[:8])
    min_usn: int = 0
    max_usn: int = 0
    server_newer: bool = False
    tables_left: list[str] = field(default_factory=list)
    handlers: dict[str, Any] = field(default_factory=dict)  # one per handler class

    @property
    def col_path(self) -> str:
        return os.path.realpath(os.path.join(self.path, "collection.anki2"))


# the rows a chunk sends, as ankisyncd's Syncer.queryTable selects them
CHUNK_QUERIES = {
    "revlog": "select id, cid, ?, ease, ivl, lastIvl, factor, time, type from revlog",
    "cards": "select id, nid, did, ord, mod, ?, type, queue, due, ivl, factor, reps,"
             " lapses, left, odue, odid, flags, data from cards",
    "notes": "select id, guid, mid, mod, ?, tags, flds, '', '', flags, data from notes",
}


_NO_GRAVES: Any = object()


class _CollectionSync:
    """The server half of a normal sync, as ankisyncd's SyncCollectionHandler does it."""

    OPS = ("meta", "applyChanges", "start", "applyGraves", "chunk", "applyChunk",
           "sanityCheck2", "finish")

    def __init__(self, session: _Session, user: _UserCollection) -> None:
        self.s, self.user = session, user
        self.col = user.open()

    def meta(self, v: int | None = None, cv: str | None = None) -> Any:
        if v is not None and v > SYNC_VER:
            return {"cont": False, "msg": f"Your client is using unsupported sync protocol "
                                          f"({v}, supported version: {SYNC_VER})"}
        self.user.reconnect_media()
        assert self.user.media is not None
        return {"mod": self.col.mod, "scm": self.col.db.scalar("select scm from col"),
                "usn": self.col.usn(), "ts": int(time.time()),
                "musn": self.user.media.last_usn(), "uname": self.s.name, "msg": "",
                "cont": True, "hostNum": 0}

    def start(self, minUsn: int, lnewer: bool, graves: Any = _NO_GRAVES, offset: Any = None,
              **_: Any) -> Any:
        self.s.max_usn, self.s.min_usn = self.col.usn(), minUsn
        self.s.server_newer = not lnewer
        ours: dict[str, list[int]] = {"cards": [], "notes": [], "decks": []}
        for oid, kind in self.col.db.execute(
                "select oid, type from graves where usn >= ?", minUsn):
            ours[("cards", "notes")[kind] if kind in (0, 1) else "decks"].append(oid)
        # ankisyncd's default for a missing `graves` is three empty lists; null skips it
        self._apply_graves({"cards": [], "notes": [], "decks": []}
                           if graves is _NO_GRAVES else graves)
        return ours

    def applyGraves(self, chunk: dict[str, list[int]]) -> Any:
        self._apply_graves(chunk)
        return None

    def _apply_graves(self, graves: dict[str, list[int]] | None) -> None:
        if graves is None:
            return
        usn = self.s.max_usn
        for key, kind, remove in (
                ("cards", 0, self.col.remove_cards_and_orphaned_notes),
                ("notes", 1, self.col.remove_notes),
                ("decks", 2, self.col.decks.remove)):
            remove(graves[key])
            self.col.db.executemany(
                "INSERT OR IGNORE INTO graves (oid, type, usn) VALUES (?, ?, ?)",
                [(oid, kind, usn) for oid in graves[key]])

    def applyChanges(self, changes: dict[str, Any]) -> Any:
        col, lim = self.col, self.s.min_usn
        ours: dict[str, Any] = {
            "models": [m for m in col.models.all() if m["usn"] >= lim],
            "decks": [[d for d in col.decks.all() if d["usn"] >= lim],
                      [c for c in col.decks.all_config() if c["usn"] >= lim]],
            "tags": [t for t, usn in col.db.execute("select tag, usn from tags")
                     if int(usn) >= lim],
        }
        if self.s.server_newer:
            ours["conf"] = col.all_config()
            ours["crt"] = col.crt
        for model in changes["models"]:
            mine = col.models.get(model["id"])
            if not mine or model["mod"] > mine["mod"]:
                col.models.update(model)
        self._merge_decks(changes["decks"])
        # NOTE: ankisyncd never merges the client's `tags` list here (no mergeTags call).
        for key, value in changes.get("conf", {}).items():
            col.set_config(key, value)
        if "crt" in changes:
            col.crt = changes["crt"]
        self.s.tables_left = ["revlog", "cards", "notes"]
        return ours

    def _merge_decks(self, decks: list[list[dict[str, Any]]]) -> None:
        manager = self.col.decks
        for deck in decks[0]:
            mine = manager.get(deck["id"], False)
            if mine and not isinstance(mine["mod"], int):
                mine["mod"] = int(mine["mod"])
            if not mine or deck["mod"] > mine["mod"]:
                manager.update(deck)
        for conf in decks[1]:
            try:
                mine = manager.getConf(conf["id"])
            except KeyError:
                mine = None
            if not mine or conf["mod"] > mine["mod"]:
                manager.updateConf(conf)

    def chunk(self) -> Any:
        out: dict[str, Any] = {"done": False}
        while self.s.tables_left:
            table = self.s.tables_left.pop()
            out[table] = self.col.db.execute(
                CHUNK_QUERIES[table] + f" where usn >= {self.s.min_usn}", self.s.max_usn)
            self.col.db.execute(f"update {table} set usn=? where usn=-1", self.s.max_usn)
        out["done"] = True
        return out

    def applyChunk(self, chunk: dict[str, Any]) -> Any:
        db = self.col.db
        if "revlog" in chunk:
            db.executemany("insert or ignore into revlog values (?,?,?,?,?,?,?,?,?)",
                           chunk["revlog"])
        if "cards" in chunk:
            db.executemany("insert or replace into cards values "
                           "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           self._newer(chunk["cards"], "cards", 4))
        if "notes" in chunk:
            rows = self._newer(chunk["notes"], "notes", 3)
            db.executemany("insert or replace into notes values (?,?,?,?,?,?,?,?,?,?,?)",
                           rows)
            self.col.after_note_updates([r[0] for r in rows], mark_modified=False,
                                        generate_cards=False)
        return None

    def _newer(self, rows: list[list[Any]], table: str, mod_at: int) -> list[list[Any]]:
        ids = ",".join(str(int(r[0])) for r in rows)
        mine = dict(self.col.db.execute(
            f"select id, mod from {table} where id in ({ids}) and usn >= {self.s.min_usn}"))
        return [r for r in rows if r[0] not in mine or mine[r[0]] < r[mod_at]]

    def sanityCheck2(self, client: list[Any]) -> Any:
        client[0] = [0, 0, 0]
        server = self._summary()
        if client != server:
            _log("ankisyncd", f"sanity check failed with server: {server} client: {client}")
            return {"status": "bad", "c": client, "s": server}
        return {"status": "ok"}

    def _summary(self) -> Any:
        col = self.col
        for table in ("cards", "notes", "revlog", "graves", "decks", "deck_config", "tags",
                      "notetypes"):
            if col.db.scalar(f"select null from {table} where usn=-1"):
                return f"table had usn=-1: {table}"
        col.sched.reset()
        return [[0, 0, 0], col.db.scalar("select count() from cards"),
                col.db.scalar("select count() from notes"),
                col.db.scalar("select count() from revlog"),
                col.db.scalar("select count() from graves"), len(col.models.all()),
                len(col.decks.all()), len(col.decks.all_config())]

    def finish(self) -> Any:
        now = int(time.time() * 1000)
        self.col.db.execute("update col set mod=?", now)
        self.col.db.execute("update col set ls = ?", now)
        self.col.db.execute("update col set usn = usn + 1")
        self.col.save()
        return now


class _MediaSync:
    """ankisyncd's SyncMediaHandler."""

    OPS = ("begin", "mediaChanges", "mediaSanity", "uploadChanges", "downloadFiles")

    def __init__(self, session: _Session, user: _UserCollection) -> None:
        self.s = session
        user.open()
        assert user.media is not None
        self.media = user.media

    def begin(self, skey: str, **_: Any) -> Any:
        return {"data": {"sk": skey, "usn": self.media.last_usn()}, "err": ""}

    def mediaChanges(self, lastUsn: int) -> Any:
        rows: list[list[Any]] = []
        if lastUsn < self.media.last_usn() or lastUsn == 0:
            rows = self.media.changes_since(lastUsn)
        rows.reverse()
        return {"data": rows, "err": ""}

    def mediaSanity(self, local: int | None = None) -> Any:
        return {"data": "OK" if self.media.count() == local else "FAILED", "err": ""}

    def uploadChanges(self, data: bytes) -> Any:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            meta = json.loads(z.read("_meta").decode())
            removed = [_nfc(name) for name, ordinal in meta if not ordinal]
            first = self.media.last_usn()
            usn, added = first, []
            os.makedirs(self.media.dir, exist_ok=True)
            for info in z.infolist():
                if info.filename == "_meta":
                    continue
                body = z.read(info)
                name = _nfc(meta[int(info.filename)][0])
                Path(self.media.dir, name).write_bytes(body)
                usn += 1
                added.append((name, usn, _checksum(body)))
        count = len(removed) + len(added)
        assert len(meta) == count
        for name in removed:
            self.media.delete(name)
        if added:
            self.media.add(added)
        # ankisyncd's own assertion: fails (HTTP 500) when a batch both deletes and adds
        assert self.media.last_usn() == first + count
        return {"data": [count, self.media.last_usn()], "err": ""}

    def downloadFiles(self, files: list[str]) -> Any:
        names: dict[str, str] = {}
        size, n = 0, 0
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name in files:
                path = os.path.join(self.media.dir, name)
                z.write(path, str(n))
                names[str(n)] = name
                size += os.path.getsize(path)
                if size > SYNC_ZIP_SIZE or n > SYNC_ZIP_COUNT:
                    break
                n += 1
            z.writestr("_meta", json.dumps(names))
        return buf.getvalue()


def _nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


class _HttpError(Exception):
    """ankisyncd raises webob exceptions past wsgiref: every one becomes a 500."""


class _SyncApp:
    def __init__(self, conf: dict[str, str]) -> None:
        self.data_root = os.path.abspath(conf["data_root"])
        self.base_url = conf["base_url"].rstrip("/") + "/"
        self.base_media_url = conf["base_media_url"].rstrip("/") + "/"
        self.auth_db = os.path.realpath(conf["auth_db_path"])
        self.session_db = os.path.realpath(conf["session_db_path"])
        self.sessions: dict[str, _Session] = {}
        self.users: dict[str, _UserCollection] = {}

    # -- sessions and users (SqliteUserManager, SqliteSessionManager) --

    def _sessions(self) -> sqlite3.Connection:
        new = not os.path.exists(self.session_db)
        db = sqlite3.connect(self.session_db)
        if new:
            db.execute(SESSION_DDL)
        return db

    def _save_session(self, hkey: str | None, s: _Session) -> None:
        self.sessions[str(hkey)] = s
        with contextlib.closing(self._sessions()) as db:
            db.execute("INSERT OR REPLACE INTO session (hkey, skey, username, path) "
                       "VALUES (?, ?, ?, ?)", (hkey, s.skey, s.name, s.path))
            db.commit()

    def _find_session(self, column: str, value: str) -> tuple[str, _Session] | None:
        for hkey, s in self.sessions.items():
            if (hkey if column == "hkey" else s.skey) == value:
                return hkey, s
        with contextlib.closing(self._sessions()) as db:
            row = db.execute(f"SELECT hkey, skey, username, path FROM session "
                             f"WHERE {column}=?", (value,)).fetchone()
        if row is None:
            return None
        s = self.sessions[row[0]] = _Session(row[2], row[3], skey=row[1])
        return row[0], s

    def _authenticate(self, username: str, password: str) -> bool:
        with contextlib.closing(sqlite3.connect(self.auth_db)) as db:
            row = db.execute("SELECT hash FROM auth WHERE username=?", (username,)).fetchone()
        ok = row is not None and password_matches(str(row[0]), username, password)
        _log("ankisyncd.users", f"Authentication {'succeeded' if ok else 'failed'} for user "
                                f"{username}")
        return ok

    def _host_key(self, data: dict[str, Any]) -> bytes:
        user, password = data.get("u"), data.get("p")
        if not user or password is None or not self._authenticate(user, password):
            raise _HttpError("403 null")
        chars = string.ascii_letters + string.digits
        hkey = hashlib.md5(":".join(
            [user, str(int(time.time())), "".join(random.choice(chars) for _ in range(8))]
        ).encode()).hexdigest()
        path = os.path.join(self.data_root, user)
        os.makedirs(path, exist_ok=True)
        self._save_session(hkey, _Session(user, path))
        return json.dumps({"key": hkey}).encode()

    def _user(self, s: _Session) -> _UserCollection:
        return self.users.setdefault(s.col_path, _UserCollection(s.col_path))

    # -- requests --

    def handle(self, path: str, fields: dict[str, bytes]) -> bytes:
        hkey = fields["k"].decode() if "k" in fields else None
        found = self._find_session("hkey", hkey) if hkey else None
        if found is None and "sk" in fields:
            found = self._find_session("skey", fields["sk"].decode())
        session = found[1] if found else None
        data = _decode(fields)
        if path.startswith(self.base_url):
            op = path[len(self.base_url):]
            if op == "hostKey":
                return self._host_key(data)
            if session is None:
                raise _HttpError("403")
            if op == "meta":
                self._save_session(hkey, session)
            return self._collection_op(op, session, data)
        if path.startswith(self.base_media_url):
            if session is None:
                raise _HttpError("403")
            op = path[len(self.base_media_url):]
            if op == "begin":
                data["skey"] = session.skey
            return self._run(op, session, data, _MediaSync)
        return b"Anki Sync Server"

    def _collection_op(self, op: str, session: _Session, data: dict[str, Any]) -> bytes:
        if op in ("upload", "download"):
            user = self._user(session)
            user.open()
            body = self._upload(user, data["data"]) if op == "upload" else self._download(user)
            user.reconnect_media()
            return body
        kind = _CollectionSync if op in _CollectionSync.OPS else _MediaSync
        return self._run(op, session, data, kind)

    def _run(self, op: str, session: _Session, data: dict[str, Any], kind: Any) -> bytes:
        if op not in kind.OPS:
            raise _HttpError("404")
        user = self._user(session)
        handler = session.handlers.get(kind.__name__)
        if handler is None:
            handler = session.handlers[kind.__name__] = kind(session, user)
        if kind is _CollectionSync:
            handler.col = user.open()  # a new Collection object after an idle close
        else:
            user.open()
            handler.media = user.media
        result = getattr(handler, op)(**data)
        user.col.save()
        if isinstance(result, bytes | str):
            return result if isinstance(result, bytes) else result.encode()
        return json.dumps(result).encode()

    def _upload(self, user: _UserCollection, data: bytes) -> bytes:
        """FullSyncManager.upload: the file replaces the collection; `.tmp` stays behind."""
        tmp = user.path + ".tmp"
        Path(tmp).write_bytes(data)
        with contextlib.closing(sqlite3.connect(tmp)) as db:
            if db.execute("pragma integrity_check").fetchone()[0] != "ok":
                raise _HttpError("400 Integrity check failed")
        user.col.close()
        try:
            shutil.copyfile(tmp, user.path)
        finally:
            user.col.reopen()
        return b"OK"

    def _download(self, user: _UserCollection) -> bytes:
        """FullSyncManager.download: close with a downgrade to schema 11, send the file."""
        user.col.close(downgrade=True)
        try:
            return Path(user.path).read_bytes()
        finally:
            user.col.reopen()

    def close_idle(self) -> None:
        now = time.monotonic()
        for user in self.users.values():
            if user.col is not None and now - user.last_used >= IDLE_CLOSE_SECONDS:
                _log("ankisyncd.ThreadingCollectionManager",
                     f"Monitor is closing collection on inactive {user.path}")
                user.close()

    def shutdown(self) -> None:
        for user in self.users.values():
            user.close()


def _decode(fields: dict[str, bytes]) -> dict[str, Any]:
    raw = fields.get("data")
    if raw is None:
        return {}
    if int(fields.get("c", b"0") or 0):
        raw = gzip.decompress(raw)
    try:
        data = json.loads(raw.decode())
    except (ValueError, UnicodeDecodeError):
        return {"data": raw}
    return data if isinstance(data, dict) else {"data": raw}


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/form-data") or not match:
        return {}
    fields = {}
    for part in body.split(b"--" + match.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, value = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if name:
            fields[name.group(1).decode()] = value[:-2] if value.endswith(b"\r\n") else value
    return fields


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._respond()

    def do_POST(self) -> None:
        self._respond()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while size := int(self.rfile.readline().strip() or b"0", 16):
                out += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return out
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _respond(self) -> None:
        url = urlsplit(self.path)
        fields = {k: v.encode() for k, v in parse_qsl(url.query)}
        fields.update(_multipart(self.headers.get("Content-Type", ""), self._body()))
        status, body = 200, b""
        try:
            body = self.server.app.handle(url.path, fields)
        except Exception:  # wsgiref's answer to anything raised
            _log("ankisyncd", "request failed:\n" + traceback.format_exc())
            status, body = 500, b"A server error occurred.  Please contact the administrator."
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        _log("ankisyncd.http", f"{self.address_string()} {format % args}")


class _Server(HTTPServer):
    app: _SyncApp

    def handle_timeout(self) -> None:
        self.app.close_idle()


def serve(config_path: str) -> None:
    conf = _load_config(config_path)
    httpd = _Server((conf["host"], int(conf["port"])), _Handler)
    httpd.app = _SyncApp(conf)
    httpd.timeout = 15  # the idle monitor's period
    _log("ankisyncd", "ankisyncd emulation of 2.4.0 (tests/support/ankisyncd.py)")
    _log("ankisyncd", "Serving HTTP on {} port {}...".format(*httpd.server_address))
    try:
        while True:
            httpd.handle_request()
            httpd.app.close_idle()
    except KeyboardInterrupt:
        _log("ankisyncd", "Exiting...")
    finally:
        httpd.app.shutdown()
        httpd.server_close()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "serve":
        sys.exit("usage: ankisyncd.py serve CONFIG")
    serve(sys.argv[2])
