"""Where a normal sync keeps its session and what the client sent before `finish`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from domain.model import CollectionMeta, Credentials, UserId
from domain.sync.session import SessionPeek, SyncLock, SyncSession
from domain.sync.staging import StagedItem, StageKind


class SessionStore(Protocol):
    def get(self, user: UserId) -> SyncSession | None:
        """Return the user's session without locking it, or None."""
        ...

    def lock_with_collection(
        self, user: UserId
    ) -> tuple[CollectionMeta | None, SyncSession | None]:
        """Lock the user's collection row (as `CollectionStore.lock`) and read the session
        as it is once the lock is held."""
        ...

    def lock(
        self, credentials: Credentials, *, with_session: bool = True, new_rows: bool = False
    ) -> SyncLock:
        """What a sync step starts with: lock the user's collection row (and session), read
        both with the row counts, and check the host key, in one query where the database
        allows. Without `with_session` the session is neither locked nor read; with
        `new_rows` the same query counts, per row kind, the staged rows whose id no live
        row has."""
        ...

    def peek(self, credentials: Credentials) -> SessionPeek:
        """Read the session without locking it, with the row kinds that hold rows at or
        after its client usn, and check the host key, in one query."""
        ...

    def save(self, user: UserId, session: SyncSession) -> None:
        """Create or replace the user's one session."""
        ...

    def delete(self, user: UserId) -> None:
        """Forget the user's session, if any."""
        ...


class StagingStore(Protocol):
    def add(self, user: UserId, items: Sequence[StagedItem]) -> None:
        """Stage items; an item with the same (kind, key) as a staged one replaces it."""
        ...

    def read(self, user: UserId, kind: StageKind) -> list[StagedItem]:
        """Return the staged items of one kind, ordered by key."""
        ...

    def read_rows(
        self, user: UserId, after: tuple[StageKind, str] | None, limit: int
    ) -> list[StagedItem]:
        """Return up to `limit` staged revlog entries, cards and notes after the (kind,
        key) cursor `after`, ordered by kind then key, each with `existing` set to the
        (mod, usn) of the live row with its id (None when there is none)."""
        ...

    def keys(self, user: UserId, kind: StageKind) -> set[str]:
        """Return the keys staged for one kind."""
        ...

    def discard(self, user: UserId) -> None:
        """Drop everything staged for the user."""
        ...
