"""The official sync server's data (`python -m anki.syncserver`, `anki-sync-server`).

Its `SYNC_BASE` holds a folder per user, named as the user: `collection.anki2`, the
`media/` folder, and `media.db` (table `media`: fname, csum = SHA-1 bytes, size (0 once
deleted), usn, mtime; table `meta`: last_usn, …). Users come from `SYNC_USER1`,
`SYNC_USER2`, … (`name:password`, or `name:<PHC hash>` with `PASSWORDS_HASHED` set), and
the host key it gives a device is the SHA-1 (hex) of that whole `SYNC_USERn` value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from adapters.auth.foreign_hashes import is_foreign
from adapters.importers.source_files import ImportSourceError, media_files, sqlite_copy
from domain.user_import import ImportedUser
from ports.auth import PasswordHasher

COLLECTION = "collection.anki2"
MEDIA_DB = "media.db"
MEDIA_FOLDER = "media"


@dataclass(frozen=True, slots=True)
class OfficialUser:
    name: str
    secret: str  # the password, or its PHC hash when `hashed`
    hashed: bool
    host_key: str


def users_from(variables: Mapping[str, str]) -> list[OfficialUser]:
    """The users the official server would serve with these environment variables: it
    reads SYNC_USER1, SYNC_USER2, … up to the first one missing."""
    hashed = "PASSWORDS_HASHED" in variables
    found: list[OfficialUser] = []
    while (value := variables.get(f"SYNC_USER{len(found) + 1}")) is not None:
        name, sep, secret = value.partition(":")
        if not sep:
            raise ImportSourceError(f"SYNC_USER{len(found) + 1} is not in"
                                    " 'username:password' format")
        if hashed and not is_foreign(secret):
            raise ImportSourceError(f"SYNC_USER{len(found) + 1}: {secret[:20]!r}… is not a"
                                    " PBKDF2 hash in PHC format (is PASSWORDS_HASHED right?)")
        host_key = hashlib.sha1(value.encode("utf-8")).hexdigest()
        found.append(OfficialUser(name, secret, hashed, host_key))
    if not found:
        raise ImportSourceError("no users: SYNC_USER1 is not set (give the official"
                                " server's environment or a file with its settings)")
    return found


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=value` lines as in a shell, systemd or docker-compose environment file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ImportSourceError(f"cannot read {path}: {e}") from e
    variables: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise ImportSourceError(f"{path}: not a KEY=value line: {line[:40]!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        variables[key.strip()] = value
    return variables


class OfficialServerData:
    """Reads users' data from an official server's `SYNC_BASE` folder."""

    def __init__(self, base: Path, hasher: PasswordHasher) -> None:
        if not base.is_dir():
            raise ImportSourceError(f"{base} is not a folder")
        self.base, self._hasher = base, hasher

    def folders_without_user(self, users: list[OfficialUser]) -> list[str]:
        """User folders no SYNC_USER names (their data cannot be imported)."""
        known = {u.name for u in users}
        return sorted(p.name for p in self.base.iterdir() if p.is_dir() and p.name not in known)

    def read(self, user: OfficialUser, workdir: Path) -> tuple[ImportedUser, Path | None]:
        """The user's account and media, and a private copy of their collection file
        (None if the user never synced). Raises `ImportSourceError`."""
        folder = self.base / user.name
        collection = None
        if (folder / COLLECTION).exists():
            collection = sqlite_copy(folder / COLLECTION, workdir / f"{user.name}.anki2")
        media_usn, media = media_files(folder / MEDIA_DB, folder / MEDIA_FOLDER)
        password_hash = user.secret if user.hashed else self._hasher.hash(user.secret)
        return ImportedUser(name=user.name, password_hash=password_hash, media_usn=media_usn,
                            media=media, host_keys=(user.host_key,)), collection
