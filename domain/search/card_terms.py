"""Tests for the terms that look at a card: deck, template, state, flag, properties,
and the review log. Collection-wide lookups (deck and template names, the review log)
are resolved once, when the search is compiled, so each card costs a set lookup.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from domain.model import Card
from domain.search import nodes as n
from domain.search.escapes import nfc
from domain.search.inputs import DayTiming, SearchContext
from domain.search.note_terms import name_matcher
from domain.search.regex_classes import WHITE_SPACE
from domain.search.rows import NoteRow
from domain.search.wildcards import Wildcard, glob

CardTest = Callable[[NoteRow, Card], bool]

# Card queues and types, as Anki stores them.
NEW, LEARN, REVIEW, RELEARN = 0, 1, 2, 3
Q_LEARN, Q_REVIEW, Q_DAY_LEARN, Q_PREVIEW = 1, 2, 3, 4
Q_SUSPENDED, Q_SIBLING_BURIED, Q_MANUALLY_BURIED = -1, -2, -3

COMPARE: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt, "<=": operator.le, "=": operator.eq,
    "!=": operator.ne, ">=": operator.ge, ">": operator.gt,
}
_DECK_NAME_TRIM = "".join(WHITE_SPACE) + ":"


def _deck_component(text: str) -> str:
    """One `::` part of a deck search, cleaned as Anki cleans deck names."""
    cleaned = "".join(c for c in nfc(text) if not (c.isascii() and (ord(c) < 32 or c == "\x7f")))
    return cleaned.strip(_DECK_NAME_TRIM) or "blank"


def _deck_or_parent_matches(pattern: Wildcard, name: str) -> bool:
    native = name.replace("::", "\x1f")
    ends = [i for i, c in enumerate(native) if c == "\x1f"] + [len(native)]
    return any(pattern.matches(native, 0, end) for end in ends)


def deck_test(node: n.Deck, context: SearchContext) -> CardTest:
    """Cards in matching decks or their subdecks, or moved from them to a filtered deck."""
    name = nfc(node.name)
    if name == "*":
        return lambda row, card: True
    if name == "filtered":
        return lambda row, card: card.odid != 0
    pattern = glob("\x1f".join(_deck_component(part) for part in name.split("::")))
    dids = frozenset(
        did for did, deck in context.deck_names.items() if _deck_or_parent_matches(pattern, deck)
    )
    return lambda row, card: card.did in dids or (card.odid != 0 and card.odid in dids)


def template_test(node: n.TemplateName, context: SearchContext) -> CardTest:
    matches_name = name_matcher(nfc(node.name))
    pairs = frozenset(
        (t.id, ord_)
        for t in context.notetypes.values()
        for ord_, name in enumerate(t.template_names)
        if matches_name(name)
    )
    return lambda row, card: (row.note.mid, card.ord) in pairs


def state_test(state: n.CardState, timing: DayTiming) -> CardTest:
    if state is n.CardState.DUE:
        learn_cutoff = timing.now + timing.learn_ahead_secs
        return lambda row, card: (
            (card.queue in (Q_REVIEW, Q_DAY_LEARN) and card.due <= timing.today)
            or (card.queue in (Q_LEARN, Q_PREVIEW) and card.due <= learn_cutoff)
        )
    kinds = {
        n.CardState.NEW: ("type", (NEW,)),
        n.CardState.LEARN: ("type", (LEARN, RELEARN)),
        n.CardState.REVIEW: ("type", (REVIEW, RELEARN)),
        n.CardState.SUSPENDED: ("queue", (Q_SUSPENDED,)),
        n.CardState.BURIED: ("queue", (Q_SIBLING_BURIED, Q_MANUALLY_BURIED)),
        n.CardState.BURIED_MANUALLY: ("queue", (Q_MANUALLY_BURIED,)),
        n.CardState.BURIED_SIBLING: ("queue", (Q_SIBLING_BURIED,)),
    }
    column, values = kinds[state]
    if column == "type":
        return lambda row, card: card.type in values
    return lambda row, card: card.queue in values


def _sql_div(a: int, b: int) -> int:
    """SQLite's integer division, which truncates towards zero."""
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def property_test(node: n.Property, timing: DayTiming) -> CardTest:
    compare, value = COMPARE[node.op], node.value
    if node.kind is n.CardProperty.DUE:
        return _due_test(compare, value, timing)
    if node.kind is n.CardProperty.POSITION:
        return lambda row, card: card.type == NEW and compare(card.odue or card.due, value)
    column = {
        n.CardProperty.INTERVAL: "ivl", n.CardProperty.REPS: "reps",
        n.CardProperty.LAPSES: "lapses", n.CardProperty.EASE: "factor",
    }[node.kind]
    return lambda row, card: compare(getattr(card, column), value)


def _due_test(compare: Callable[[int, int], bool], days: int, timing: DayTiming) -> CardTest:
    """Review and day-learning cards by due day; learning cards by due time, in days."""
    day = timing.today + days
    cutoff = timing.next_day_at

    def test(row: NoteRow, card: Card) -> bool:
        due = card.odue or card.due
        if card.queue in (Q_REVIEW, Q_DAY_LEARN):
            return compare(due, day)
        return card.queue in (Q_LEARN, Q_PREVIEW) and compare(_sql_div(due - cutoff, 86_400), days)

    return test


def flag_test(flag: int) -> CardTest:
    return lambda row, card: card.flags & 7 == flag


def added_test(days: int, timing: DayTiming) -> CardTest:
    cutoff_ms = (timing.next_day_at - 86_400 * days) * 1000
    return lambda row, card: card.id > cutoff_ms


def _rated_cids(node: n.Rated, context: SearchContext) -> frozenset[int]:
    next_day = context.timing.next_day_at
    target_ms = (next_day + 86_400 * node.days) * 1000
    day_before_ms = (next_day + 86_400 * (node.days - 1)) * 1000
    in_time: Callable[[int], bool] = {
        ">": lambda t: t >= target_ms,
        ">=": lambda t: t >= day_before_ms,
        "<": lambda t: t < day_before_ms,
        "<=": lambda t: t < target_ms,
        "=": lambda t: day_before_ms <= t < target_ms,
        "!=": lambda t: not day_before_ms <= t < target_ms,
    }[node.op]
    by_button = _button_test(node.button)
    return frozenset(e.cid for e in context.revlog if in_time(e.id) and by_button(e.ease))


def _button_test(button: int) -> Callable[[int], bool]:
    """Which review log eases count: one button, any button, or manual reschedules (0)."""
    if button == n.ANY_BUTTON:
        return lambda ease: ease > 0
    wanted = 0 if button == n.RESCHEDULED else button
    return lambda ease: ease == wanted


def rated_test(node: n.Rated, context: SearchContext) -> CardTest:
    cids = _rated_cids(node, context)
    return lambda row, card: card.id in cids


def introduced_test(days: int, context: SearchContext) -> CardTest:
    """Cards first answered (manual reschedules aside) within the last `days` days."""
    cutoff_ms = (context.timing.next_day_at - 86_400 * days) * 1000
    first_answer: dict[int, int] = {}
    any_since: set[int] = set()
    for entry in context.revlog:
        if entry.ease != 0:
            first_answer[entry.cid] = min(entry.id, first_answer.get(entry.cid, entry.id))
        if entry.id > cutoff_ms:
            any_since.add(entry.cid)
    cids = frozenset(c for c, first in first_answer.items() if first > cutoff_ms and c in any_since)
    return lambda row, card: card.id in cids
