"""Today's new, learning and review counts per deck, as Anki's deck list shows them.

The rules follow Anki's Rust core for the v3 scheduler (the only one current clients run):
`decks/tree.rs` builds the tree and caps counts, `decks/limits.rs` works out each deck's
remaining daily limits, `scheduler/timing.rs` says which day it is, and
`storage/deck/due_counts.sql` says which cards are due. Anki's deck list uses these same
rules whatever `sched2021` says; only the day number still differs for v1 collections.

Where the server cannot see what a device sees:
- the device's current UTC offset: like Anki's own server, the offset the device last
  recorded (`localOffset`) is used, and UTC if none was recorded;
- cards buried on an earlier day: a device unburies them at its first look on a new day
  without syncing that change, so a buried card counts as unburied once the collection's
  `lastUnburied` day is past, or when the card was last modified before today began.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol

_DAY_SECS = 86_400
_HOUR_SECS = 3_600

# The collection config keys the counts depend on; an adapter need load only these.
SCHEDULING_CONFIG_KEYS = frozenset({
    "schedVer", "rollover", "creationOffset", "localOffset", "collapseTime", "lastUnburied",
    "applyAllParentLimits", "newCardsIgnoreReviewLimit",
})

# Card queues (Anki's `CardQueue`) and types (`CardType`).
_NEW, _LEARN, _REVIEW, _DAY_LEARN, _PREVIEW = 0, 1, 2, 3, 4
_SCHED_BURIED, _USER_BURIED = -2, -3
_TYPE_NEW, _TYPE_LEARN, _TYPE_REVIEW, _TYPE_RELEARN = 0, 1, 2, 3

_DEFAULT_DECK = 1
_MAX_LEVEL = 99  # Anki caps nesting here: deeper names join the tree at level 99
_UNLIMITED = 9999  # what Anki allows decks without a preset (filtered decks, the root)
_LEARN_AHEAD_SECS = 1200
_DEFAULT_ROLLOVER = 4
_EPOCH_DUE = 1_000_000_000  # a learning card's due above this is a timestamp, not a day
_EDGE_SPACE_OR_COLON = re.compile(r"^[\s:]+|[\s:]+$")


class DueCard(Protocol):
    """The card columns the counts need; `Card` rows have them."""

    @property
    def did(self) -> int: ...
    @property
    def queue(self) -> int: ...
    @property
    def type(self) -> int: ...
    @property
    def due(self) -> int: ...
    @property
    def mod(self) -> int: ...


@dataclass(frozen=True, slots=True)
class SchedulingDay:
    """Anki's "today": days since the collection's first day, and when today started and
    ends (seconds since the epoch)."""

    today: int
    starts_at: int
    ends_at: int


@dataclass(frozen=True, slots=True)
class DeckNode:
    """One deck with the counts its deck list row shows: its own cards and its subdecks',
    within its limits. The root (id 0, no name) stands for the whole collection."""

    deck_id: int
    name: tuple[str, ...]
    collapsed: bool
    browser_collapsed: bool
    filtered: bool
    new: int
    learn: int
    review: int
    children: tuple[DeckNode, ...]


class _Limits(NamedTuple):
    review: int
    new: int
    cap_new_to_review: bool


class _Counts(NamedTuple):
    new: int
    review: int
    interday: int
    intraday: int

    def plus(self, other: _Counts) -> _Counts:
        return _Counts(self.new + other.new, self.review + other.review,
                       self.interday + other.interday, self.intraday + other.intraday)

    def capped(self, limits: _Limits) -> _Counts:
        # Interday learning uses up the review limit first, then reviews; new cards may
        # only use what reviews left over unless they ignore the review limit.
        interday = min(self.interday, limits.review)
        reviews_left = limits.review - interday
        review = min(self.review, reviews_left)
        new = min(self.new, limits.new)
        if limits.cap_new_to_review:
            new = min(new, reviews_left - review)
        return _Counts(new, review, interday, self.intraday)


_NO_CARDS = _Counts(0, 0, 0, 0)
_NO_LIMITS = _Limits(_UNLIMITED, _UNLIMITED, False)


@dataclass(slots=True)
class _Node:
    """A tree node while the tree is built, before it has counts."""

    deck: Mapping[str, object] | None
    deck_id: int
    name: tuple[str, ...]
    level: int
    children: list[_Node]


@dataclass(frozen=True, slots=True)
class _Settings:
    """The collection config values the counts read, with Anki's defaults applied."""

    v1_timing: bool
    rollover_hour: int
    creation_offset: int | None  # minutes west of UTC
    current_offset: int
    learn_ahead_secs: int
    last_unburied: int
    apply_all_parent_limits: bool
    new_ignores_review_limit: bool


def deck_tree(
    decks: Iterable[Mapping[str, object]],
    deck_configs: Iterable[Mapping[str, object]],
    config: Mapping[str, object],
    crt: int,
    cards: Iterable[DueCard],
    now_ms: int,
) -> DeckNode:
    """Build the deck tree with today's counts, as Anki's deck list shows them at `now_ms`.

    `decks` and `deck_configs` are Anki's schema-11 JSON objects, decoded; `config` maps
    collection config keys (at least `SCHEDULING_CONFIG_KEYS`) to their decoded values;
    `crt` is the collection's creation time in seconds.
    """
    settings = _settings(config)
    now = now_ms // 1000
    day = _day(crt, now, settings)
    all_decks = list(decks)
    presets = {_int(c.get("id")): c for c in deck_configs}
    limits = {_int(d.get("id")): _deck_limits(d, presets, day.today, settings) for d in all_decks}
    counts = _card_counts(cards, day, now + settings.learn_ahead_secs, settings)
    root = _tree(all_decks, hide_default=_DEFAULT_DECK not in counts)
    top_limits = _NO_LIMITS if settings.apply_all_parent_limits else None
    return _with_counts(root, counts, limits, top_limits)[0]


def scheduling_day(crt: int, config: Mapping[str, object], now_ms: int) -> SchedulingDay:
    """Anki's day number at `now_ms` for a collection created at `crt` (seconds)."""
    return _day(crt, now_ms // 1000, _settings(config))


# -- which day it is (scheduler/timing.rs) --


def _day(crt: int, now: int, settings: _Settings) -> SchedulingDay:
    if settings.v1_timing:
        # NOTE: v1 collections count whole days from `crt`; Rust's division truncates.
        today = max(int((now - crt) / _DAY_SECS), 0)
        return SchedulingDay(today, crt + today * _DAY_SECS, crt + (today + 1) * _DAY_SECS)
    if settings.creation_offset is None:
        return _day_v2_legacy(crt, now, settings)
    local_now = now - settings.current_offset * 60
    rollover_at = now - local_now % _DAY_SECS + settings.rollover_hour * _HOUR_SECS
    passed = rollover_at <= now
    # Calendar days between the creation date (in the creation offset) and today's date
    # (in the current offset), minus one before today's rollover hour.
    days = local_now // _DAY_SECS - (crt - settings.creation_offset * 60) // _DAY_SECS
    ends_at = rollover_at + _DAY_SECS if passed else rollover_at
    return SchedulingDay(max(days if passed else days - 1, 0), ends_at - _DAY_SECS, ends_at)


def _day_v2_legacy(crt: int, now: int, settings: _Settings) -> SchedulingDay:
    """Collections that never recorded their creation offset count from `crt`'s rollover."""
    offset = settings.current_offset * 60
    rollover = settings.rollover_hour * _HOUR_SECS
    crt_rollover = crt - (crt - offset) % _DAY_SECS + rollover
    today = max(int((now - crt_rollover) / _DAY_SECS), 0)
    ends_at = now - (now - offset) % _DAY_SECS + rollover
    if ends_at < now:
        ends_at += _DAY_SECS
    return SchedulingDay(today, ends_at - _DAY_SECS, ends_at)


def _settings(config: Mapping[str, object]) -> _Settings:
    # Each value is read as Anki reads it: a missing or ill-typed value takes the default.
    rollover = _u32(config.get("rollover"))
    if rollover is None or rollover > 255:  # not a u8
        rollover = _DEFAULT_ROLLOVER
    return _Settings(
        v1_timing=_u32(config.get("schedVer")) != 2,
        rollover_hour=min(rollover, 23),
        creation_offset=_offset(config.get("creationOffset")),
        current_offset=_offset(config.get("localOffset")) or 0,
        learn_ahead_secs=_or(_u32(config.get("collapseTime")), _LEARN_AHEAD_SECS),
        last_unburied=_or(_u32(config.get("lastUnburied")), 0),
        apply_all_parent_limits=config.get("applyAllParentLimits") is True,
        new_ignores_review_limit=config.get("newCardsIgnoreReviewLimit") is True,
    )


def _offset(value: object) -> int | None:
    """Minutes west of UTC, if a valid UTC offset (under a day)."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return value if abs(value) * 60 < _DAY_SECS else None


# -- which cards are due (storage/deck/due_counts.sql) --


def _card_counts(
    cards: Iterable[DueCard], day: SchedulingDay, learn_cutoff: int, settings: _Settings
) -> dict[int, _Counts]:
    """Due cards per deck id, before limits; every deck holding a card has an entry."""
    today = day.today
    unbury_all = settings.last_unburied < today or today + 7 < settings.last_unburied
    tallies: dict[int, list[int]] = {}
    for card in cards:
        tally = tallies.get(card.did)
        if tally is None:
            tally = tallies[card.did] = [0, 0, 0, 0]
        queue, due = card.queue, card.due
        if queue in (_SCHED_BURIED, _USER_BURIED) and (unbury_all or card.mod < day.starts_at):
            queue = _queue_after_unbury(card.type, due)
        if queue == _NEW:
            tally[0] += 1
        elif queue == _REVIEW:
            tally[1] += due <= today
        elif queue == _DAY_LEARN:
            tally[2] += due <= today
        elif queue == _LEARN:
            tally[3] += due < learn_cutoff
        elif queue == _PREVIEW:
            tally[3] += due <= learn_cutoff
    return {did: _Counts(*tally) for did, tally in tallies.items()}


def _queue_after_unbury(card_type: int, due: int) -> int:
    """The queue Anki puts a card back in, from its type (unknown types stay buried)."""
    if card_type in (_TYPE_LEARN, _TYPE_RELEARN):
        return _LEARN if due > _EPOCH_DUE else _DAY_LEARN
    return {_TYPE_NEW: _NEW, _TYPE_REVIEW: _REVIEW}.get(card_type, _SCHED_BURIED)


# -- each deck's remaining limits (decks/limits.rs) --


def _deck_limits(
    deck: Mapping[str, object],
    presets: Mapping[int, Mapping[str, object]],
    today: int,
    settings: _Settings,
) -> _Limits:
    preset = presets.get(_int(deck.get("conf")))
    if _is_filtered(deck) or preset is None:
        return _NO_LIMITS
    review = _deck_limit(deck, "reviewLimit", today)
    new = _deck_limit(deck, "newLimit", today)
    review = _i32(_per_day(preset, "rev") if review is None else review)
    new = _i32(_per_day(preset, "new") if new is None else new)
    new_done, review_done = _studied_today(deck, today)
    review -= review_done
    new -= new_done
    if not settings.new_ignores_review_limit:
        review -= new_done
        new = min(new, review)
    return _Limits(max(review, 0), max(new, 0), not settings.new_ignores_review_limit)


def _deck_limit(deck: Mapping[str, object], key: str, today: int) -> int | None:
    """The deck's own limit ("this deck" or "today only" in the options), if set."""
    today_only = deck.get(key + "Today")
    if isinstance(today_only, Mapping):
        limit, day = _u32(today_only.get("limit")), _u32(today_only.get("today"))
        if limit is not None and day == today:
            return limit
    return _u32(deck.get(key))


def _per_day(preset: Mapping[str, object], section: str) -> int:
    values = preset.get(section)
    return _or(_u32(values.get("perDay")), 0) if isinstance(values, Mapping) else 0


def _studied_today(deck: Mapping[str, object], today: int) -> tuple[int, int]:
    """New and review cards studied today; negative when custom study raised the limits."""
    new_day, new = _day_amount(deck.get("newToday"))
    review_day, review = _day_amount(deck.get("revToday"))
    time_day, _ = _day_amount(deck.get("timeToday"))
    # Anki keeps one "last studied" day: the latest of these, and zero for older counters.
    last_day = max(time_day, new_day, review_day)
    if last_day != today:
        return 0, 0
    return (new if new_day == last_day else 0), (review if review_day == last_day else 0)


def _day_amount(value: object) -> tuple[int, int]:
    """A `[day, amount]` pair, read as Anki does (from the end; non-integers are 0)."""
    if not isinstance(value, list):
        return 0, 0
    amount = _i32(_whole(value[-1])) if value else 0
    day = _i32(_whole(value[-2])) if len(value) > 1 else 0
    return day, amount


# -- the tree (decks/tree.rs) --


def _tree(decks: list[Mapping[str, object]], hide_default: bool) -> _Node:
    named = sorted(((_name(d), d) for d in decks),
                   key=lambda entry: (_sort_key(entry[0]), _int(entry[1].get("id"))))
    root = _Node(None, 0, (), 0, [])
    _attach(root, named, 0)
    if hide_default:
        _hide_empty_default_deck(root)
    return root


def _attach(parent: _Node, named: list[tuple[tuple[str, ...], Mapping[str, object]]],
            pos: int) -> int:
    """Hang decks (sorted by name) under `parent` from `pos`; return where it stopped.

    Like Anki, a deck whose parent is missing joins the previous deck at its parent's level,
    or is left out if there is none.
    """
    while pos < len(named):
        name, deck = named[pos]
        level = min(len(name), _MAX_LEVEL)
        if level <= parent.level:
            return pos
        if level == parent.level + 1:
            parent.children.append(_Node(deck, _int(deck.get("id")), name, level, []))
            pos += 1
        elif parent.children:
            pos = _attach(parent.children[-1], named, pos)
        else:
            pos += 1
    return pos


def _hide_empty_default_deck(root: _Node) -> None:
    for index, child in enumerate(root.children):
        if child.deck_id == _DEFAULT_DECK and not child.children:
            if len(root.children) > 1:  # an empty collection still shows "Default"
                del root.children[index]
            return


def _with_counts(
    node: _Node,
    counts: Mapping[int, _Counts],
    limits: Mapping[int, _Limits],
    parent_limits: _Limits | None,
) -> tuple[DeckNode, _Counts]:
    """The node with counts, and its capped counts for its parent to add up.

    A deck shows its own cards plus its subdecks' capped counts, within its own limits;
    with "apply all parent limits" on, its ancestors' limits cap it too.
    """
    remaining = limits.get(node.deck_id, _NO_LIMITS)
    if parent_limits is not None:
        remaining = remaining._replace(review=min(remaining.review, parent_limits.review),
                                       new=min(remaining.new, parent_limits.new))
        parent_limits = remaining
    total = counts.get(node.deck_id, _NO_CARDS)
    children = []
    for child in node.children:
        child_node, child_counts = _with_counts(child, counts, limits, parent_limits)
        children.append(child_node)
        total = total.plus(child_counts)
    capped = total.capped(remaining)
    deck = node.deck or {}
    return DeckNode(
        deck_id=node.deck_id, name=node.name,
        collapsed=deck.get("collapsed") is True,
        browser_collapsed=deck.get("browserCollapsed") is True,
        filtered=node.deck is not None and _is_filtered(deck),
        new=capped.new, learn=capped.interday + capped.intraday, review=capped.review,
        children=tuple(children),
    ), capped


def _name(deck: Mapping[str, object]) -> tuple[str, ...]:
    """The name's components, normalised as Anki stores them."""
    return tuple(_component(c) for c in str(deck.get("name", "")).split("::"))


def _component(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = "".join(c for c in text if c >= " " and c != "\x7f")  # no ASCII controls
    return _EDGE_SPACE_OR_COLON.sub("", text) or "blank"


def _sort_key(name: tuple[str, ...]) -> str:
    # Anki sorts by the stored name: components joined by \x1f (so a parent comes right
    # before its children) under a case-insensitive collation (Unicode case folding).
    return "\x1f".join(name).casefold()


def _is_filtered(deck: Mapping[str, object]) -> bool:
    dyn = deck.get("dyn")
    return dyn is True or (type(dyn) is int and dyn == 1)


# -- JSON values, read as Anki's serde does --


def _u32(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32:
        return value
    return None


def _whole(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _int(value: object) -> int:
    """An id, which Anki accepts as a number or a string of digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return 0


def _i32(value: int) -> int:
    """Wrap like Rust's `as i32`."""
    return (value + 2**31) % 2**32 - 2**31


def _or(value: int | None, default: int) -> int:
    return default if value is None else value
