"""Opening an untrusted Anki collection file with sqlite3, safely."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from domain.errors import CORRUPT_UPLOAD_MESSAGE, UploadRejected

SQLITE_MAGIC = b"SQLite format 3\x00"
# Header bytes 18 and 19: file format write/read version; 2 means WAL mode.
FORMAT_VERSION_OFFSET = 18


def unicase(a: str, b: str) -> int:
    """Anki's case-insensitive collation; needed to touch schema-18 name indexes."""
    fa, fb = a.casefold(), b.casefold()
    return (fa > fb) - (fa < fb)


def prepare_upload(path: Path) -> None:
    """Check the SQLite magic and switch a WAL-mode file to rollback mode in place.

    The upload is our private copy; without WAL, sqlite needs no -shm file beside it.
    """
    with path.open("r+b") as f:
        header = f.read(100)
        if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
            raise UploadRejected(CORRUPT_UPLOAD_MESSAGE)
        if header[FORMAT_VERSION_OFFSET : FORMAT_VERSION_OFFSET + 2] == b"\x02\x02":
            f.seek(FORMAT_VERSION_OFFSET)
            f.write(b"\x01\x01")


def open_checked(path: Path) -> sqlite3.Connection:
    """Open `path` read-only after an integrity check; raise `UploadRejected` if corrupt."""
    prepare_upload(path)
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    except sqlite3.Error as e:
        raise UploadRejected(CORRUPT_UPLOAD_MESSAGE) from e
    try:
        con.create_collation("unicase", unicase)
        con.execute("PRAGMA trusted_schema=OFF")
        con.execute("PRAGMA cell_size_check=ON")
        result = con.execute("PRAGMA integrity_check").fetchall()
        if result != [("ok",)]:
            raise UploadRejected(CORRUPT_UPLOAD_MESSAGE)
    except sqlite3.Error as e:
        con.close()
        raise UploadRejected(CORRUPT_UPLOAD_MESSAGE) from e
    except UploadRejected:
        con.close()
        raise
    return con


def table_names(con: sqlite3.Connection) -> set[str]:
    rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(r[0]) for r in rows}
