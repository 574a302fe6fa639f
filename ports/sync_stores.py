"""Where a normal sync keeps its session and what the client sent before `finish`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from domain.model import CollectionMeta, UserId
from domain.sync.session import SyncSession
from domain.sync.staging import StagedItem, StageKind


class SessionStore(Protocol):
    def get(self, user: UserId) -> SyncSession | None:
        """Return the user's session without locking it, or None."""
        ...

    def lock_with_collection(
        self, user: UserId
    ) -> tuple[CollectionMeta | None, SyncSession | None]:
        """Lock the user's collection row (as `CollectionStore.lock`) and read the session
        with it, in one query: every sync step starts with both."""
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

    def read(self, user: UserId, kind: StageKind) -> Iterator[StagedItem]:
        """Stream the staged items of one kind (any order)."""
        ...

    def kinds(self, user: UserId) -> set[StageKind]:
        """Return the kinds that have at least one staged item (one cheap query)."""
        ...

    def keys(self, user: UserId, kind: StageKind) -> set[str]:
        """Return the keys staged for one kind."""
        ...

    def discard(self, user: UserId) -> None:
        """Drop everything staged for the user."""
        ...
