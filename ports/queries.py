"""Read queries the JSON API needs beyond what sync reads (filters, pages, statistics)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from domain.model import Card, JsonObject, Note, ObjectKind, RevlogEntry, Tag, UserId


@dataclass(frozen=True, slots=True)
class NoteFilter:
    ids: tuple[int, ...] | None = None
    deck_ids: tuple[int, ...] | None = None  # notes with a card in one of these decks
    tag: str | None = None
    notetype_id: int | None = None
    text: str | None = None  # case-insensitive substring of the fields
    checksums: tuple[int, ...] | None = None  # first-field checksums (`csum`), indexed


@dataclass(frozen=True, slots=True)
class CardFilter:
    ids: tuple[int, ...] | None = None
    note_ids: tuple[int, ...] | None = None
    deck_ids: tuple[int, ...] | None = None


class CollectionQueries(Protocol):
    def notes(self, user: UserId, where: NoteFilter, after: int | None, limit: int) -> list[Note]:
        """Matching notes in id order after the id cursor `after`."""
        ...

    def cards(self, user: UserId, where: CardFilter, after: int | None, limit: int) -> list[Card]:
        ...

    def revlog(
        self, user: UserId, card_id: int | None, after: int | None, limit: int
    ) -> list[RevlogEntry]:
        ...

    def all_objects(self, user: UserId, kind: ObjectKind) -> list[JsonObject]:
        ...

    def all_tags(self, user: UserId) -> list[Tag]:
        ...

    def card_counts(self, user: UserId) -> list[tuple[int, int, int]]:
        """(deck id, queue, number of cards)."""
        ...

    def reviews_per_day(self, user: UserId, since_ms: int) -> list[tuple[int, int]]:
        """(day number since the epoch, UTC; number of reviews) from `since_ms` on."""
        ...

    def notes_without_cards(self, user: UserId, note_ids: Iterable[int]) -> list[int]:
        ...

    def remove_tags(self, user: UserId, names: Sequence[str]) -> None:
        """Drop these names (exactly as listed) from the tag list; absent ones are ignored.
        The API's tag rename needs it; a sync never removes tags."""
        ...
