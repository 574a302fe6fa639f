"""MediaServer: one method per media sync endpoint."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.errors import FileMissing, QuotaExceeded, SyncRejected, retrying
from domain.media import (
    CHANGES_PER_REQUEST,
    MAX_FILES_PER_ZIP,
    MediaEntry,
    UploadedChange,
    apply_change,
    check_name,
    download_batch,
)
from domain.model import UserId
from domain.quotas import limit_bytes, too_big
from ports.media import BlobStore, PendingBlobs
from ports.stores import UnitOfWork, UnitOfWorkFactory

SANITY_OK = "OK"
SANITY_FAILED = "mediaSanity"


@dataclass
class MediaServer:
    uow: UnitOfWorkFactory
    blobs: BlobStore
    default_media_mb: int = 0  # the server's media quota per user (0: none)

    def usn(self, user: UserId) -> int:
        """The user's last media usn (what `begin` and `meta` report)."""
        with self.uow(write=False, snapshot=False) as uow:
            return uow.media.state(user)[0]

    def changes(self, user: UserId, last_usn: int) -> list[MediaEntry]:
        """Entries changed after `last_usn`, oldest first, at most 1000."""
        with self.uow(write=False, snapshot=False) as uow:
            return uow.media.changes_since(user, last_usn, CHANGES_PER_REQUEST)

    def upload(
        self, user: UserId, changes: Sequence[UploadedChange], pending: PendingBlobs
    ) -> tuple[int, int]:
        """Register uploaded files (staged in `pending`) and deletions, all at once.

        Returns (entries processed, media usn afterwards). Every change takes the next
        usn, including identical files and deletions of files the server does not have
        (see `apply_change`).
        """
        if len(changes) > MAX_FILES_PER_ZIP:
            raise SyncRejected("too many files in one upload")
        for change in changes:
            check_name(change.fname)
        usn, replaced = retrying(lambda: self._register(user, changes, pending))
        if replaced:
            retrying(lambda: self._delete_unreferenced(user, replaced))
        return len(changes), usn

    def _register(
        self, user: UserId, changes: Sequence[UploadedChange], pending: PendingBlobs
    ) -> tuple[int, set[str]]:
        """Returns the media usn and the content of files that were replaced or deleted."""
        replaced: set[str] = set()
        with self.uow() as uow:
            uow.collections.lock(user)  # the per-user lock every writer takes first
            usn, count = uow.media.state(user, lock=True)
            existing = uow.media.entries(user, (c.fname for c in changes))
            before = dict(existing)
            for change in changes:  # a name listed twice in one batch: its last entry wins
                old = existing.get(change.fname)
                usn += 1
                new = apply_change(change, usn)
                count += (0 if new.deleted else 1) - (0 if old is None or old.deleted else 1)
                if old is not None and not old.deleted and old.sha1 != new.sha1:
                    replaced.add(old.sha1)
                existing[change.fname] = new
            self._check_quota(uow, user, existing, before)
            # Published under the lock, where blobs are deleted: a concurrent deletion
            # either ran before (and the blob is back now) or sees this upload's entries.
            pending.publish()
            uow.media.save(user, list(existing.values()))
            uow.media.set_state(user, usn, count)
            uow.commit()
        return usn, replaced

    def _check_quota(self, uow: UnitOfWork, user: UserId, final: dict[str, MediaEntry],
                     before: dict[str, MediaEntry]) -> None:
        """Raise `QuotaExceeded` if the batch's entries (`final`, replacing `before`) would
        take the user's media past their quota (a batch that frees room always passes)."""
        limit = limit_bytes(uow.users.quotas(user).media_mb, self.default_media_mb)
        if limit is None:
            return
        growth = sum(e.size - (before[n].size if n in before else 0) for n, e in final.items())
        if growth > 0:
            total = uow.media.total_bytes(user) + growth
            if total > limit:
                raise QuotaExceeded(too_big("media", total, limit))

    def _delete_unreferenced(self, user: UserId, sha1s: set[str]) -> None:
        """Delete the blobs no committed file uses, under the lock uploads publish in."""
        with self.uow() as uow:
            uow.collections.lock(user)
            for sha1 in sha1s:
                if not uow.media.sha1_in_use(user, sha1):
                    self.blobs.delete(user, sha1)

    def files_for_download(self, user: UserId, names: Sequence[str]) -> list[MediaEntry]:
        """The entries to zip for a download request, in the order asked.

        Raises `SyncRejected` for more than 25 names and `FileMissing` (409, as the
        official server answers) for a name that is unknown or deleted.
        """
        if len(names) > MAX_FILES_PER_ZIP:
            raise SyncRejected("too many files requested")
        with self.uow(write=False) as uow:
            entries = uow.media.entries(user, names)
        ordered = []
        for name in names:
            entry = entries.get(name)
            if entry is None or entry.deleted:
                raise FileMissing(f"requested a file that does not exist: {name!r}")
            ordered.append(entry)
        return download_batch(ordered)

    def present(self, user: UserId, name: str) -> MediaEntry | None:
        """The user's media file of this name, unless it is unknown or deleted."""
        with self.uow(write=False, snapshot=False) as uow:
            entry = uow.media.entries(user, [name]).get(name)
        return None if entry is None or entry.deleted else entry

    def forget_missing(self, user: UserId, name: str) -> None:
        """Forget a file whose bytes were lost, like the official server: the next sync
        does not ask for it again, and no deletion spreads to other devices."""

        def forget() -> None:
            with self.uow() as uow:
                uow.collections.lock(user)
                usn, count = uow.media.state(user, lock=True)
                entry = uow.media.entries(user, [name]).get(name)
                if entry is None or entry.deleted:
                    return
                uow.media.forget(user, name)
                uow.media.set_state(user, usn, max(count - 1, 0))
                uow.commit()

        retrying(forget)

    def sanity(self, user: UserId, local_count: int) -> str:
        with self.uow(write=False, snapshot=False) as uow:
            count = uow.media.state(user)[1]
        return SANITY_OK if count == local_count else SANITY_FAILED
