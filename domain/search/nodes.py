"""The parsed form of an Anki search: boolean nodes over leaf terms.

Text that Anki still interprets while matching (wildcards `*` and `_`, and the escapes
`\\\\`, `\\*`, `\\_` that make them literal) is kept as written; the parser has already
removed the escapes that only mattered to it (`\\"`, `\\:`, `\\(`, `\\)`, `\\-`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class Everything:
    """The empty search."""


class TextMode(Enum):
    NORMAL = "normal"
    NO_COMBINING = "nc"  # accents and other combining marks ignored
    STRIP_CLOZES = "sc"  # cloze markup removed


@dataclass(frozen=True, slots=True)
class ClozeNotes:
    """Notes of cloze note types. `sc:x` is And(ClozeNotes, Text(x, STRIP_CLOZES)), and
    `-sc:x` is And(Not(ClozeNotes), Text(...)): Anki's SQL negates only the first part
    unless the term is in parentheses."""


@dataclass(frozen=True, slots=True)
class Text:
    """Unqualified text: a substring of any field (wildcards allowed)."""

    text: str
    mode: TextMode = TextMode.NORMAL


@dataclass(frozen=True, slots=True)
class WordText:
    """`w:` text found between word boundaries."""

    text: str


@dataclass(frozen=True, slots=True)
class Regex:
    """`re:` a regular expression (Rust syntax) searched in the fields."""

    pattern: str


class FieldMode(Enum):
    NORMAL = "normal"
    REGEX = "re"
    NO_COMBINING = "nc"


@dataclass(frozen=True, slots=True)
class FieldText:
    """`field:text`: a whole field equals the text (or matches `re:` anywhere)."""

    field: str
    text: str
    mode: FieldMode = FieldMode.NORMAL


@dataclass(frozen=True, slots=True)
class Tag:
    tag: str
    mode: FieldMode = FieldMode.NORMAL


@dataclass(frozen=True, slots=True)
class Deck:
    """`deck:name`, subdecks included; `filtered` and `*` are special."""

    name: str


@dataclass(frozen=True, slots=True)
class NotetypeName:
    name: str


@dataclass(frozen=True, slots=True)
class NotetypeId:
    id: int


@dataclass(frozen=True, slots=True)
class TemplateNumber:
    """`card:N`, kept as Anki's zero-based ordinal."""

    ord: int


@dataclass(frozen=True, slots=True)
class TemplateName:
    name: str


class CardState(Enum):
    NEW = "new"
    LEARN = "learn"
    REVIEW = "review"
    DUE = "due"
    SUSPENDED = "suspended"
    BURIED = "buried"
    BURIED_MANUALLY = "buried-manually"
    BURIED_SIBLING = "buried-sibling"


@dataclass(frozen=True, slots=True)
class State:
    state: CardState


@dataclass(frozen=True, slots=True)
class Flag:
    flag: int


@dataclass(frozen=True, slots=True)
class NoteIds:
    ids: frozenset[int]


@dataclass(frozen=True, slots=True)
class CardIds:
    ids: frozenset[int]


class Recency(Enum):
    ADDED = "added"  # card created
    EDITED = "edited"  # note modified
    INTRODUCED = "introduced"  # first answered


@dataclass(frozen=True, slots=True)
class Within:
    """`added:N`, `edited:N`, `introduced:N`: in the last N days, today included."""

    what: Recency
    days: int


ANY_BUTTON = 0  # a rating of any answer button
RESCHEDULED = -1  # "rated" by a manual reschedule (revlog ease 0)


@dataclass(frozen=True, slots=True)
class Rated:
    """A review entry whose day compares with `days` (0 today, -1 yesterday...).

    `rated:N[:B]` is `op` ">" with days = -N; `prop:rated`/`prop:resched` give any op.
    `button` is 1-4, ANY_BUTTON or RESCHEDULED.
    """

    op: str
    days: int
    button: int


class CardProperty(Enum):
    INTERVAL = "ivl"
    DUE = "due"
    REPS = "reps"
    LAPSES = "lapses"
    EASE = "ease"
    POSITION = "pos"


@dataclass(frozen=True, slots=True)
class Property:
    """`prop:KIND OP VALUE`; ease is kept as the factor Anki compares (2.5 -> 2500)."""

    kind: CardProperty
    op: str
    value: int


Node = (
    And | Or | Not | Everything | ClozeNotes | Text | WordText | Regex | FieldText | Tag | Deck
    | NotetypeName | NotetypeId | TemplateNumber | TemplateName | State | Flag | NoteIds
    | CardIds | Within | Rated | Property
)
