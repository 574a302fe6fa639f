"""SyncSession: the server's side of one normal-sync conversation, kept in the database."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from domain.errors import AuthFailed, SessionConflict, SyncRejected
from domain.model import CollectionMeta, Counts, Credentials, RowKind
from domain.sync.staging import StagedItem, StageKind

# Clients give up on a request after 30-60 s of silence; a conversation idle this long is dead.
SESSION_IDLE_MS = 15 * 60 * 1000


class Phase(IntEnum):
    STARTED = 1          # graves may arrive
    CHANGES_APPLIED = 2  # chunks flow both ways
    SANITY_OK = 3        # finish may commit
    SANITY_BAD = 4       # only abort is left


class ChunkStage(IntEnum):
    """Which table the server's outgoing chunks are reading; keyset cursor in `chunk_after`."""

    REVLOG = 0
    CARDS = 1
    NOTES = 2
    DONE = 3


@dataclass(frozen=True, slots=True)
class SyncSession:
    skey: str
    phase: Phase
    server_usn: int
    client_usn: int
    client_is_newer: bool
    touched_ms: int
    chunk_stage: ChunkStage = ChunkStage.REVLOG
    chunk_after: tuple[int, int] | None = None  # (usn, id) of the last row sent
    client_done: bool = False
    staged: frozenset[StageKind] = frozenset()  # the kinds staged so far

    def expect(self, skey: str, *phases: Phase) -> SyncSession:
        """Return self if `skey` owns this session and it is in one of `phases`.

        Raises `SessionConflict` for another device's session, `SyncRejected` for a
        step out of order.
        """
        if skey != self.skey:
            raise SessionConflict("another sync owns this collection")
        if self.phase not in phases:
            raise SyncRejected(f"sync step not allowed in phase {self.phase.name}")
        return self

    def expect_client_done(self) -> SyncSession:
        """Return self once the device's last chunk (`done`) has arrived, or raise
        `SyncRejected`. Steps before `finish` may lose their commit in a database crash
        (the later ones with it): a session that lost its last chunk says so here."""
        if not self.client_done:
            raise SyncRejected("the sanity check came before the device's last chunk")
        return self

    def with_staged(self, items: Iterable[StagedItem]) -> SyncSession:
        """This session, having staged `items` too."""
        kinds = self.staged | {item.kind for item in items}
        return self if kinds == self.staged else dataclasses.replace(self, staged=kinds)

    def may_have_staged(self, kind: StageKind) -> bool:
        """Whether items of `kind` were staged."""
        return kind in self.staged

    def expired(self, now_ms: int) -> bool:
        return now_ms - self.touched_ms > SESSION_IDLE_MS


@dataclass(frozen=True, slots=True)
class SyncLock:
    """What a sync step reads as it takes the user's lock: the collection row and its row
    counts (None without a collection), the session (None without one), and whether the
    caller's host key is live."""

    col: CollectionMeta | None
    counts: Counts | None
    session: SyncSession | None
    authorized: bool
    # When asked for: per row kind, how many staged ids no live row has.
    new_rows: dict[StageKind, int] | None = None
    # The highest usn of the collection's graves (-1: none; None: not read).
    graves_usn: int | None = None

    def check(self, credentials: Credentials) -> SyncLock:
        """Return self, or raise `AuthFailed` for a device whose host key is not live."""
        if credentials.digest is not None and not self.authorized:
            raise AuthFailed("unknown host key")
        return self


@dataclass(frozen=True, slots=True)
class SessionPeek:
    """The session read without a lock, with the row kinds holding rows at or after its
    client usn (what the server's first chunk would send), and the host key check."""

    session: SyncSession | None
    pending_rows: frozenset[RowKind]
    authorized: bool

    def check(self, credentials: Credentials) -> SessionPeek:
        if credentials.digest is not None and not self.authorized:
            raise AuthFailed("unknown host key")
        return self
