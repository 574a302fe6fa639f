"""What a whole collection looks like to full sync, wherever it comes from or goes to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from domain.model import (
    Card,
    CollectionMeta,
    ConfigEntry,
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
