"""When the study device syncs, and the signed passes of card frames, with a fake study
collection (the real one, driven by Anki's library, is tested in tests/study)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from domain.model import UserId
from domain.study import FRAME_LIFETIME_MS, Study
from ports.study import CardSides, Finished, NoSuchCard, RenderedCard, StudyCard, SyncResult
from tests.support.fakes import FakeClock

USER = UserId(7)
CARD = StudyCard(1, 10, ("1m", "6m", "10m", "4d"), 5, 0, 0, 0)


@dataclass
class FakeCollection:
    ready: bool = True
    busy: bool = False
    syncs: int = 0
    answers: list[tuple[int, int]] = field(default_factory=list)
    cards: tuple[int, ...] = (1, 2)

    def sync(self) -> SyncResult:
        self.syncs += 1
        return SyncResult.BUSY if self.busy else SyncResult.SYNCED

    def next_card(self, deck_id: int) -> StudyCard | None:
        return None if self.answers else CARD

    def render(self, card_id: int, answer: bool) -> RenderedCard:
        return RenderedCard("q", (), ())

    def sides(self, card_id: int) -> CardSides:
        if card_id not in self.cards:
            raise NoSuchCard(card_id)
        return CardSides(f"q{card_id}", f"a{card_id}", ())

    def answer(self, deck_id: int, card_id: int, rating: int, shown_ms: int,
               now_ms: int) -> None:
        self.answers.append((card_id, rating))

    def undo(self) -> bool:
        return bool(self.answers and self.answers.pop())

    def can_undo(self) -> bool:
        return bool(self.answers)

    def finished(self, deck_id: int) -> Finished:
        return Finished(0, 0, False, False, False)

    def deck_name(self, deck_id: int) -> str | None:
        return "French" if deck_id == 10 else None


@dataclass
class FakeCollections:
    col: FakeCollection = field(default_factory=FakeCollection)
    soon: list[float] = field(default_factory=list)

    @contextmanager
    def open(self, user: UserId) -> Iterator[FakeCollection]:
        yield self.col

    def sync_soon(self, user: UserId, delay: float = 1.0) -> None:
        self.soon.append(delay)

    def secret(self, user: UserId) -> bytes:
        return b"secret of %d" % user


def _study() -> tuple[Study, FakeCollections, FakeClock]:
    collections, clock = FakeCollections(), FakeClock()
    return Study(collections, clock), collections, clock


def test_the_first_visit_waits_for_a_download_off_the_request() -> None:
    study, collections, _ = _study()
    collections.col.ready = False
    screen = study.open_deck(USER, 10)
    assert screen.preparing and collections.col.syncs == 0 and collections.soon == [0]


def test_entering_a_deck_syncs_and_moving_on_does_not() -> None:
    study, collections, _ = _study()
    assert study.open_deck(USER, 10).card == CARD
    assert collections.col.syncs == 1
    study.open_deck(USER, 10, sync=False)
    assert collections.col.syncs == 1


def test_answers_and_undo_sync_a_moment_later() -> None:
    study, collections, _ = _study()
    after = study.answer(USER, 10, 1, 3, 0)
    assert after.card is None and after.finished is not None
    assert collections.col.answers == [(1, 3)] and collections.soon == [1.0]
    screen = study.open_deck(USER, 10, sync=False)
    assert screen.card is None and screen.finished is not None
    assert study.undo(USER) and len(collections.soon) == 2
    assert not study.undo(USER) and len(collections.soon) == 2  # nothing undone: no sync


def test_while_another_device_syncs_the_screen_says_so_and_retries() -> None:
    study, collections, _ = _study()
    collections.col.busy = True
    screen = study.open_deck(USER, 10)
    assert screen.stale and screen.card == CARD and collections.soon == [5.0]


def test_an_unknown_deck_is_none() -> None:
    study, _, _ = _study()
    assert study.open_deck(USER, 99).deck_name is None


def test_frame_passes_name_their_user_until_they_expire() -> None:
    study, _, clock = _study()
    granted = study.frame_pass(USER)
    assert study.frame_user(granted) == USER
    user, expires, mac = granted.split("-")
    for forged in (f"8-{expires}-{mac}", f"{user}-{int(expires) + 1}-{mac}",
                   f"{user}-{expires}-{mac[:-1]}0", f"{user}-{expires}", "", "x-y-z",
                   f"{user}-{expires}-{mac}-1", "1" * 40 + f"-{expires}-{mac}"):
        assert study.frame_user(forged) is None, forged
    clock.tick(FRAME_LIFETIME_MS + 1)
    assert study.frame_user(granted) is None


def test_card_sides_are_rendered_after_a_sync_and_skip_missing_cards() -> None:
    study, collections, _ = _study()
    assert study.card_sides(USER, [2, 9, 1, 2]) == {2: CardSides("q2", "a2", ()),
                                                   1: CardSides("q1", "a1", ())}
    assert collections.col.syncs == 1 and collections.soon == []


def test_card_sides_while_another_device_syncs_are_as_of_the_last_sync() -> None:
    study, collections, _ = _study()
    collections.col.busy = True
    assert study.card_sides(USER, [1]) == {1: CardSides("q1", "a1", ())}
    assert collections.soon == [5.0]
