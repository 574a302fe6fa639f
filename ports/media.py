"""Media ports: the per-user index in the database, and the blob store for the bytes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import IO, BinaryIO, Protocol

from domain.media import Blob, MediaEntry
from domain.model import UserId


class MediaIndex(Protocol):
    def state(self, user: UserId, *, lock: bool = False) -> tuple[int, int]:
        """Return (last media usn, number of present files); lock the row if asked."""
        ...

    def set_state(self, user: UserId, usn: int, file_count: int) -> None:
        ...

    def changes_since(self, user: UserId, usn: int, limit: int) -> list[MediaEntry]:
        """Entries with usn > `usn`, ascending by usn, at most `limit`."""
        ...

    def entries(self, user: UserId, names: Iterable[str]) -> dict[str, MediaEntry]:
        ...

    def save(self, user: UserId, entries: Sequence[MediaEntry]) -> None:
        """Insert or overwrite entries by name."""
        ...

    def forget(self, user: UserId, name: str) -> None:
        """Drop an entry without recording a deletion (its file was lost)."""
        ...

    def sha1_in_use(self, user: UserId, sha1: str) -> bool:
        """Whether any present file of the user has this content."""
        ...

    def total_bytes(self, user: UserId) -> int:
        """The size of every present file of the user, added up (for quotas)."""
        ...

    def remove_all(self, user: UserId) -> None:
        ...


class PendingBlobs(Protocol):
    """Blobs written and synced under temporary names: nobody can see or delete them
    until `publish`. An upload publishes its blobs under the per-user lock, where the
    deletion of unreferenced blobs also runs, so one upload can never lose a blob to
    another upload that deletes the last file with the same bytes."""

    @property
    def blobs(self) -> Sequence[Blob]:
        """What was staged, in the order of the sources."""
        ...

    def publish(self) -> None:
        """Make every blob readable under its SHA-1 (idempotent: a retried unit of work
        publishes again), with the new names synced to disk."""
        ...

    def discard(self) -> None:
        """Remove the temporary copies (published blobs stay)."""
        ...


class BlobStore(Protocol):
    def stage_many(
        self, user: UserId, sources: Sequence[tuple[Callable[[], IO[bytes]], int]]
    ) -> PendingBlobs:
        """Write (opener, exact size) pairs to temporary names and sync them. A source of
        another size raises `ValueError`, one larger than declared `PayloadTooLarge`;
        then nothing is left behind."""
        ...

    def open(self, user: UserId, sha1: str) -> BinaryIO | None:
        """Open a stored blob for reading, or None if it is missing."""
        ...

    def delete(self, user: UserId, sha1: str) -> None:
        """Remove a blob if present."""
        ...

    def remove_user(self, user: UserId) -> None:
        """Remove every blob of the user."""
        ...


class UserFiles(Protocol):
    """Files kept for a user outside the database (removed with the user)."""

    def remove_user(self, user: UserId) -> None:
        """Remove every file kept for the user."""
        ...
