"""Studying in the browser with Anki's own scheduler, an outside system behind this port.

The adapter keeps one Anki collection per user on the server and behaves as one more of
the user's devices; the domain (`domain.study`) decides when it syncs."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from domain.model import UserId

RATINGS = ("Again", "Hard", "Good", "Easy")  # Anki's answer buttons, 1 to 4


class SyncResult(Enum):
    SYNCED = "synced"  # normal sync (or nothing to do)
    DOWNLOADED = "downloaded"  # the collection was fetched whole
    BUSY = "busy"  # another of the user's devices is syncing: try again shortly


@dataclass(frozen=True, slots=True)
class StudyCard:
    """The card the scheduler shows next, and what each answer would do to it."""

    card_id: int
    deck_id: int
    intervals: tuple[str, str, str, str]  # Again, Hard, Good, Easy: "1m", "10m", "3d"…
    new: int  # what remains in the deck today, as the study screen counts it
    learning: int
    review: int
    queue: int  # 0 new, 1/3 learning, 2 review: which count this card belongs to


@dataclass(frozen=True, slots=True)
class Finished:
    """A deck with nothing more to study now, and what comes next."""

    learn_remaining: int
    secs_until_next_learn: int
    review_remaining: bool
    new_remaining: bool
    have_buried: bool


@dataclass(frozen=True, slots=True)
class RenderedCard:
    """A side of a card as Anki renders it, with its sounds as media file names."""

    html: str  # the note type's styling included; [anki:play:…] markers for sounds
    sounds: tuple[str, ...]
    texts_to_speak: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CardSides:
    """A card as Anki's card browser and add-ons see it."""

    question: str  # styling included; sound and type-in markers left as Anki leaves them
    answer: str
    next_reviews: tuple[str, ...]  # what Again, Hard, Good, Easy would do: "<1m", "3d"…


class NoSuchCard(Exception):
    """The study collection has no card with that id (any more)."""


class CardChanged(Exception):
    """The answered card is not the one the scheduler shows now (answered twice, or
    changed by a sync): nothing was recorded."""


class StudyCollection(Protocol):
    """One user's study collection, held exclusively while in use."""

    @property
    def ready(self) -> bool:
        """Whether the collection has been fetched from the account at least once."""
        ...

    def sync(self) -> SyncResult:
        """Sync with the user's account through the server's own sync service (a full
        download the first time; never a full upload)."""
        ...

    def next_card(self, deck_id: int) -> StudyCard | None:
        """The card to show next in this deck, or None when it is finished for now."""
        ...

    def render(self, card_id: int, answer: bool) -> RenderedCard: ...

    def sides(self, card_id: int) -> CardSides:
        """`NoSuchCard` if the collection has no such card."""
        ...

    def answer(self, deck_id: int, card_id: int, rating: int, shown_ms: int,
               now_ms: int) -> None:
        """Answer the card now shown in the deck (rating 1-4), timed from `shown_ms`;
        raises `CardChanged` if it is not the one `next_card` shows."""
        ...

    def undo(self) -> bool:
        """Undo the last answer; return whether there was one."""
        ...

    def can_undo(self) -> bool:
        """Whether an answer is kept to be undone."""
        ...

    def finished(self, deck_id: int) -> Finished: ...

    def deck_name(self, deck_id: int) -> str | None: ...


class StudyCollections(Protocol):
    def open(self, user: UserId) -> AbstractContextManager[StudyCollection]:
        """The user's study collection, locked against every other worker until closed."""
        ...

    def sync_soon(self, user: UserId, delay: float = 1.0) -> None:
        """Sync the user's study collection after `delay` seconds, off the request's
        path (answers in a burst share one sync)."""
        ...

    def secret(self, user: UserId) -> bytes:
        """A secret of the user's study device, to sign the addresses its card frames
        load from (they carry no cookie)."""
        ...
