"""ankisyncd's data (the community `anki-sync-server`).

A folder per user, named as the user, directly in the data root or in its
`collections/` folder: `collection.anki2` (an Anki collection the server keeps usns in,
as the official server does), `collection.media/` and `collection.media.server.db`
(`media(fname, usn, csum)`, NULL csum for a deletion; the media usn is the highest usn).
Releases up to 2.1.0 kept the client's `collection.media.db2` instead, with one usn for
every file. `auth.db` holds `auth(username, hash)` with hash = sha256(name + password +
salt) hex followed by the salt (`user` instead of `username` in the oldest releases);
`session.db` holds `session(hkey, skey, username, path)`, one row per device login.
"""

from __future__ import annotations

from pathlib import Path

from adapters.auth.foreign_hashes import ankisyncd_hash
from adapters.importers.source_files import (
    ImportSourceError,
    query,
    sqlite_copy,
    unsized_entry,
)
from domain.user_import import ImportedUser, MediaFile

COLLECTION = "collection.anki2"
MEDIA_FOLDER = "collection.media"
MEDIA_DB = "collection.media.server.db"
OLD_MEDIA_DB = "collection.media.db2"


class AnkisyncdData:
    """Reads users' data from an ankisyncd data root."""

    def __init__(self, data_root: Path, auth_db: Path | None = None,
                 session_db: Path | None = None) -> None:
        if not data_root.is_dir():
            raise ImportSourceError(f"{data_root} is not a folder")
        found = auth_db or _beside(data_root, "auth.db")
        assert found is not None
        self.auth_db: Path = found
        self.session_db = session_db or _beside(data_root, "session.db", required=False)
        nested = data_root / "collections"
        self.users_dir = nested if nested.is_dir() else data_root
        self._sessions: dict[str, list[str]] | None = None

    def users(self) -> list[tuple[str, str]]:
        """(name, stored hash) of every user in auth.db."""
        columns = {r[1] for r in query(self.auth_db, "PRAGMA table_info(auth)")}
        if not columns:
            raise ImportSourceError(f"{self.auth_db} has no auth table")
        name = "username" if "username" in columns else "user"
        rows = query(self.auth_db, f"SELECT {name}, hash FROM auth ORDER BY {name}")
        return [(str(n), str(h or "")) for n, h in rows]

    def folders_without_user(self, names: list[str]) -> list[str]:
        known = set(names)
        return sorted(p.name for p in self.users_dir.iterdir()
                      if p.is_dir() and p.name not in known and p.name != "collections")

    def read(self, name: str, stored_hash: str, work: Path
             ) -> tuple[ImportedUser, Path | None]:
        """The user's account, media and a private copy of their collection (None if
        they never synced). Raises `ImportSourceError`."""
        try:
            password_hash = ankisyncd_hash(name, stored_hash)
        except ValueError as e:
            raise ImportSourceError("auth.db holds no usable password hash for this user"
                                    ) from e
        folder = self.users_dir / name
        collection = None
        if (folder / COLLECTION).exists():  # never `collection.anki2.tmp`: a stale upload
            collection = sqlite_copy(folder / COLLECTION, work / COLLECTION)
        media_usn, media = _media(folder)
        return ImportedUser(name=name, password_hash=password_hash, media_usn=media_usn,
                            media=media, host_keys=self._host_keys(name)), collection

    def _host_keys(self, name: str) -> list[str]:
        if self.session_db is None:
            return []
        if self._sessions is None:  # read once, for every user
            columns = {r[1] for r in query(self.session_db, "PRAGMA table_info(session)")}
            user = "username" if "username" in columns else "user"
            self._sessions = {}
            for key, owner in query(self.session_db, f"SELECT hkey, {user} FROM session"):
                if key:
                    self._sessions.setdefault(str(owner), []).append(str(key))
        return self._sessions.get(name, [])


def _beside(data_root: Path, name: str, *, required: bool = True) -> Path | None:
    """`name` in the data root or the folder above it (where Docker images keep it)."""
    for candidate in (data_root / name, data_root.parent / name):
        if candidate.is_file():
            return candidate
    if required:
        raise ImportSourceError(f"no {name} in {data_root} or {data_root.parent}: give"
                                f" its place with --{name.removesuffix('.db')}-db")
    return None


def _media(folder: Path) -> tuple[int, list[MediaFile]]:
    files = folder / MEDIA_FOLDER
    if (folder / MEDIA_DB).exists():
        rows = query(folder / MEDIA_DB, "SELECT fname, csum, usn FROM media ORDER BY usn")
    elif (folder / OLD_MEDIA_DB).exists():  # releases up to 2.1.0: one usn for all
        last = query(folder / OLD_MEDIA_DB, "SELECT lastUsn FROM meta")
        usn = int(last[0][0]) if last else 0
        rows = [(f, c, usn) for f, c in query(folder / OLD_MEDIA_DB,
                                              "SELECT fname, csum FROM media")]
    else:
        return 0, []
    media = [unsized_entry(files, fname, csum, usn) for fname, csum, usn in rows]
    return max((m.entry.usn for m in media), default=0), media
