"""Bring one user over from another sync server, all or nothing.

What the devices already know is kept: the collection as the old server stored it
(usn, mod, scm, every row's usn, graves), the media index with its usns, and the host
keys the old server handed out. So a device pointed here goes on with a normal sync.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from domain.accounts import normalise_name
from domain.errors import NoSuchUser, SyncError, UserExists
from domain.media import MediaEntry, check_name
from domain.model import UserId
from domain.new_collection import new_collection
from ports.auth import PasswordHasher
from ports.clock import Clock
from ports.collection import CollectionContents
from ports.media import BlobStore, PendingBlobs
from ports.stores import UnitOfWork, UnitOfWorkFactory

# The password hash of a user whose import has not finished: matches no password, and
# tells a later import that the name may be taken over.
IMPORTING = "!importing"
STAGE_BATCH = 200  # media files staged (and reported) at a time


class ImportFailed(SyncError):
    """The user's data cannot be imported as it is; nothing was kept."""


@dataclass(frozen=True, slots=True)
class MediaFile:
    """One entry of the old server's media index; a present file comes with its bytes."""

    entry: MediaEntry
    open: Callable[[], IO[bytes]] | None = None


@dataclass(frozen=True, slots=True)
class ImportedUser:
    name: str
    password_hash: str  # one the password hasher checks (another server's is re-hashed)
    media_usn: int
    media: Sequence[MediaFile] = ()
    host_keys: Sequence[str] = ()  # keys the old server gave this user's devices


@dataclass(frozen=True, slots=True)
class ImportResult:
    user: UserId
    version: int  # the collection's version (see `CollectionStore.version`)
    media_files: int
    host_keys: int


@dataclass
class UserImporter:
    uow: UnitOfWorkFactory
    hasher: PasswordHasher
    clock: Clock
    blobs: BlobStore

    def import_user(
        self, user: ImportedUser, contents: CollectionContents | None, *,
        replace: bool = False, on_media: Callable[[int], None] = lambda _: None,
    ) -> ImportResult:
        """Create (or, with `replace`, overwrite) the user with `contents` (None: a new,
        empty collection) and the media. Raises `UserExists`, `ImportFailed`, or what the
        stores raise; on any failure nothing of the import remains."""
        name = normalise_name(user.name)
        for media in user.media:
            check_name(media.entry.fname)
        user_id, existed = self._reserve(name, replace)
        staged: list[PendingBlobs] = []
        try:
            staged = self._stage(user_id, user.media, on_media)
            result, dropped = self._store(user_id, user, contents, staged)
        except BaseException:
            for pending in staged:
                pending.discard()
            if not existed:
                self._unreserve(user_id)
            raise
        for pending in staged:
            pending.discard()
        self._delete_unreferenced(user_id, dropped)
        return result

    def restore(
        self, name: str, contents: CollectionContents, media: Sequence[MediaFile] | None,
        *, on_media: Callable[[int], None] = lambda _: None,
    ) -> ImportResult:
        """Replace an existing user's collection with `contents` (prepared as a device
        prepares a full upload) and, unless `media` is None, their media files with
        `media`: files that differ or are gone take new usns, so devices fetch them.
        Logins stay. Raises `NoSuchUser`, `ImportFailed`."""
        for file in media or ():
            check_name(file.entry.fname)
        with self.uow(write=False, snapshot=False) as uow:
            found = uow.users.find(name.strip())
        if found is None or found[1] == IMPORTING:
            raise NoSuchUser(name.strip())
        user_id = found[0].id
        staged = self._stage(user_id, media or (), on_media)
        try:
            with self.uow() as uow:
                uow.collections.lock(user_id)
                version = uow.collections.replace(user_id, contents)
                for pending in staged:
                    pending.publish()
                dropped = set() if media is None else _replace_media(uow, user_id, media)
                uow.commit()
        finally:
            for pending in staged:
                pending.discard()
        self._delete_unreferenced(user_id, dropped)
        return ImportResult(user_id, version, len(media or ()), 0)

    def _reserve(self, name: str, replace: bool) -> tuple[UserId, bool]:
        """The user's id, and whether the user existed (and stays if the import fails)."""
        with self.uow() as uow:
            found = uow.users.find(name)
            if found is None:
                user_id = uow.users.add(name, IMPORTING, self.clock.now_ms())
                uow.commit()
                return user_id, False
        if found[1] == IMPORTING:  # left by an import that was interrupted
            return found[0].id, False
        if not replace:
            raise UserExists(name)
        return found[0].id, True

    def _unreserve(self, user_id: UserId) -> None:
        with self.uow() as uow:
            if uow.users.password_hash(user_id) == IMPORTING:
                uow.collections.remove(user_id)
                uow.media.remove_all(user_id)
                uow.users.remove(user_id)
                uow.commit()
                self.blobs.remove_user(user_id)

    def _stage(self, user_id: UserId, media: Sequence[MediaFile],
               on_media: Callable[[int], None]) -> list[PendingBlobs]:
        present = [m for m in media if m.open is not None]
        staged: list[PendingBlobs] = []
        try:
            for start in range(0, len(present), STAGE_BATCH):
                batch = present[start:start + STAGE_BATCH]
                staged.append(self.blobs.stage_many(
                    user_id, [(m.open, m.entry.size) for m in batch if m.open is not None]))
                for m, blob in zip(batch, staged[-1].blobs, strict=True):
                    if blob.sha1 != m.entry.sha1:
                        raise ImportFailed(f"media file {m.entry.fname!r}: its bytes do not"
                                           " match the checksum the old server recorded")
                on_media(start + len(batch))
        except BaseException:
            for pending in staged:
                pending.discard()
            raise
        return staged

    def _store(self, user_id: UserId, user: ImportedUser,
               contents: CollectionContents | None,
               staged: Sequence[PendingBlobs]) -> tuple[ImportResult, set[str]]:
        now = self.clock.now_ms()
        with self.uow() as uow:
            uow.collections.lock(user_id)  # no sync of this user runs meanwhile
            before = _present_sha1s(uow, user_id)
            uow.media.remove_all(user_id)
            if contents is None:
                uow.collections.remove(user_id)
                uow.collections.create(user_id, new_collection(now))
                version = uow.collections.version(user_id) or 0
            else:
                version = uow.collections.replace(user_id, contents)
            for pending in staged:
                pending.publish()
            entries = [m.entry for m in user.media]
            uow.media.save(user_id, entries)
            uow.media.set_state(user_id, user.media_usn, sum(not e.deleted for e in entries))
            uow.users.set_password(user_id, user.password_hash)
            uow.users.revoke_host_keys(user_id)
            keys = self._add_host_keys(uow, user_id, user.host_keys, now)
            uow.commit()
        kept = {e.sha1 for e in entries if not e.deleted}
        return ImportResult(user_id, version, len(kept), keys), before - kept

    def _add_host_keys(self, uow: UnitOfWork, user_id: UserId, keys: Sequence[str],
                       now: int) -> int:
        """Record the old server's host keys; one another user holds already (imported
        from elsewhere) is left out: that device logs in again."""
        added = 0
        for digest in {self.hasher.hash_key(k) for k in keys}:
            if uow.users.imported_key_user(digest) is None:
                uow.users.add_imported_host_key(user_id, digest, now)
                added += 1
        return added

    def _delete_unreferenced(self, user_id: UserId, sha1s: set[str]) -> None:
        """Blobs of a replaced user's old media that nothing uses now."""
        if not sha1s:
            return
        with self.uow() as uow:
            uow.collections.lock(user_id)
            for sha1 in sha1s:
                if not uow.media.sha1_in_use(user_id, sha1):
                    self.blobs.delete(user_id, sha1)


def _replace_media(uow: UnitOfWork, user_id: UserId, media: Sequence[MediaFile]) -> set[str]:
    """Make the user's media exactly `media`, each change with the next usn; return the
    content no longer used."""
    usn, _ = uow.media.state(user_id, lock=True)
    old = {e.fname: e for e in uow.media.changes_since(user_id, -1, 2**31) if not e.deleted}
    entries: dict[str, MediaEntry] = {}
    for file in media:
        e = file.entry
        if old.get(e.fname) != MediaEntry(e.fname, e.sha1, e.size, old[e.fname].usn
                                          if e.fname in old else -1):
            usn += 1
            entries[e.fname] = MediaEntry(e.fname, e.sha1, e.size, usn)
    for fname in old.keys() - {f.entry.fname for f in media}:
        usn += 1
        entries[fname] = MediaEntry(fname, "", 0, usn)
    uow.media.save(user_id, list(entries.values()))
    uow.media.set_state(user_id, usn, len({f.entry.fname for f in media}))
    kept = {f.entry.sha1 for f in media}
    return {e.sha1 for e in old.values()} - kept


def _present_sha1s(uow: UnitOfWork, user_id: UserId) -> set[str]:
    entries = uow.media.changes_since(user_id, -1, 2**31)
    return {e.sha1 for e in entries if not e.deleted}
