"""What a whole collection looks like to full sync, wherever it comes from or goes to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from domain.model import (
    Card,
    CollectionMeta,
    ConfigEntry,
    Counts,
    Grave,
    JsonObject,
    Note,
    RevlogEntry,
    Tag,
)


class CollectionContents(Protocol):
    """A complete collection, read lazily: an uploaded file, or the stored rows.

    Each method may be called once and returns an iterable that reads as it goes,
    so a collection never has to fit in memory. Readers of an untrusted file raise
    `domain.errors.UploadRejected` from any of them when the data is malformed.
    """

    def meta(self) -> CollectionMeta: ...

    def notetypes(self) -> Iterable[JsonObject]: ...

    def decks(self) -> Iterable[JsonObject]: ...

    def deck_configs(self) -> Iterable[JsonObject]: ...

    def config(self) -> Iterable[ConfigEntry]: ...

    def tags(self) -> Iterable[Tag]: ...

    def notes(self) -> Iterable[Note]: ...

    def cards(self) -> Iterable[Card]: ...

    def revlog(self) -> Iterable[RevlogEntry]: ...

    def graves(self) -> Iterable[Grave]: ...


class StoredContents(CollectionContents, Protocol):
    """The stored collection, which can also say what changed since a usn: enough to bring
    a copy made earlier of the same collection up to date instead of writing it anew.

    Every write since the copy was made stamped its rows and graves with a usn at least
    the collection's usn at that time; rows deleted since left graves. Review-log entries
    are never deleted except by replacing the whole collection. Unlike an upload's, its
    methods may be called more than once.
    """

    def row_counts(self) -> Counts:
        """How many notes, cards and review-log entries the collection holds."""
        ...

    def notes_since(self, min_usn: int) -> Iterable[Note]: ...

    def cards_since(self, min_usn: int) -> Iterable[Card]: ...

    def revlog_since(self, min_usn: int) -> Iterable[RevlogEntry]: ...

    def graves_since(self, min_usn: int) -> Iterable[Grave]: ...
