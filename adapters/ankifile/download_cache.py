"""Collection files kept for full downloads, like the official server's one file per user.

Building a download means reading every row of a collection and writing a new SQLite
file. Both a full upload (the file that came in) and a built download are kept, named
after the collection version they hold; while the collection stays at that version, the
next full download is a file send. Writes move the collection to a new version, and a
file of another version is never sent: it is replaced at the next download or upload.

Files live under `<root>/<user id>/`, one per user, written to a temporary name and
renamed: a reader always sees a whole file, and a file it has open stays readable when a
newer one replaces it. A file of an earlier version of the same collection is the base of
the next download: a copy brought up to date with the changes since (`download_update`).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import IO

from adapters.ankifile.reader import SCHEMA_CURRENT, SCHEMA_LEGACY
from domain.model import UserId

# A collection's version starts at a random 62-bit number when it is created or replaced
# and grows by a small step with every write; a kept file is of the same collection when the
# version has grown from the file's by at most this much. A new random start falls in
# that window above a kept file's with odds of 2**24 in 2**62.
MAX_WRITES_BEHIND = 1 << 24
_NAME = re.compile(r"v(\d+)\.schema(\d+)\.anki2")


class DownloadCache:
    def __init__(self, root: Path) -> None:
        self._root = root

    def open(self, user: UserId, version: int, *, legacy_client: bool) -> IO[bytes] | None:
        """The kept file of this version, open for reading, if one a client of this kind
        can open is there (clients of the legacy protocol open schema 11 only)."""
        folder = self._folder(user)
        for schema in (SCHEMA_LEGACY,) if legacy_client else (SCHEMA_LEGACY, SCHEMA_CURRENT):
            with contextlib.suppress(FileNotFoundError):
                return (folder / _name(version, schema)).open("rb")
        return None

    def earlier(self, user: UserId, version: int) -> tuple[IO[bytes], int] | None:
        """The kept file of an earlier version of this same collection, open for reading,
        and its schema, if there is one: a copy of it brought up to date is a download
        of `version` (see `download_update`)."""
        with contextlib.suppress(FileNotFoundError):
            for path in self._folder(user).iterdir():
                kept = _parse(path.name)
                if kept is not None and 0 < version - kept[0] <= MAX_WRITES_BEHIND:
                    with contextlib.suppress(FileNotFoundError):
                        return path.open("rb"), kept[1]
        return None

    def keep(self, user: UserId, version: int, schema: int, path: Path) -> None:
        """Move the collection file at `path` (of `version`, in `schema`) into the cache,
        replacing what was kept for the user; `path` must be on the same file system."""
        folder = self._folder(user)
        folder.mkdir(parents=True, exist_ok=True)
        name = _name(version, schema)
        os.replace(path, folder / name)
        for other in folder.iterdir():
            if other.name != name:
                with contextlib.suppress(FileNotFoundError):
                    other.unlink()

    def remove_user(self, user: UserId) -> None:
        folder = self._folder(user)
        with contextlib.suppress(FileNotFoundError):
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()

    def _folder(self, user: UserId) -> Path:
        return self._root / str(int(user))


def _name(version: int, schema: int) -> str:
    return f"v{version}.schema{schema}.anki2"


def _parse(name: str) -> tuple[int, int] | None:
    """The version and schema in a kept file's name."""
    found = _NAME.fullmatch(name)
    return (int(found[1]), int(found[2])) if found else None
