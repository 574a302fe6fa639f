"""The payloads of the normal-sync conversation, as domain values (no wire names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from domain.model import Card, Note, RevlogEntry

CHUNK_SIZE = 250


@dataclass(frozen=True, slots=True)
class Graves:
    """Ids deleted on one side since the other last saw them."""

    cards: tuple[int, ...] = ()
    notes: tuple[int, ...] = ()
    decks: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.cards) + len(self.notes) + len(self.decks)


@dataclass(frozen=True, slots=True)
class StartRequest:
    client_usn: int
    local_is_newer: bool
    # NOTE: old AnkiDroid sends its deletions inside `start` instead of `applyGraves`.
    legacy_graves: Graves | None = None


@dataclass(frozen=True, slots=True)
class UnchunkedChanges:
    """Note types, decks, presets and tags changed on one side; conf/crt from the newer side.

    Objects are schema-11 JSON dicts exactly as received or stored.
    """

    notetypes: tuple[dict[str, Any], ...] = ()
    decks: tuple[dict[str, Any], ...] = ()
    deck_configs: tuple[dict[str, Any], ...] = ()
    tags: tuple[str, ...] = ()
    config: dict[str, Any] | None = None
    crt: int | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    done: bool
    revlog: tuple[RevlogEntry, ...] = ()
    cards: tuple[Card, ...] = ()
    notes: tuple[Note, ...] = ()

    def __len__(self) -> int:
        return len(self.revlog) + len(self.cards) + len(self.notes)


@dataclass(frozen=True, slots=True)
class SanityCounts:
    """`[[new, learn, review], cards, notes, revlog, graves, notetypes, decks, deck_configs]`."""

    due: tuple[int, int, int]
    cards: int
    notes: int
    revlog: int
    graves: int
    notetypes: int
    decks: int
    deck_configs: int

    def comparable(self) -> SanityCounts:
        """Due counts and graves are not compared (old clients keep duplicate graves)."""
        return SanityCounts((0, 0, 0), self.cards, self.notes, self.revlog, 0,
                            self.notetypes, self.decks, self.deck_configs)


@dataclass(frozen=True, slots=True)
class SanityResult:
    ok: bool
    client: SanityCounts
    server: SanityCounts | None = field(default=None)
