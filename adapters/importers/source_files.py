"""Reading another server's files without changing them: SQLite databases are copied
with SQLite's backup API (a consistent copy, WAL included), media entries are checked
against the files on disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from domain.media import MediaEntry
from domain.user_import import MediaFile


class ImportSourceError(Exception):
    """The source data is missing, unreadable or inconsistent; the message says which."""


def _open_ro(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise ImportSourceError(f"{path} is missing")
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
    except sqlite3.Error as e:
        raise ImportSourceError(f"cannot open {path}: {e}") from e


def sqlite_copy(source: Path, target: Path) -> Path:
    """Copy a SQLite database; raise `ImportSourceError` if it is locked or corrupt."""
    con = _open_ro(source)
    try:
        with sqlite3.connect(target) as out:
            con.backup(out)
        out.close()
    except sqlite3.Error as e:
        target.unlink(missing_ok=True)
        raise ImportSourceError(f"cannot read {source}: {e}{_hint(e)}") from e
    finally:
        con.close()
    return target


def _hint(error: sqlite3.Error) -> str:
    return " (is the old server still running? stop it first)" if "locked" in str(error) \
        else ""


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = _open_ro(path)
    try:
        return con.execute(sql).fetchall()
    except sqlite3.Error as e:
        raise ImportSourceError(f"cannot read {path}: {e}{_hint(e)}") from e
    finally:
        con.close()


def media_files(index: Path, folder: Path) -> tuple[int, list[MediaFile]]:
    """The media usn and entries of an official-server style `media.db` (schema 4)."""
    if not index.exists():
        return 0, []
    version = query(index, "PRAGMA user_version")[0][0]
    if version != 4:
        raise ImportSourceError(f"{index}: media database version {version}, expected 4"
                                " (start the old server once to upgrade it)")
    usn = query(index, "SELECT last_usn FROM meta")
    rows = query(index, "SELECT fname, csum, size, usn FROM media ORDER BY usn")
    return int(usn[0][0]) if usn else 0, [present_or_deleted(folder, *r) for r in rows]


def present_or_deleted(folder: Path, fname: object, csum: object, size: object,
                       usn: object) -> MediaFile:
    """One index entry; a present file must be on disk with the recorded size."""
    if not isinstance(fname, str) or not isinstance(size, int) or not isinstance(usn, int):
        raise ImportSourceError(f"malformed media entry {fname!r}")
    if size == 0:
        return MediaFile(MediaEntry(fname, "", 0, usn))
    sha1 = csum.hex() if isinstance(csum, bytes) else str(csum or "").lower()
    path = folder / fname
    try:
        on_disk = path.stat().st_size
    except OSError as e:
        raise ImportSourceError(f"media file {path} is missing") from e
    if on_disk != size:
        raise ImportSourceError(f"media file {path} has {on_disk} bytes, the media"
                                f" database says {size}")
    return MediaFile(MediaEntry(fname, sha1, size, usn), lambda: path.open("rb"))


def unsized_entry(folder: Path, fname: object, csum: object, usn: object) -> MediaFile:
    """An entry of an index that keeps no sizes (a NULL checksum marks a deletion): a
    present file's size is the one on disk, its bytes checked against `csum` later."""
    if csum is None:
        return present_or_deleted(folder, fname, None, 0, usn)
    try:
        size = (folder / str(fname)).stat().st_size
    except OSError as e:
        raise ImportSourceError(f"media file {folder / str(fname)} is missing") from e
    if size == 0:
        raise ImportSourceError(f"media file {folder / str(fname)} is empty")
    return present_or_deleted(folder, fname, csum, size, usn)


def count_notes(collection: Path) -> int:
    """The number of notes in a collection file (0 if it has no notes table)."""
    try:
        return int(query(collection, "SELECT count() FROM notes")[0][0])
    except ImportSourceError:
        return 0
