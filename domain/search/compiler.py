"""Turn a parsed search into one test per (note, card), or per note when no term needs
a card, mirroring how Anki's SQL joins the cards table only when a term needs it."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from domain.search import card_terms as cards
from domain.search import nodes as n
from domain.search import note_terms as notes
from domain.search.card_terms import CardTest
from domain.search.inputs import SearchContext
from domain.search.note_terms import NoteTest

_NOTE_LEAVES: dict[type, Callable[[Any, SearchContext], NoteTest]] = {
    n.Everything: lambda node, context: lambda row: True,
    n.ClozeNotes: lambda node, context: notes.cloze_test(context),
    n.Text: notes.text_test,
    n.WordText: notes.word_test,
    n.Regex: notes.regex_test,
    n.FieldText: notes.field_test,
    n.Tag: notes.tag_test,
    n.NotetypeName: notes.notetype_test,
    n.NotetypeId: lambda node, context: lambda row: row.note.mid == node.id,
    n.NoteIds: lambda node, context: lambda row: row.note.id in node.ids,
    n.Within: lambda node, context: notes.edited_test(node.days, context),
}
_CARD_LEAVES: dict[type, Callable[[Any, SearchContext], CardTest]] = {
    n.Deck: cards.deck_test,
    n.TemplateNumber: lambda node, context: lambda row, card: card.ord == node.ord,
    n.TemplateName: cards.template_test,
    n.State: lambda node, context: cards.state_test(node.state, context.timing),
    n.Flag: lambda node, context: cards.flag_test(node.flag),
    n.CardIds: lambda node, context: lambda row, card: card.id in node.ids,
    n.Rated: cards.rated_test,
    n.Property: lambda node, context: cards.property_test(node, context.timing),
    n.Within: lambda node, context: (
        cards.added_test(node.days, context.timing)
        if node.what is n.Recency.ADDED
        else cards.introduced_test(node.days, context)
    ),
}


def needs_cards(node: n.Node) -> bool:
    """Whether any term reads card columns (Anki then joins notes with their cards)."""
    if isinstance(node, n.And | n.Or):
        return any(needs_cards(child) for child in node.children)
    if isinstance(node, n.Not):
        return needs_cards(node.child)
    if isinstance(node, n.Within):
        return node.what is not n.Recency.EDITED
    return type(node) in _CARD_LEAVES


def note_test(node: n.Node, context: SearchContext) -> NoteTest:
    """The test for a search without card terms."""
    if isinstance(node, n.And | n.Or):
        tests = [note_test(child, context) for child in node.children]
        return _all_notes(tests) if isinstance(node, n.And) else _any_note(tests)
    if isinstance(node, n.Not):
        inner = note_test(node.child, context)
        return lambda row: not inner(row)
    return _NOTE_LEAVES[type(node)](node, context)


def card_test(node: n.Node, context: SearchContext) -> CardTest:
    """The test for a (note, card) pair; note-only parts run once per note."""
    keys = itertools.count()

    def build(node: n.Node) -> CardTest:
        if not needs_cards(node):
            test, key = note_test(node, context), next(keys)
            return lambda row, card: row.remembered(key, test)
        if isinstance(node, n.And | n.Or):
            tests = [build(child) for child in node.children]
            return _all_cards(tests) if isinstance(node, n.And) else _any_card(tests)
        if isinstance(node, n.Not):
            inner = build(node.child)
            return lambda row, card: not inner(row, card)
        return _CARD_LEAVES[type(node)](node, context)

    return build(node)


# Two-way joins are by far the most common; they skip the generator all()/any() need.
def _all_notes(tests: list[NoteTest]) -> NoteTest:
    if len(tests) == 2:
        first, second = tests
        return lambda row: first(row) and second(row)
    return lambda row: all(test(row) for test in tests)


def _any_note(tests: list[NoteTest]) -> NoteTest:
    if len(tests) == 2:
        first, second = tests
        return lambda row: first(row) or second(row)
    return lambda row: any(test(row) for test in tests)


def _all_cards(tests: list[CardTest]) -> CardTest:
    if len(tests) == 2:
        first, second = tests
        return lambda row, card: first(row, card) and second(row, card)
    return lambda row, card: all(test(row, card) for test in tests)


def _any_card(tests: list[CardTest]) -> CardTest:
    if len(tests) == 2:
        first, second = tests
        return lambda row, card: first(row, card) or second(row, card)
    return lambda row, card: any(test(row, card) for test in tests)
