"""Studying in the browser: when the study device (the user's study collection, scheduled
by Anki itself behind `ports.study`) syncs with the account, and what a study screen shows.

It syncs before a deck is opened (a normal sync, or the first time a download, which the
page waits for), shortly after answers (off the request's path, so the next card comes at
once), and never while another of the user's devices is syncing: the screen then says the
cards are as of the last sync, and a sync is tried again shortly."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from domain.model import UserId
from ports.clock import Clock
from ports.study import (
    CardSides,
    Finished,
    NoSuchCard,
    RenderedCard,
    StudyCard,
    StudyCollection,
    StudyCollections,
    SyncResult,
)

FRAME_LIFETIME_MS = 6 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class StudyScreen:
    deck_id: int
    deck_name: str | None  # None: no such deck (any more)
    preparing: bool = False  # the first download is under way
    card: StudyCard | None = None
    finished: Finished | None = None
    stale: bool = False  # another device was syncing: as of the last sync
    can_undo: bool = False  # an answer is kept that Undo would take back


def _screen(col: StudyCollection, deck_id: int) -> StudyScreen:
    name = col.deck_name(deck_id)
    if name is None:
        return StudyScreen(deck_id, None)
    card = col.next_card(deck_id)
    finished = col.finished(deck_id) if card is None else None
    return StudyScreen(deck_id, name, card=card, finished=finished, can_undo=col.can_undo())


@dataclass
class Study:
    collections: StudyCollections
    clock: Clock

    def open_deck(self, user: UserId, deck_id: int, sync: bool = True) -> StudyScreen:
        """The deck's next card, after a sync if `sync` (entering the deck)."""
        with self.collections.open(user) as col:
            if not col.ready:
                self.collections.sync_soon(user, delay=0)
                return StudyScreen(deck_id, "", preparing=True)
            stale = False
            if sync and col.sync() == SyncResult.BUSY:
                stale = True
                self.collections.sync_soon(user, delay=5.0)
            return dataclasses.replace(_screen(col, deck_id), stale=stale)

    def answer(self, user: UserId, deck_id: int, card_id: int, rating: int,
               shown_ms: int) -> StudyScreen:
        """Record an answer (raises `CardChanged` if that card is no longer the one
        shown) and return the deck's next screen, from the same opening of the collection
        (Anki's queue, built once, is then only updated). The account gets the answer at
        the study device's next sync, a moment later."""
        with self.collections.open(user) as col:
            col.answer(deck_id, card_id, rating, shown_ms, self.clock.now_ms())
            screen = _screen(col, deck_id)
        self.collections.sync_soon(user)
        return screen

    def undo(self, user: UserId) -> bool:
        with self.collections.open(user) as col:
            undone = col.undo()
        if undone:
            self.collections.sync_soon(user)
        return undone

    def render(self, user: UserId, card_id: int, answer: bool) -> RenderedCard:
        with self.collections.open(user) as col:
            return col.render(card_id, answer)

    def card_sides(self, user: UserId, card_ids: Sequence[int]) -> dict[int, CardSides]:
        """The question and answer of each card the study collection has, as Anki renders
        them, after a sync so they show the account's notes as they are now (the first
        time, the collection is downloaded while the caller waits; while another device
        is syncing, they are as of the last sync)."""
        with self.collections.open(user) as col:
            if col.sync() == SyncResult.BUSY:
                self.collections.sync_soon(user, delay=5.0)
            found: dict[int, CardSides] = {}
            for card_id in dict.fromkeys(card_ids):
                with contextlib.suppress(NoSuchCard):
                    found[card_id] = col.sides(card_id)
            return found

    def finish(self, user: UserId) -> None:
        """The user left studying: sync now rather than later."""
        self.collections.sync_soon(user, delay=0)

    # -- the addresses card frames load from ------------------------------------------

    def frame_pass(self, user: UserId) -> str:
        """A pass for the card frames' addresses: the user, an expiry and a signature."""
        expires = self.clock.now_ms() + FRAME_LIFETIME_MS
        return f"{int(user)}-{expires}-{self._sign(user, expires)}"

    def frame_user(self, frame_pass: str) -> UserId | None:
        """The user a pass was made for, if it is genuine and has not expired."""
        parts = frame_pass.split("-")
        if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts[:2]) \
                or len(parts[0]) > 18 or len(parts[1]) > 18:
            return None
        user, expires = UserId(int(parts[0])), int(parts[1])
        if expires < self.clock.now_ms():
            return None
        if not hmac.compare_digest(parts[2].encode(), self._sign(user, expires).encode()):
            return None
        return user

    def _sign(self, user: UserId, expires: int) -> str:
        secret = self.collections.secret(user)
        return hmac.new(secret, f"{int(user)}-{expires}".encode(), hashlib.sha256
                        ).hexdigest()[:32]
