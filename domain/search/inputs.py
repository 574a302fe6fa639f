"""What a search reads: notes with their cards, and the collection facts around them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from domain.model import Card, Note, RevlogEntry


@dataclass(frozen=True, slots=True)
class NotetypeInfo:
    """A note type as searches see it.

    `sort_field` and `excluded_fields` (ords of fields marked "exclude from unqualified
    searches", Anki 23.10+) only change unqualified text searches, as in Anki.
    """

    id: int
    name: str
    field_names: tuple[str, ...]
    template_names: tuple[str, ...]
    is_cloze: bool = False
    sort_field: int = 0
    excluded_fields: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class DayTiming:
    """Where the collection's day stands, as Anki's scheduler computes it.

    `today` is Anki's day number (days since the collection was created, counted in
    the user's days); `next_day_at` is when the next day starts (epoch seconds). The
    creation time alone does not give them: the day rolls over at a configured hour in
    the user's time zone, so whoever knows those (the client's config) passes both.
    `now` (epoch seconds) and `learn_ahead_secs` decide which learning cards are due.
    """

    today: int
    next_day_at: int
    now: int
    learn_ahead_secs: int = 1200


@dataclass(frozen=True, slots=True)
class SearchContext:
    """The collection around the notes: note types and deck names (`A::B`) by id, the
    day, and the review log (only `rated:`, `introduced:` and `prop:rated` read it)."""

    notetypes: Mapping[int, NotetypeInfo]
    deck_names: Mapping[int, str]
    timing: DayTiming
    revlog: Sequence[RevlogEntry] = field(default=())


@dataclass(frozen=True, slots=True)
class NoteCards:
    """A note with all of its cards."""

    note: Note
    cards: tuple[Card, ...]
