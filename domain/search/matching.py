"""Run a search over notes and their cards, as Anki's notes and cards modes do."""

from __future__ import annotations

from collections.abc import Iterable

from domain.model import Card
from domain.search.card_terms import CardTest
from domain.search.compiler import card_test, needs_cards, note_test
from domain.search.inputs import NoteCards, SearchContext
from domain.search.nodes import Node
from domain.search.note_terms import NoteTest
from domain.search.parser import parse
from domain.search.rows import NoteRow


class CompiledSearch:
    """A parsed search bound to one collection's note types, decks, day and review log.

    Compiling resolves names and the review log once; matching a note is then cheap.
    """

    def __init__(self, node: Node, context: SearchContext) -> None:
        self.node = node
        self._context = context
        self._needs_cards = needs_cards(node)
        self._note_test: NoteTest | None = None
        self._card_test: CardTest | None = None

    def note_matches(self, item: NoteCards) -> bool:
        """Anki's notes mode: a note matches when one of its cards does, or, when no
        term reads cards, on its own (so a note without cards can match)."""
        row = NoteRow(item.note)
        if self._needs_cards:
            test = self._cards()
            return any(test(row, card) for card in item.cards)
        if self._note_test is None:
            self._note_test = note_test(self.node, self._context)
        return self._note_test(row)

    def matching_cards(self, item: NoteCards) -> list[Card]:
        """Anki's cards mode, for one note's cards."""
        row, test = NoteRow(item.note), self._cards()
        return [card for card in item.cards if test(row, card)]

    def _cards(self) -> CardTest:
        if self._card_test is None:
            self._card_test = card_test(self.node, self._context)
        return self._card_test


def compile_search(query: str | Node, context: SearchContext) -> CompiledSearch:
    """Parse (if needed) and compile a search.

    Raises:
        SearchError: the search is invalid or uses an unsupported kind.
    """
    return CompiledSearch(parse(query) if isinstance(query, str) else query, context)


def matching_note_ids(
    query: str | Node, notes: Iterable[NoteCards], context: SearchContext
) -> list[int]:
    """Ids of the notes that match, in the order given."""
    search = compile_search(query, context)
    return [item.note.id for item in notes if search.note_matches(item)]


def matching_card_ids(
    query: str | Node, notes: Iterable[NoteCards], context: SearchContext
) -> list[int]:
    """Ids of the cards that match, in the order given."""
    search = compile_search(query, context)
    return [card.id for item in notes for card in search.matching_cards(item)]
