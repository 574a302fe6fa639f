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

    def remove_all(self, user: UserId) -> None:
        ...


class BlobStore(Protocol):
    def put(self, user: UserId, source: IO[bytes], max_size: int) -> Blob:
        """Store the bytes read from `source` under their SHA-1, atomically: written to a
        temporary name, synced and renamed. Raises `PayloadTooLarge` past `max_size`.
        Call `flush` before relying on the new names surviving a crash."""
        ...

    def put_many(
        self, user: UserId, sources: Sequence[tuple[Callable[[], IO[bytes]], int]]
    ) -> list[Blob]:
        """Like `put` for several (opener, exact size) pairs, durable as a batch: every blob
        is on disk before any is renamed into place, and the renames are synced too. A
        source of another size raises `ValueError`, and then nothing is stored."""
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
